"""Retention: preview, then deletion through the RQ job, of sources inactive for N days
and not in an open case; admin only, audited."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select

from composition import jobs
from composition.runtime import Runtime
from tests.support.journalist import FAST_HASHER, age_source, make_source, post_form, source_row
from vault.models import AuditEvent, Reviewer, Role
from vault.services import cases, deletion, reviewers


def test_preview_then_delete(admin_client: FlaskClient, runtime: Runtime) -> None:
    old, in_case, recent = make_source(runtime), make_source(runtime), make_source(runtime)
    age_source(runtime, old.uuid, 400)
    age_source(runtime, in_case.uuid, 400)
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst9", Role.ANALYST, hasher=FAST_HASHER)
        cases.create_case(db, analyst, [in_case.uuid])
    page = "/admin/retention/?days=365"
    html = admin_client.get(page).get_data(as_text=True)
    assert old.designation in html
    assert in_case.designation not in html and recent.designation not in html
    response = post_form(
        admin_client, "/admin/retention/apply", {"days": "365", "source": old.uuid}, page=page
    )
    assert response.status_code == 302
    jobs.worker(runtime, [deletion.queue(runtime.redis)]).work(burst=True)
    assert source_row(runtime, old.uuid) is None
    assert source_row(runtime, in_case.uuid) is not None
    assert source_row(runtime, recent.uuid) is not None
    with runtime.session() as db:
        n = db.scalar(
            select(func.count()).where(AuditEvent.action == "retention_deletion_requested")
        )
    assert n == 1


def test_floor_and_analysts_refused(analyst_client: FlaskClient, runtime: Runtime) -> None:
    assert analyst_client.get("/admin/retention/").status_code == 403
    with runtime.session() as db:
        refused = db.scalar(select(func.count()).where(AuditEvent.action == "admin_access_denied"))
        assert refused == 1
        reviewer = db.scalars(select(Reviewer)).one()
        assert reviewer.role is Role.ANALYST
