"""The request owns its transaction: services add to it, the request commits when it
answers below 400 and rolls back otherwise (web_shared.context.install_transactions)."""

from __future__ import annotations

from flask import Blueprint, Flask, abort
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from composition.runtime import Runtime
from journalist_app.context import current_reviewer, db
from tests.support.journalist import Account, login, make_source, post_form
from vault.models import AuditEvent, Source
from vault.services import audit, inbox


def _starred(runtime: Runtime, source_uuid: str) -> tuple[bool, int]:
    """Whether the source is starred, and how many `source_starred` events there are."""
    with runtime.session() as session:
        source = session.scalars(select(Source).where(Source.uuid == source_uuid)).one()
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "source_starred")
        ).all()
        return source.starred, len(events)


def _star_then(outcome: str) -> ResponseReturnValue:
    """Star the source through the service, then end the request as `outcome` says."""
    source_uuid = outcome.split(":", 1)[1]
    inbox.set_starred(db(), current_reviewer(), source_uuid, True)
    if outcome.startswith("refuse"):
        abort(400)
    if outcome.startswith("crash"):
        raise RuntimeError("the request failed after the service changed the session")
    return "done"


def test_the_request_commits_what_its_services_did(
    app: Flask, runtime: Runtime, analyst: Account
) -> None:
    """Through the real route: the service no longer commits, the request does."""
    client = app.test_client()
    login(client, analyst)
    source = make_source(runtime)
    page = f"/sources/{source.uuid}"
    assert post_form(client, f"{page}/star", {}, page=page).status_code == 302
    assert _starred(runtime, source.uuid) == (True, 1)


def test_a_request_that_fails_changes_nothing(
    app: Flask, runtime: Runtime, analyst: Account
) -> None:
    """A refusal (4xx) or a crash (500) after the service changed the session: rolled
    back, audit event included; the same request that succeeds is committed."""
    probe = Blueprint("transaction_probe", __name__)
    probe.add_url_rule("/probe/<outcome>", view_func=_star_then)
    app.register_blueprint(probe)
    client = app.test_client()
    login(client, analyst)
    source = make_source(runtime)

    assert client.get(f"/probe/refuse:{source.uuid}").status_code == 400
    assert _starred(runtime, source.uuid) == (False, 0)
    app.testing = False  # the crash answers the error page instead of propagating
    assert client.get(f"/probe/crash:{source.uuid}").status_code == 500
    assert _starred(runtime, source.uuid) == (False, 0)
    assert client.get(f"/probe/ok:{source.uuid}").status_code == 200
    assert _starred(runtime, source.uuid) == (True, 1)


def _star_then_refuse(source_uuid: str) -> ResponseReturnValue:
    """Star the source, then refuse the request with a recorded refusal."""
    inbox.set_starred(db(), current_reviewer(), source_uuid, True)
    audit.record_refusal(db(), current_reviewer(), "probe_refused", "source", source_uuid)
    abort(403)


def test_a_refusal_outlives_the_rollback_of_its_request(
    app: Flask, runtime: Runtime, analyst: Account
) -> None:
    """The request's work is rolled back; its refusal is audited all the same, once."""
    probe = Blueprint("refusal_probe", __name__)
    probe.add_url_rule("/probe-refusal/<source_uuid>", view_func=_star_then_refuse)
    app.register_blueprint(probe)
    client = app.test_client()
    login(client, analyst)
    source = make_source(runtime)
    assert client.get(f"/probe-refusal/{source.uuid}").status_code == 403
    assert _starred(runtime, source.uuid) == (False, 0)
    with runtime.session() as session:
        refused = session.scalars(
            select(AuditEvent.object_uuid).where(AuditEvent.action == "probe_refused")
        ).all()
    assert refused == [source.uuid]
