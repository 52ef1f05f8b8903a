"""`backupctl retention run`: the standing policy a systemd timer applies every day.

Same rule as the reviewer interface's retention (inactive for N days, not in an open
case), applied by the system: audited with no actor, carried out by the RQ deletion job.
"""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from backupctl.cli import main
from composition import jobs
from composition.runtime import Runtime
from tests.support.journalist import FAST_HASHER, age_source, make_source, source_row
from vault.models import AuditEvent, Role
from vault.services import cases, deletion, retention, reviewers


def test_dry_run_then_run_deletes_only_what_the_rule_allows(
    runtime: Runtime, cli_env: dict[str, str]
) -> None:
    old, in_case, recent = make_source(runtime), make_source(runtime), make_source(runtime)
    age_source(runtime, old.uuid, 120)
    age_source(runtime, in_case.uuid, 120)
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst7", Role.ANALYST, hasher=FAST_HASHER)
        cases.create_case(db, analyst, [in_case.uuid])
    runner = CliRunner()
    dry = runner.invoke(main, ["retention", "run", "--days", "90", "--dry-run"], env=cli_env)
    assert dry.exit_code == 0, dry.output
    assert "1 source(s) inactive for 90 days would be deleted" in dry.output
    assert source_row(runtime, old.uuid) is not None

    done = runner.invoke(main, ["retention", "run", "--days", "90"], env=cli_env)
    assert done.exit_code == 0, done.output
    assert "Deletion requested for 1 source(s)" in done.output
    jobs.worker(runtime, [deletion.queue(runtime.redis)]).work(burst=True)
    assert source_row(runtime, old.uuid) is None
    assert source_row(runtime, in_case.uuid) is not None
    assert source_row(runtime, recent.uuid) is not None

    with runtime.session() as db:
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.action.like("retention_%")).order_by(AuditEvent.id)
        ).all()
    assert [(e.action, e.actor_id, e.object_uuid) for e in events] == [
        ("retention_deletion_requested", None, old.uuid),
        ("retention_policy_applied", None, None),
    ]


def test_the_floor_is_refused_before_anything_runs(
    runtime: Runtime, cli_env: dict[str, str]
) -> None:
    old = make_source(runtime)
    age_source(runtime, old.uuid, 400)
    days = str(retention.MIN_DAYS - 1)
    result = CliRunner().invoke(main, ["retention", "run", "--days", days], env=cli_env)
    assert result.exit_code == 2
    assert f"{retention.MIN_DAYS}" in result.output
    assert source_row(runtime, old.uuid) is not None
