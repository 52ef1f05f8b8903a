"""An acknowledged submission is committed: when the request's commit fails, the source
gets the error page and nothing is left behind (no row, no sealed file, no reply key);
sending again then works. Real gpg, store, Redis and database."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask, has_request_context, request
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from tests.integration.source_app.helpers import SourceBrowser, stored_files, submission_count
from vault.models import Source


@pytest.fixture
def failing_commit(runtime: Runtime) -> Iterator[list[int]]:
    """The commit of the next /submit request fails, as a full disk or a lost database
    connection would make it fail; yields how many commits were refused."""
    refused: list[int] = []
    refuse = _refuse_next_submit(refused)
    event.listen(runtime.session_factory, "before_commit", refuse)
    yield refused
    event.remove(runtime.session_factory, "before_commit", refuse)


def _refuse_next_submit(refused: list[int]) -> Callable[[Session], None]:
    def refuse(_session: Session) -> None:
        if not refused and has_request_context() and request.path == "/submit":
            refused.append(1)
            raise OperationalError("COMMIT", {}, Exception("database is gone"))

    return refuse


def _sources(runtime: Runtime) -> int:
    with runtime.session() as db:
        return int(db.scalar(select(func.count()).select_from(Source)) or 0)


def test_first_send_commit_fails(
    app: Flask, logged_in: SourceBrowser, runtime: Runtime, failing_commit: list[int]
) -> None:
    """A first submission: the source's row, its reply key, the sealed files all go."""
    app.testing = False  # the failure answers the error page, as in production
    keys_before = len(runtime.keyring.public_fingerprints())
    response = logged_in.submit("what happened", [(b"%PDF-1.4 statement", "statement.pdf")])
    assert failing_commit == [1]
    assert response.status_code == 500
    assert stored_files(runtime) == []  # message, document and consent state shredded
    assert submission_count(runtime) == 0
    assert _sources(runtime) == 0
    assert len(runtime.keyring.public_fingerprints()) == keys_before  # the reply key is gone

    again = logged_in.submit("what happened")
    assert again.status_code == 302
    assert submission_count(runtime) == 1
    assert _sources(runtime) == 1
    assert len(runtime.keyring.public_fingerprints()) == keys_before + 1


def test_later_send_commit_fails(app: Flask, recorded: SourceBrowser, runtime: Runtime) -> None:
    """A recorded source's next submission: only its own files go."""
    app.testing = False
    kept = stored_files(runtime)
    refused: list[int] = []
    refuse = _refuse_next_submit(refused)
    event.listen(runtime.session_factory, "before_commit", refuse)
    try:
        assert recorded.submit("a second message").status_code == 500
    finally:
        event.remove(runtime.session_factory, "before_commit", refuse)
    assert refused == [1]
    assert stored_files(runtime) == kept
    assert submission_count(runtime) == 1
