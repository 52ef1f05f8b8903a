"""Redis full to its maxmemory never refuses a login: the policy (volatile-lru, as in
production, `backupctl run` and the suite) evicts keys that carry a TTL, and every key
BackUp writes for sessions and throttles carries one. Queued jobs carry none: never
evicted. A control run shows the same fill makes a login's write fail under noeviction."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import OutOfMemoryError
from rq import Queue
from sqlalchemy import select

import journalist_app
import source_app
from backupctl.dev.private_redis import MAXMEMORY_POLICY
from composition.runtime import Runtime, build_runtime
from keys.gpg import kill_agent
from keys.lifecycle import GeneratedKey, load_submission_key
from tests.integration.source_app.helpers import SourceBrowser
from tests.support.journalist import FAST_HASHER, login, make_account, post_form
from tests.support.servers import redis_server
from vault.config import Budget, Config
from vault.migrate import upgrade
from vault.models import Submission
from vault.services import deletion
from vault.throttle import ClientBudget

MAXMEMORY = 8 * 1024 * 1024
_FILLER = 16 * 1024  # bytes a filler key holds
_MAX_FILL_KEYS = 3000  # bound: 8 MiB is reached well before


@pytest.fixture
def small_redis(tmp_path: Path) -> Iterator[Redis]:
    with redis_server(tmp_path / "redis", maxmemory=str(MAXMEMORY)) as url:
        client = Redis.from_url(url)
        yield client
        client.close()


@pytest.fixture
def pressed_runtime(
    config: Config, small_redis: Redis, submission_key: tuple[GeneratedKey, Path]
) -> Iterator[Runtime]:
    upgrade(config.database_url)
    rt = build_runtime(config, redis=small_redis)
    load_submission_key(config.instance_dir, rt.keyring, submission_key[0].public_armored)
    yield rt
    rt.engine.dispose()
    kill_agent(rt.keyring.home)


def _fill(redis: Redis) -> int:
    """Expiring filler (as sessions are) and a flood of throttle counters, until Redis
    is at its bound and evicting. Returns how many keys were written."""
    # Budgets like a flood's (one per client: a flood from many circuits), under their
    # own name: how budgets answer a flood is not what this test is about, only the
    # memory they take.
    flood = ClientBudget(redis, "flood", Budget(burst=5, interval_seconds=300))
    written = 0
    while written < _MAX_FILL_KEYS:
        redis.set(f"filler:{written}", secrets.token_bytes(_FILLER), ex=3600)
        flood.spend(secrets.token_hex(16))  # what a flood from many circuits leaves
        written += 1
        if int(redis.info("stats")["evicted_keys"]) > 50:
            return written
    raise AssertionError("Redis never reached its maxmemory")


def test_policy_is_the_one_configured_everywhere(small_redis: Redis) -> None:
    assert small_redis.config_get("maxmemory-policy")["maxmemory-policy"] == MAXMEMORY_POLICY
    template = Path("ansible/roles/redis/templates/redis.conf.j2").read_text()
    assert f"maxmemory-policy {MAXMEMORY_POLICY}\n" in template


def test_full_redis_still_lets_everyone_in(pressed_runtime: Runtime, small_redis: Redis) -> None:
    rt = pressed_runtime
    source_app_ = source_app.create_app(rt.config, rt)
    reviewer_app = journalist_app.create_app(rt.config, rt, hasher=FAST_HASHER)
    account = make_account(rt, "analyst1")

    # A source who already has a codename, and a job queued before the pressure.
    early = SourceBrowser(source_app_.test_client())
    early_codename = early.create()
    assert early.submit("before the flood").status_code == 302
    early.logout()
    with rt.session() as db:
        first = db.scalars(select(Submission)).one()
        deletion.request_submission_deletion(db, small_redis, first)
        first_uuid = first.uuid
    queued_job = f"rq:job:delete-submission-{first_uuid}"
    assert small_redis.ttl(queued_job) == -1  # no TTL: never evicted

    written = _fill(small_redis)
    used = int(small_redis.info("memory")["used_memory"])
    assert used >= MAXMEMORY * 0.9
    started = time.monotonic()

    # Under that pressure: a new source, a returning source, a reviewer.
    newcomer = SourceBrowser(source_app_.test_client())
    newcomer.create()
    assert newcomer.submit("during the flood").status_code == 302
    returning = SourceBrowser(source_app_.test_client())
    assert returning.login(early_codename).headers["Location"] == "/lookup"
    assert returning.client.get("/lookup").status_code == 200
    reviewer = reviewer_app.test_client()
    assert login(reviewer, account).headers["Location"] == "/dashboard/"
    assert reviewer.get("/").status_code == 200
    print(
        f"\nRedis at {used / 2**20:.1f} of {MAXMEMORY / 2**20:.0f} MiB after {written} filler "
        f"and {written} flood keys, {small_redis.info('stats')['evicted_keys']} evicted: "
        f"two sources and a reviewer in within {time.monotonic() - started:.1f} s"
    )
    with rt.session() as db:
        submissions = db.scalars(select(Submission).where(Submission.deleted_at.is_(None))).all()
        assert len(submissions) == 1  # the first one is being deleted
        latest_uuid, source_uuid = submissions[0].uuid, submissions[0].source.uuid
    deleted = post_form(
        reviewer,
        f"/sources/{source_uuid}/submissions/{latest_uuid}/delete",
        page=f"/sources/{source_uuid}",
    )
    assert deleted.status_code == 302

    _fill(small_redis)  # more pressure: queued jobs stay, whatever else goes
    queue = Queue(deletion.QUEUE_NAME, connection=small_redis)
    assert small_redis.exists(queued_job) == 1
    assert set(queue.job_ids) == {
        f"delete-submission-{first_uuid}",
        f"delete-submission-{latest_uuid}",
    }
    # Every key not owned by RQ carries a TTL (-1 would be none; -2: evicted meanwhile):
    # all of it can give way to a login.
    for key in small_redis.scan_iter(count=1000):
        if not key.startswith(b"rq:"):
            assert small_redis.ttl(key) != -1, key


def test_noeviction_would_refuse_the_same_login(small_redis: Redis) -> None:
    """The control: what the policy prevents (and what production ran before)."""
    _fill(small_redis)
    small_redis.config_set("maxmemory-policy", "noeviction")
    try:
        with pytest.raises(OutOfMemoryError):
            for index in range(100):  # what is left fills at once; a write too many fails
                small_redis.set(f"session:{index}", secrets.token_bytes(_FILLER), ex=1800)
    finally:
        small_redis.config_set("maxmemory-policy", MAXMEMORY_POLICY)
