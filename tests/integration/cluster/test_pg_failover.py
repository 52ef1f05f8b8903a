"""PostgreSQL failover under the running product: a synchronous standby promoted.

The product (`backupctl run`: both apps through `backupctl serve`, and the RQ worker)
is given one multi-host DATABASE_URL naming the primary and its standby, with
`target_session_attrs=read-write`. Sources submit; the primary is killed (SIGKILL, all
its processes: a machine lost); while it is gone submissions get the error page; the
admin promotes the standby; the next submissions succeed with no configuration changed,
every submission acknowledged before, during or after is on the new primary, whole, and
the custody receipt chain verifies across the failover.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from backupctl.cli import main
from tests.support.faults import (
    REQUEST_TIMEOUT,
    Background,
    Outcome,
    Sent,
    Visitor,
    assert_acknowledged_intact,
    assert_deletion_works,
    assert_error_page,
    assert_no_plaintext,
    running_product,
    sweep_and_assert_consistent,
    wait_for,
    wait_until_back,
)
from tests.support.replication import ReplicatedPostgres
from tests.support.servers import RedisServer

pytestmark = pytest.mark.postgres
MARKER = "FAILOVER-MARKER-7c2e"
DATABASE = "backup_cluster"


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[ReplicatedPostgres]:
    pair = ReplicatedPostgres(tmp_path / "pg")
    yield pair
    pair.remove()


def _more_acknowledged(background: Background, more: int) -> None:
    """Wait until the background source got `more` further submissions acknowledged."""
    target = background.acknowledged + more
    wait_for(lambda: background.acknowledged >= target, 60, f"{more} more acknowledged")


def _submissions_on(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM submissions").fetchone()
    assert row is not None
    return int(row[0])


def test_failover_to_the_promoted_standby_loses_no_acknowledged_submission(
    instance: Path, tmp_path: Path, own_redis: RedisServer, replicated: ReplicatedPostgres
) -> None:
    url = replicated.createdb(DATABASE)
    with running_product(instance, tmp_path, redis_url=own_redis.url, database_url=url) as product:
        before = Visitor(product).start()
        outcomes = [
            before.submit(Sent(f"{MARKER} before {n} ".encode() * 50, [(f"b{n}.txt", b"x" * n)]))
            for n in range(1, 4)
        ]
        assert all(o.acknowledged for o in outcomes)
        assert replicated.sync_state() == "sync"
        # Synchronous: what was acknowledged is already on the standby, readable there.
        standby_url = replicated.node_url(replicated.standby, DATABASE)
        assert _submissions_on(standby_url) >= 3
        token = before.token()

        with Background(product, MARKER) as background:
            _more_acknowledged(background, 2)  # submissions are flowing
            replicated.kill_primary()
            # No primary: the standby refuses writes (read-only), the old one is gone.
            down = before.submit(Sent(f"{MARKER} while down".encode()), token)
            assert not down.acknowledged
            seen = assert_error_page(down.response)
            outcomes.append(down)
            replicated.promote()
            seconds, back = wait_until_back(product, MARKER)
            outcomes.append(back)
            _more_acknowledged(background, 2)  # and go on flowing in the background
        outcomes += background.outcomes

        # The URL was never changed: it now reaches the promoted standby.
        with psycopg.connect(standby_url) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        assert row == (False,)
        checked = assert_acknowledged_intact(product, outcomes)
        assert checked >= 3 + 2 + 1 + 2
        assert _submissions_on(standby_url) >= checked

        env = {
            "BACKUP_INSTANCE_DIR": str(product.instance),
            "DATABASE_URL": product.database_url,
            "REDIS_URL": product.redis_url,
        }
        verified = CliRunner().invoke(main, ["custody", "verify-log"], env=env)
        assert verified.exit_code == 0, verified.output
        match = re.search(r"VERIFIED: (\d+) receipts", verified.output)
        assert match is not None and int(match.group(1)) >= checked, verified.output

        assert_deletion_works(product, MARKER)  # the worker reached the new primary too
        sweep_and_assert_consistent(product)
        # The leak scan's pg_dump takes one host: the new primary's.
        assert_no_plaintext(replace(product, database_url=standby_url), MARKER)
        again = before.session.get(product.source_url + "/lookup", timeout=REQUEST_TIMEOUT)
        assert again.status_code == 200  # the source's session (in Redis) survived
    print(f"failover: error page while down ({seen}); back {seconds:.1f}s after promotion")


def test_standby_lost_no_submission_is_acknowledged_until_the_primary_runs_alone(
    instance: Path, tmp_path: Path, own_redis: RedisServer, replicated: ReplicatedPostgres
) -> None:
    """Synchronous replication's price: with its standby gone, the primary acknowledges
    no write. A source's submission waits (it is told nothing false) until the admin
    either brings a standby back or lets the primary run alone; then it completes."""
    url = replicated.createdb(DATABASE)
    with running_product(instance, tmp_path, redis_url=own_redis.url, database_url=url) as product:
        visitor = Visitor(product).start()
        assert visitor.submit(Sent(f"{MARKER} with both".encode())).acknowledged
        token = visitor.token()
        replicated.kill_standby()
        waiting: list[Outcome] = []
        sender = threading.Thread(
            target=lambda: waiting.append(
                visitor.submit(Sent(f"{MARKER} standby gone".encode()), token)
            )
        )
        sender.start()
        sender.join(5)
        assert sender.is_alive() and not waiting  # no answer: the commit waits
        primary_url = replicated.node_url(replicated.primary, DATABASE)
        with psycopg.connect(primary_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
            ).fetchone()
        assert row is not None and row[0] >= 1
        replicated.run_alone()
        sender.join(REQUEST_TIMEOUT)
        assert not sender.is_alive()
        assert waiting[0].acknowledged, waiting[0]
        assert assert_acknowledged_intact(product, waiting) == 1
        after = visitor.submit(Sent(f"{MARKER} alone".encode()))
        assert after.acknowledged
