"""Legal hold: an admin holds a case in the reviewer interface (or the operator with
`backupctl hold`); the retention policy then deletes nothing of it, nor of its sources,
whatever the case's status, until the hold is lifted. Hold and release are audited; the
reason is sealed (never in clear in the database, Redis, files or logs)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backupctl.cli import main
from composition import jobs
from composition.runtime import Runtime
from tests.support.journalist import (
    FAST_HASHER,
    Account,
    age_source,
    login,
    make_account,
    make_source,
    post_form,
    source_row,
)
from tests.support.leaks import assert_no_leak
from vault.models import AuditEvent, Case, CaseStatus, LegalHold, Reviewer, Role
from vault.services import cases, deletion, retention, reviewers

REASON = "HOLD-MARKER-31c9 Prosecutor Ndayishimiye, file RP 118/2026"


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


def _closed_case(runtime: Runtime, sources: Sequence[str] = (), items: Sequence[str] = ()) -> str:
    """A case, closed (so retention would otherwise take its inactive sources)."""
    with runtime.session() as db:
        analyst = db.scalar(select(Reviewer).where(Reviewer.role == Role.ANALYST))
        if analyst is None:
            analyst, _ = reviewers.create_reviewer(db, "analyst5", Role.ANALYST, hasher=FAST_HASHER)
        case = cases.create_case(db, analyst, sources, items)
        db.execute(update(Case).where(Case.id == case.id).values(status=CaseStatus.CLOSED))
        db.commit()
        return case.uuid


def _actions(runtime: Runtime) -> list[tuple[str, str | None, str | None]]:
    with runtime.session() as db:
        rows = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.like("case_legal_hold_%"))
            .order_by(AuditEvent.id)
        ).all()
        return [(e.action, e.actor_uuid, e.object_uuid) for e in rows]


def _run_policy(runtime: Runtime) -> None:
    with runtime.session() as db:
        retention.apply_policy(db, runtime.redis, 90)
    jobs.worker(runtime, [deletion.queue(runtime.redis)]).work(burst=True)


def test_hold_in_the_reviewer_interface_stops_retention_until_lifted(
    app: Flask, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = make_account(runtime, "admin1", Role.ADMIN)
    analyst = make_account(runtime, "analyst1", Role.ANALYST)
    in_case, by_item, free = make_source(runtime), make_source(runtime), make_source(runtime)
    for s in (in_case, by_item, free):
        age_source(runtime, s.uuid, 120)
    held = _closed_case(runtime, [in_case.uuid])
    # Held through one of its submissions only (not the source itself).
    held_by_item = _closed_case(runtime, [], [by_item.document_uuid])
    page = f"/cases/{held}"
    admin_client = _client(app, admin)

    # An analyst sees no form and is refused (403, recorded) if they post anyway.
    analyst_client = _client(app, analyst)
    assert 'class="legal-hold-form"' not in analyst_client.get(page).get_data(as_text=True)
    refused = post_form(analyst_client, f"{page}/hold", {"reason": REASON}, page=page)
    assert refused.status_code == 403
    with runtime.session() as db:
        assert db.scalars(select(LegalHold)).all() == []
        denied = db.scalars(
            select(AuditEvent.object_type).where(AuditEvent.action == "admin_access_denied")
        ).all()
    assert denied == ["legal_hold"]

    # Without CSRF nothing happens; without a reason neither.
    assert admin_client.post(f"{page}/hold", data={"reason": REASON}).status_code in (302, 400)
    post_form(admin_client, f"{page}/hold", {"reason": "  "}, page=page)
    with runtime.session() as db:
        assert db.scalars(select(LegalHold)).all() == []

    assert 'class="legal-hold-form"' in admin_client.get(page).get_data(as_text=True)
    for case_uuid in (held, held_by_item):
        done = post_form(
            admin_client, f"/cases/{case_uuid}/hold", {"reason": REASON}, page=f"/cases/{case_uuid}"
        )
        assert done.status_code == 302
    listed = admin_client.get("/cases/?status=closed").get_data(as_text=True)
    assert listed.count('class="legal-hold"') == 2
    shown = admin_client.get(page).get_data(as_text=True)
    assert "Under legal hold" in shown and "admin1" in shown
    assert "Ndayishimiye" in shown  # opened for the page, sealed at rest
    again = post_form(admin_client, f"{page}/hold", {"reason": REASON}, page=page)
    assert "already under legal hold" in admin_client.get(again.location).get_data(as_text=True)

    # The admin's preview lists neither held source; the standing policy deletes neither.
    preview = admin_client.get("/admin/retention/?days=90").get_data(as_text=True)
    assert free.designation in preview
    assert in_case.designation not in preview and by_item.designation not in preview
    _run_policy(runtime)
    assert source_row(runtime, in_case.uuid) is not None
    assert source_row(runtime, by_item.uuid) is not None
    assert source_row(runtime, free.uuid) is None  # the policy itself still runs

    assert_no_leak(
        REASON,
        files=[runtime.config.instance_dir.parent],
        engine=runtime.engine,
        redis=runtime.redis,
        blobs={"captured logs": caplog.text.encode()},
    )

    lifted = post_form(admin_client, f"{page}/hold/lift", page=page)
    assert lifted.status_code == 302
    assert "Under legal hold" not in admin_client.get(page).get_data(as_text=True)
    _run_policy(runtime)
    assert source_row(runtime, in_case.uuid) is None
    assert source_row(runtime, by_item.uuid) is not None  # its case is still held

    assert _actions(runtime) == [
        ("case_legal_hold_set", admin.uuid, held),
        ("case_legal_hold_set", admin.uuid, held_by_item),
        ("case_legal_hold_lifted", admin.uuid, held),
    ]
    audit_page = admin_client.get("/admin/audit/?category=cases").get_data(as_text=True)
    assert "Legal hold set" in audit_page and "Legal hold lifted" in audit_page


def test_operator_holds_lists_and_lifts_from_the_console(
    runtime: Runtime, cli_env: dict[str, str]
) -> None:
    source = make_source(runtime)
    age_source(runtime, source.uuid, 120)
    case_uuid = _closed_case(runtime, [source.uuid])
    with runtime.session() as db:
        reference = db.scalars(select(Case.reference).where(Case.uuid == case_uuid)).one()
    runner = CliRunner()
    placed = runner.invoke(main, ["hold", "set", reference], input=REASON + "\n", env=cli_env)
    assert placed.exit_code == 0, placed.output
    twice = runner.invoke(main, ["hold", "set", reference], input=REASON + "\n", env=cli_env)
    assert twice.exit_code == 1 and "already under legal hold" in twice.output
    listed = runner.invoke(main, ["hold", "list", "--reasons"], env=cli_env)
    assert reference in listed.output and "by operator" in listed.output
    assert REASON in listed.output

    dry = runner.invoke(main, ["retention", "run", "--days", "90", "--dry-run"], env=cli_env)
    assert "0 source(s)" in dry.output
    assert runner.invoke(main, ["retention", "run", "--days", "90"], env=cli_env).exit_code == 0
    jobs.worker(runtime, [deletion.queue(runtime.redis)]).work(burst=True)
    assert source_row(runtime, source.uuid) is not None

    lifted = runner.invoke(main, ["hold", "lift", reference], env=cli_env)
    assert lifted.exit_code == 0, lifted.output
    assert runner.invoke(main, ["hold", "lift", reference], env=cli_env).exit_code == 1
    assert (
        "no case is under legal hold" in runner.invoke(main, ["hold", "list"], env=cli_env).output
    )
    dry = runner.invoke(main, ["retention", "run", "--days", "90", "--dry-run"], env=cli_env)
    assert "1 source(s)" in dry.output
    assert _actions(runtime) == [
        ("case_legal_hold_set", None, case_uuid),
        ("case_legal_hold_lifted", None, case_uuid),
    ]
