"""The source app flags consent-bearing documents (an ASSIST request, a change of
consent) on arrival, without content; an ALERT report is not one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from composition.runtime import Runtime
from tests.integration.source_app.helpers import SourceBrowser
from vault.models import ConsentDocument, Submission


def _post(browser: SourceBrowser, path: str, data: dict[str, Any]) -> Any:
    return browser.client.post(path, data={"csrf_token": browser.token(path), **data})


def test_assist_and_consent_changes_are_flagged(logged_in: SourceBrowser, runtime: Runtime) -> None:
    assert _post(logged_in, "/report", {"reporter": "witness"}).status_code == 302
    assert _post(logged_in, "/help/form", {"consent_court": "yes"}).status_code == 302
    assert _post(logged_in, "/help/consent", {"consent_court": "no"}).status_code == 302
    with runtime.session() as db:
        messages = db.scalars(select(Submission).order_by(Submission.id)).all()
        flagged = db.scalars(select(ConsentDocument)).all()
        assert len(messages) == 3
        assert sorted(f.submission_id for f in flagged) == [m.id for m in messages[1:]]
        for flag, message in zip(flagged, messages[1:], strict=True):
            assert flag.source_id == message.source_id
            assert flag.received_at == message.created_at
