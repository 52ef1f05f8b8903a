"""A `backupctl` command owns its transaction (vault.transaction.unit_of_work): it commits
once when it succeeds, and a command that fails half-way leaves nothing half-written,
outside the database included (a gpg key made for a row that was not stored)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from backupctl.cli import main
from composition.runtime import Runtime
from tests.support.journalist import make_source
from vault import reports
from vault.models import AccountKey, AuditEvent, CareRequest, Reviewer, Source
from vault.services import audit

URGENT = {"urgency": ["today"], "recent": ["yes"]}


def _late_care_request(runtime: Runtime) -> str:
    submitted = make_source(runtime)
    with runtime.session() as db:
        source = db.scalars(select(Source).where(Source.uuid == submitted.uuid)).one()
        request = CareRequest(
            source_id=source.id,
            ciphertext=runtime.keyring.seal_bytes(
                reports.dumps(reports.assist_from_form(URGENT)).encode(),
                [runtime.submission_fingerprint],
            ),
            size=0,
            urgent=True,
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=45),
        )
        db.add(request)
        db.flush()
        return request.uuid


def _fail_on(monkeypatch: pytest.MonkeyPatch, action: str, after: int = 0) -> list[str]:
    """Make `audit.record` fail for `action` once `after` such events were recorded."""
    real = audit.record
    seen: list[str] = []

    def record(db, actor, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == action:
            if len(seen) >= after:
                raise OSError(f"injected failure at {action}")  # as a full disk would
            seen.append(name)
        return real(db, actor, name, *args, **kwargs)

    monkeypatch.setattr(audit, "record", record)
    return seen


def _escalated(runtime: Runtime) -> tuple[int, int]:
    with runtime.session() as db:
        marked = db.scalar(
            select(func.count())
            .select_from(CareRequest)
            .where(CareRequest.escalated_at.isnot(None))
        )
        events = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "care_request_escalated")
        )
        return int(marked or 0), int(events or 0)


def test_a_failing_command_leaves_no_partial_rows(
    runtime: Runtime, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`care escalate` fails at its second request: the first is not escalated either."""
    _late_care_request(runtime)
    _late_care_request(runtime)
    env = {**cli_env, "BACKUP_CARE_ESCALATE_MINUTES": "30"}
    seen = _fail_on(monkeypatch, "care_request_escalated", after=1)
    failed = CliRunner().invoke(main, ["care", "escalate"], env=env)
    assert failed.exit_code != 0
    assert seen == ["care_request_escalated"]  # the first one was written, then undone
    assert _escalated(runtime) == (0, 0)
    monkeypatch.undo()
    done = CliRunner().invoke(main, ["care", "escalate"], env=env)
    assert done.exit_code == 0, done.output
    assert _escalated(runtime) == (2, 2)


def _secret_keys(runtime: Runtime) -> int:
    ring = runtime.keyring
    return sum(ring.has_secret_key(fingerprint) for fingerprint in ring.public_fingerprints())


def test_a_key_that_cannot_be_stored_is_deleted_again(
    runtime: Runtime, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`admin create`: the account is one transaction, its key another. The key's fails
    after gpg made the key: the account stays, the key is gone from the keyring too."""
    keys_before = _secret_keys(runtime)
    _fail_on(monkeypatch, "account_key_created")
    result = CliRunner().invoke(main, ["admin", "create", "nadia"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "could not be made now" in result.output
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.username == "nadia")).one()
        assert db.get(AccountKey, reviewer.id) is None
        actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions[-1] == "reviewer_created"
    assert _secret_keys(runtime) == keys_before
