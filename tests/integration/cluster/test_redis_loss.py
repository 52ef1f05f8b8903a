"""Redis restarted with an empty dataset while deletions are queued: they still happen.

Production's Redis keeps nothing on disk (ansible/roles/redis: no snapshot, no
append-only file), so a restart empties the RQ queue. The rows a deletion hid are the
record of what was asked: `backupctl sweep` (its timer, and `backupctl run` at start)
carries the lost jobs out.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from redis import Redis, RedisError
from sqlalchemy import select

from backupctl.cli import main
from composition.runtime import Runtime, build_runtime
from keys.gpg import kill_agent
from keys.lifecycle import GeneratedKey
from tests.support.servers import RedisServer
from tests.support.submission_key import load_into_sealing_homes, stop_agents
from vault import codenames
from vault.config import Budget, Config
from vault.errors import LoginThrottledError
from vault.migrate import upgrade
from vault.models import Source, Submission
from vault.services import deletion, sources
from vault.throttle import ClientBudget


@pytest.fixture
def lost_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test alone, configured as production's (nothing on disk)."""
    server = RedisServer(tmp_path / "r")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_runtime(
    config: Config, lost_redis: RedisServer, submission_key: tuple[GeneratedKey, Path]
) -> Iterator[Runtime]:
    config = replace(config, redis_url=lost_redis.url)
    upgrade(config.database_url)
    client = Redis.from_url(lost_redis.url)
    rt = build_runtime(config, redis=client)
    homes = load_into_sealing_homes(config, submission_key[0].public_armored)
    yield rt
    client.close()
    rt.engine.dispose()
    kill_agent(rt.keyring.home)
    stop_agents(homes)


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """RQ installs its own SIGINT/SIGTERM handlers; give pytest its own back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _source_with(rt: Runtime, messages: list[str]) -> tuple[Source, list[Submission]]:
    with rt.session() as db:
        source, _ = sources.create_source(db, rt.keyring, rt.config, codenames.generate_codename())
        sent = [
            sub
            for text in messages
            for sub in sources.submit(db, rt.store, source, rt.submission_fingerprint, text, [])
        ]
    return source, sent


@pytest.mark.usefixtures("keep_signal_handlers")
def test_deletions_lost_with_redis_are_carried_out_by_the_sweep(
    own_runtime: Runtime, lost_redis: RedisServer
) -> None:
    rt = own_runtime
    gone_source, _ = _source_with(rt, ["the whole source goes"])
    kept_source, (gone_sub, kept_sub) = _source_with(rt, ["this one goes", "this one stays"])
    with rt.session() as db:
        deletion.request_source_deletion(db, rt.redis, db.merge(gone_source))
        deletion.request_submission_deletion(db, rt.redis, db.merge(gone_sub))
    queue = deletion.queue(rt.redis)
    assert queue.count == 2  # both jobs queued, no worker has run yet

    lost_redis.stop()  # SIGTERM: nothing is saved, as in production
    lost_redis.start()
    assert deletion.queue(Redis.from_url(lost_redis.url)).count == 0  # the jobs are gone

    gone_dir = rt.store.source_dir(gone_source.uuid)
    gone_file = rt.store.path_of(kept_source.uuid, gone_sub.filename)
    kept_file = rt.store.path_of(kept_source.uuid, kept_sub.filename)
    env = {
        "BACKUP_INSTANCE_DIR": str(rt.config.instance_dir),
        "DATABASE_URL": rt.config.database_url,
        "REDIS_URL": lost_redis.url,
    }
    # The worker has nothing left to do: without the sweep, the hidden rows and their
    # ciphertext would stay for ever.
    worked = CliRunner().invoke(main, ["worker", "--burst"], env=env)
    assert worked.exit_code == 0, worked.output
    assert gone_dir.exists() and gone_file.exists()

    swept = CliRunner().invoke(main, ["sweep"], env=env)
    assert swept.exit_code == 0, swept.output
    assert "Carried out 2 requested deletion(s)." in swept.output
    assert not gone_dir.exists()
    assert not gone_file.exists()
    assert kept_file.exists()
    with rt.session() as db:
        assert db.scalar(select(Source).where(Source.uuid == gone_source.uuid)) is None
        assert db.scalar(select(Submission).where(Submission.uuid == gone_sub.uuid)) is None
        kept = db.scalar(select(Submission).where(Submission.uuid == kept_sub.uuid))
        assert kept is not None and kept.deleted_at is None

    # Nothing is done twice: a second sweep finds no work.
    again = CliRunner().invoke(main, ["sweep"], env=env)
    assert "Carried out 0 requested deletion(s)." in again.output


def test_throttles_fail_closed_while_redis_is_down(lost_redis: RedisServer) -> None:
    """A login attempt is charged to its client's budget before anything else; with
    Redis down the charge fails, so the attempt fails: no budget, no login (the error
    page). A restart with an empty dataset gives each client its burst again, no more."""
    client = Redis.from_url(lost_redis.url, socket_timeout=2, socket_connect_timeout=2)
    budget = ClientBudget(client, "source-login", Budget(burst=2, interval_seconds=600))
    budget.spend("circuit-a")
    budget.spend("circuit-a")
    with pytest.raises(LoginThrottledError):
        budget.spend("circuit-a")
    lost_redis.stop()
    with pytest.raises(RedisError):
        budget.spend("circuit-b")
    lost_redis.start()
    budget.spend("circuit-a")  # the counter was lost with the dataset: a new burst
    budget.spend("circuit-a")
    with pytest.raises(LoginThrottledError):
        budget.spend("circuit-a")
    client.close()
