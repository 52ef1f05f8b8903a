"""The audit log is hash-chained: `backupctl audit verify` passes on an honest log and
names the first altered, removed or reordered event; admins browse and export it,
analysts are refused and the refusal is itself audited."""

from __future__ import annotations

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backupctl.cli import main
from composition.runtime import Runtime
from tests.support.journalist import make_source
from vault import audit_chain
from vault.models import AuditEvent


def _verify_cli(runtime: Runtime) -> tuple[int, str]:
    env = {"DATABASE_URL": runtime.config.database_url, "REDIS_URL": runtime.config.redis_url or ""}
    result = CliRunner(env=env).invoke(
        main, ["--instance", str(runtime.config.instance_dir), "audit", "verify"]
    )
    return result.exit_code, result.output


def test_chain_verifies_and_detects_tampering(
    analyst_client: FlaskClient, runtime: Runtime
) -> None:
    source = make_source(runtime)
    analyst_client.get(f"/sources/{source.uuid}")
    analyst_client.get("/")
    code, output = _verify_cli(runtime)
    assert code == 0 and "audit chain OK" in output, output
    with runtime.session() as db:
        report = audit_chain.verify(db)
        assert report.ok and report.events >= 3
        victim = db.scalars(select(AuditEvent).order_by(AuditEvent.seq).offset(1)).first()
        assert victim is not None
        # Rewriting who did it (or what) breaks the chain at that event.
        db.execute(update(AuditEvent).where(AuditEvent.id == victim.id).values(action="nothing"))
        db.commit()
        seq = victim.seq
    code, output = _verify_cli(runtime)
    assert code == 1 and f"BROKEN at event {seq}" in output, output
    with runtime.session() as db:
        db.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(action="login"))
        db.commit()
        # Deleting an event leaves a gap that is reported too.
        db.delete(db.scalars(select(AuditEvent).where(AuditEvent.seq == seq)).one())
        db.commit()
        report = audit_chain.verify(db)
    assert not report.ok and report.first_bad_seq == seq


def test_admin_browses_and_exports(admin_client: FlaskClient, runtime: Runtime) -> None:
    html = admin_client.get("/admin/audit/").get_data(as_text=True)
    assert "login" in html
    exported = admin_client.get("/admin/audit/export.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    lines = exported.get_data(as_text=True).splitlines()
    assert lines[0].startswith("seq,at,actor_uuid,action")
    assert len(lines) >= 3
    with runtime.session() as db:
        actions = set(db.scalars(select(AuditEvent.action)))
    assert {"audit_viewed", "audit_exported"} <= actions


def test_analyst_refused_admin_and_audit_pages(
    analyst_client: FlaskClient, runtime: Runtime
) -> None:
    for path in ("/admin/audit/", "/admin/audit/export.csv", "/admin/"):
        assert analyst_client.get(path).status_code == 403
    with runtime.session() as db:
        refused = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "admin_access_denied")
        ).all()
    assert len(refused) == 3


def test_altered_detail_breaks_the_chain(runtime: Runtime) -> None:
    """What changed is part of the chain: rewriting "to high" into "to low" is caught."""
    from vault.services import audit

    with runtime.session() as db:
        event = audit.record(
            db, None, "case_priority_set", "case", "c-1", {"from": "normal", "to": "high"}
        )
        db.commit()
        seq = event.seq
        assert audit_chain.verify(db).ok
        assert event.detail == '{"from":"normal","to":"high"}'
        db.execute(
            update(AuditEvent)
            .where(AuditEvent.seq == seq)
            .values(detail='{"from":"normal","to":"low"}')
        )
        db.commit()
        report = audit_chain.verify(db)
    assert not report.ok and report.first_bad_seq == seq and report.problem == "altered event"
