"""`backupctl care escalate`: what the systemd timer runs every minute."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner
from sqlalchemy import select

from backupctl.cli import main
from composition.runtime import Runtime
from tests.support.journalist import make_source
from vault import reports
from vault.models import AuditEvent, CareRequest, Source
from vault.services import care

URGENT = {"urgency": ["today"], "recent": ["yes"]}


def _care_request(runtime: Runtime, fingerprint: str, *, minutes_ago: int) -> str:
    """A care request sealed to `fingerprint` (any key in the keyring will do here)."""
    submitted = make_source(runtime)
    with runtime.session() as db:
        source = db.scalars(select(Source).where(Source.uuid == submitted.uuid)).one()
        request = CareRequest(
            source_id=source.id,
            ciphertext=runtime.keyring.seal_bytes(
                reports.dumps(reports.assist_from_form(URGENT)).encode(), [fingerprint]
            ),
            size=0,
            urgent=True,
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago),
        )
        db.add(request)
        db.commit()
        return request.uuid


def test_escalates_once_what_waited_too_long(runtime: Runtime, cli_env: dict[str, str]) -> None:
    sub = runtime.submission_fingerprint
    late = _care_request(runtime, sub, minutes_ago=45)
    recent = _care_request(runtime, sub, minutes_ago=5)
    runner = CliRunner()
    env = {**cli_env, "BACKUP_CARE_ESCALATE_MINUTES": "30"}
    first = runner.invoke(main, ["care", "escalate"], env=env)
    assert first.exit_code == 0, first.output
    assert "Escalated 1 urgent care request(s)." in first.output
    again = runner.invoke(main, ["care", "escalate"], env=env)
    assert "Escalated 0 urgent care request(s)." in again.output
    with runtime.session() as db:
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "care_request_escalated")
        ).all()
        assert [(e.object_uuid, e.actor_id) for e in events] == [(late, None)]
        # A shorter setting reaches the other one.
        assert care.escalate_overdue(db, minutes=1) == [recent]


def test_a_zero_setting_is_refused(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["care", "escalate"], env={**cli_env, "BACKUP_CARE_ESCALATE_MINUTES": "0"}
    )
    assert result.exit_code != 0
    assert "BACKUP_CARE_ESCALATE_MINUTES must be positive" in result.output
