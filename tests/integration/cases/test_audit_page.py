"""The audit log as admins read it (Flask test client, real database, CSRF on): case
references and designations instead of uuids, actions in words with their name kept,
details in words, filters by category, actor, object and dates that combine, deleted
objects marked, one query to name a whole page, the CSV export with details."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from composition.runtime import Runtime
from tests.support.journalist import Account, login, make_source, post_form
from vault.models import AuditEvent, Case, Reviewer
from vault.services import audit, audit_categories, audit_log

_ROW = re.compile(r'<tr class="event">(.*?)</tr>', re.S)


def _rows(html: str) -> list[str]:
    return _ROW.findall(html)


def _action(row: str) -> str:
    found = re.search(r"<code>(\w+)</code></a>", row)
    assert found, row
    return found.group(1)


def _open_case(app: Flask, runtime: Runtime, analyst: Account) -> tuple[Case, str]:
    """The analyst opens a case from a source and sets its priority, as on a workday."""
    client = app.test_client()
    assert login(client, analyst).status_code == 302
    source = make_source(runtime)
    page = f"/sources/{source.uuid}"
    client.get(page)
    post_form(client, "/cases/new", {"source": source.uuid}, page=page)
    with runtime.session() as db:
        case = db.scalars(select(Case)).one()
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == analyst.uuid)).one()
        # What the case services record for a change: field, old and new value.
        audit.record(
            db, actor, "case_priority_changed", "case", case.uuid,
            {"field": "priority", "from": "normal", "to": "high"},
        )  # fmt: skip
        audit.record(db, actor, "case_assigned", "case", case.uuid, {"assignee": analyst.uuid})
        audit.record(db, actor, "case_label_added", "case", case.uuid, {"label": "kivu"})
        db.commit()
    return case, source.designation


def test_page_names_objects_and_says_what_changed(
    app: Flask, runtime: Runtime, analyst: Account, admin_client: FlaskClient
) -> None:
    case, designation = _open_case(app, runtime, analyst)
    html = admin_client.get("/admin/audit/").get_data(as_text=True)
    assert "`" not in html  # the hint used to show literal backticks
    assert "<code>backupctl audit verify</code>" in html
    assert case.reference in html and designation in html
    assert case.uuid not in html  # the reference stands for it
    opened = next(r for r in _rows(html) if "<code>case_created</code>" in r)
    assert "Case opened" in opened and case.reference in opened and "analyst1" in opened
    changed = next(r for r in _rows(html) if "<code>case_priority_changed</code>" in r)
    assert "Priority: Normal → High" in changed
    assigned = next(r for r in _rows(html) if "<code>case_assigned</code>" in r)
    assert "Assignee: analyst1" in assigned  # the uuid in the detail, named
    assert "Label: kivu" in next(r for r in _rows(html) if "case_label_added" in r)


def test_filters_combine(
    app: Flask, runtime: Runtime, analyst: Account, admin_client: FlaskClient
) -> None:
    case, designation = _open_case(app, runtime, analyst)
    admin_client.get("/admin/audit/")  # the admin's own events: a view, a login

    cases = _rows(admin_client.get("/admin/audit/?category=cases").get_data(as_text=True))
    assert cases and all("<code>case_" in row for row in cases)
    assert any("case_priority_changed" in row for row in cases)

    accounts = _rows(admin_client.get("/admin/audit/?category=accounts").get_data(as_text=True))
    assert {"login", "account_key_created"} <= {_action(row) for row in accounts}
    assert {audit_categories.category_of(_action(row)) for row in accounts} == {"accounts"}

    with runtime.session() as db:
        admin_uuid = db.scalars(select(Reviewer.uuid).where(Reviewer.username == "admin1")).one()
    mine = _rows(admin_client.get(f"/admin/audit/?actor={admin_uuid}").get_data(as_text=True))
    assert mine and all("admin1" in row for row in mine)
    theirs = admin_client.get(f"/admin/audit/?actor={analyst.uuid}&category=cases")
    rows = _rows(theirs.get_data(as_text=True))
    # The case opened with its creator assigned (two events), then three changes.
    assert len(rows) == 5 and all("analyst1" in row and "<code>case_" in row for row in rows)

    by_case = _rows(admin_client.get(f"/admin/audit/?object={case.reference}").get_data(True))
    assert len(by_case) == 5 and all(case.reference in row for row in by_case)
    # A source's designation finds the source and what hangs from it (the case does not).
    by_source = admin_client.get(f"/admin/audit/?object={designation.upper()}").get_data(True)
    assert _rows(by_source) and all(designation in row for row in _rows(by_source))
    assert "source_viewed" in by_source
    unknown = admin_client.get("/admin/audit/?object=no+such+thing").get_data(as_text=True)
    assert _rows(unknown) == [] and "No case, source or account" in unknown

    today = dt.datetime.now(dt.UTC).date()
    tomorrow, yesterday = today + dt.timedelta(days=1), today - dt.timedelta(days=1)
    assert _rows(admin_client.get(f"/admin/audit/?since={tomorrow}").get_data(True)) == []
    assert _rows(admin_client.get(f"/admin/audit/?until={yesterday}").get_data(True)) == []
    span = f"/admin/audit/?since={today}&until={today}&category=cases&object={case.reference}"
    assert len(_rows(admin_client.get(span).get_data(as_text=True))) == 5
    assert len(_rows(admin_client.get("/admin/audit/?until=9999-12-31").get_data(True))) > 5
    bad = admin_client.get("/admin/audit/?since=31/12/2026").get_data(as_text=True)
    assert "Write dates as YYYY-MM-DD." in bad and _rows(bad)

    # Page links keep the filters.
    with runtime.session() as db:
        for _ in range(audit_log.PAGE_SIZE):
            audit.record(db, None, "case_viewed", "case", case.uuid)
        db.commit()
    paged = admin_client.get(f"/admin/audit/?category=cases&object={case.reference}")
    assert f'?page=2&amp;category=cases&amp;object={case.reference}"' in paged.get_data(True)


def test_deleted_objects_and_unknown_actions(admin_client: FlaskClient, runtime: Runtime) -> None:
    gone = str(uuid.uuid4())
    with runtime.session() as db:
        audit.record(db, None, "case_viewed", "case", gone)
        audit.record(db, None, "telescope_polished", "telescope", str(uuid.uuid4()))
        db.commit()
    html = admin_client.get("/admin/audit/").get_data(as_text=True)
    row = next(r for r in _rows(html) if "case_viewed" in r)
    assert f"(deleted) {gone[:8]}" in row and "(system)" in row
    other = next(r for r in _rows(html) if "telescope_polished" in r)
    assert "Other" in other and "<code>telescope_polished</code>" in other
    # The short id shown finds the events of the deleted object.
    found = _rows(admin_client.get(f"/admin/audit/?object={gone[:8]}").get_data(as_text=True))
    assert len(found) == 1 and "case_viewed" in found[0]
    assert [r for r in _rows(admin_client.get("/admin/audit/?category=other").get_data(True))]
    assert all(
        "telescope" in r
        for r in _rows(admin_client.get("/admin/audit/?category=other").data.decode())
    )


def test_one_query_names_a_page(app: Flask, runtime: Runtime, analyst: Account) -> None:
    """Naming the objects costs the same for 2 cases as for 12: no query per row."""

    def statements_to_browse(cases: int) -> int:
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.username == "admin1")).first()
            if actor is None:
                from tests.support.journalist import make_account
                from vault.models import Role

                make_account(runtime, "admin1", Role.ADMIN)
                actor = db.scalars(select(Reviewer).where(Reviewer.username == "admin1")).one()
            for n in range(cases):
                made = Case(reference=f"BU-2026-9{n:03d}{cases:02d}"[:16])
                db.add(made)
                db.flush()
                audit.record(db, actor, "case_viewed", "case", made.uuid)
            db.commit()
            seen: list[str] = []
            engine = db.get_bind()
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listener)
            try:
                found = audit_log.browse(db, actor, 1)
            finally:
                event.remove(engine, "before_cursor_execute", listener)
            assert sum(ref.kind == "case" for ref in found.objects.values()) >= cases
            return sum(s.lstrip().upper().startswith("SELECT") for s in seen)

    assert statements_to_browse(2) == statements_to_browse(12)


def test_export_has_details_and_is_audited(
    app: Flask, runtime: Runtime, analyst: Account, admin_client: FlaskClient
) -> None:
    _open_case(app, runtime, analyst)
    exported = admin_client.get("/admin/audit/export.csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    changed = next(r for r in rows if r["action"] == "case_priority_changed")
    assert changed["detail"] == '{"field":"priority","from":"normal","to":"high"}'
    admin_client.get("/admin/audit/?category=cases")
    with runtime.session() as db:
        actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
        viewed = db.scalars(select(AuditEvent).where(AuditEvent.action == "audit_viewed")).all()
    assert "audit_exported" in actions
    assert viewed[-1].detail == '{"category":"cases"}'


def test_category_filter_in_sql_agrees_with_category_of(runtime: Runtime) -> None:
    """The WHERE clause of each category selects exactly the names `category_of` files
    there (LIKE's "_" wildcard escaped: "casework" is not a case action)."""
    names = [
        "case_created", "casework", "cases_listed", "consent_refused_refer_partner",
        "source_viewed", "sourcesXlisted", "item_exported", "reply_sent", "referral_viewed",
        "login", "loginXfailed", "login_failed", "care_duty_started", "audit_viewed",
        "access_denied", "telescope_polished",
    ]  # fmt: skip
    with runtime.session() as db:
        for name in names:
            audit.record(db, None, name)
        db.commit()
        for category in audit_categories.CATEGORIES:
            found = set(
                db.scalars(select(AuditEvent.action).where(audit_categories.condition(category)))
            )
            assert found == {n for n in names if audit_categories.category_of(n) == category}
