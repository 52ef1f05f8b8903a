"""Redis down, PostgreSQL down, SQLite read-only or locked: then back, by themselves.

During each outage a logged-in source sends a message and a file, and an anonymous
visitor asks for a new codename: each gets our neutral error page (or, for a short
SQLite lock, simply waits and succeeds). Nothing half-written remains, nothing
acknowledged is lost, no plaintext is anywhere, and once the service is back the next
source gets in without an operator.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.faults import (
    REQUEST_TIMEOUT,
    Outcome,
    Product,
    Sent,
    Visitor,
    assert_acknowledged_intact,
    assert_deletion_works,
    assert_error_page,
    assert_no_plaintext,
    running_product,
    sweep_and_assert_consistent,
    wait_until_back,
)
from tests.support.reliability import record
from tests.support.servers import PostgresCluster, RedisServer

pytestmark = pytest.mark.reliability
MARKER = "OUTAGE-MARKER-41b9"


def _during_outage(
    product: Product, visitor: Visitor, token: str
) -> tuple[list[Outcome], list[str]]:
    """What a logged-in source (whose form was open before the outage) and a new
    visitor see while a service is down."""
    seen = []
    payload = f"{MARKER} sent while down ".encode() * 500
    tried = visitor.submit(Sent(payload[:3000], [("down.txt", payload)]), token)
    assert not tried.acknowledged
    seen.append(assert_error_page(tried.response))
    lookup = visitor.session.get(product.source_url + "/lookup", timeout=REQUEST_TIMEOUT)
    seen.append(assert_error_page(lookup))
    fresh = requests.Session()
    generate = fresh.get(product.source_url + "/generate", timeout=REQUEST_TIMEOUT)
    if generate.status_code == 200:
        # Some outages do not touch this page (it needs no database): the next step does.
        token = generate.text.split('name="csrf_token" value="')[1].split('"')[0]
        generate = fresh.post(
            product.source_url + "/create", data={"csrf_token": token}, timeout=REQUEST_TIMEOUT
        )
    seen.append(assert_error_page(generate))
    return [tried], seen


def _before(product: Product) -> tuple[Visitor, str, list[Outcome]]:
    """A source who sent something, and has the form open again."""
    visitor = Visitor(product).start()
    payload = f"{MARKER} sent before ".encode() * 500
    sent = visitor.submit(Sent(payload[:3000], [("before.txt", payload)]))
    assert sent.acknowledged
    return visitor, visitor.token(), [sent]


def _after(product: Product, outcomes: list[Outcome]) -> tuple[float, int, int]:
    """Back by itself; then the checks. Returns (seconds to get back, acknowledged
    submissions checked, files the sweep had to shred)."""
    seconds, back = wait_until_back(product, MARKER)
    acknowledged = assert_acknowledged_intact(product, [*outcomes, back])
    swept = sweep_and_assert_consistent(product)
    assert_no_plaintext(product, MARKER)
    return seconds, acknowledged, swept


def test_redis_down_then_back(instance: Path, tmp_path: Path, fault_redis: RedisServer) -> None:
    with running_product(instance, tmp_path, redis_url=fault_redis.url) as product:
        visitor, token, outcomes = _before(product)
        fault_redis.stop()  # SIGTERM: as `systemctl stop redis` (or its crash) would
        tried, seen = _during_outage(product, visitor, token)
        landing = requests.get(product.source_url + "/", timeout=REQUEST_TIMEOUT)
        assert landing.status_code == 200  # the landing page needs no Redis
        fault_redis.start()
        seconds, acknowledged, swept = _after(product, outcomes + tried)
        # The worker died with Redis; it was started again until Redis answered.
        deletion_s = assert_deletion_works(product, MARKER)
        # Sessions lived only in Redis: the source logs in again with the codename.
        again = visitor.session.get(
            product.source_url + "/lookup", timeout=REQUEST_TIMEOUT, allow_redirects=False
        )
        assert again.status_code in (200, 302)
    record(
        "Redis stopped, then restarted",
        {
            "user_saw": sorted(set(seen)),
            "acknowledged": acknowledged,
            "acknowledged_lost": 0,
            "half_written_after_sweep": 0,
            "files_swept": swept,
            "back_after_restart_s": round(seconds, 3),
            "deletion_job_done_after_s": round(deletion_s, 3),
        },
    )


def test_redis_frozen_then_thawed(instance: Path, tmp_path: Path, fault_redis: RedisServer) -> None:
    """A Redis that hangs instead of dying must not hang the pages with it: each
    request gets the error page once the Redis client gives up, and the service comes
    back by itself when Redis answers again."""
    with running_product(instance, tmp_path, redis_url=fault_redis.url) as product:
        visitor, token, outcomes = _before(product)
        fault_redis.freeze()
        try:
            started = time.monotonic()
            tried, seen = _during_outage(product, visitor, token)
            outage_s = time.monotonic() - started
        finally:
            fault_redis.thaw()
        seconds, acknowledged, swept = _after(product, outcomes + tried)
    record(
        "Redis frozen (SIGSTOP), then thawed",
        {
            "user_saw": sorted(set(seen)),
            "acknowledged": acknowledged,
            "acknowledged_lost": 0,
            "half_written_after_sweep": 0,
            "files_swept": swept,
            "three_requests_during_outage_s": round(outage_s, 3),
            "back_after_thaw_s": round(seconds, 3),
        },
    )


@pytest.fixture
def fault_postgres(tmp_path: Path) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(tmp_path / "pg")
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.mark.postgres
def test_postgresql_down_then_back(
    instance: Path, tmp_path: Path, fault_redis: RedisServer, fault_postgres: PostgresCluster
) -> None:
    url = fault_postgres.createdb("backup_faults")
    with running_product(
        instance, tmp_path, redis_url=fault_redis.url, database_url=url
    ) as product:
        visitor, token, outcomes = _before(product)
        fault_postgres.stop()  # fast shutdown: every connection cut
        tried, seen = _during_outage(product, visitor, token)
        fault_postgres.start()
        seconds, acknowledged, swept = _after(product, outcomes + tried)
        deletion_s = assert_deletion_works(product, MARKER)
    record(
        "PostgreSQL stopped, then restarted",
        {
            "user_saw": sorted(set(seen)),
            "acknowledged": acknowledged,
            "acknowledged_lost": 0,
            "half_written_after_sweep": 0,
            "files_swept": swept,
            "back_after_restart_s": round(seconds, 3),
            "deletion_job_done_after_s": round(deletion_s, 3),
        },
    )


def _mount_tmpfs(directory: Path, megabytes: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")


def _remount(directory: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(directory)], check=True)


@pytest.fixture
def sqlite_dir(tmp_path: Path) -> Iterator[Path]:
    """A filesystem of its own for the SQLite database, so it can turn read-only (as
    ext4 does on an I/O error: errors=remount-ro)."""
    directory = tmp_path / "db"
    _mount_tmpfs(directory, 64)
    yield directory
    subprocess.run(["umount", "-l", str(directory)], check=False)


def test_sqlite_read_only_then_writable(
    instance: Path, tmp_path: Path, fault_redis: RedisServer, sqlite_dir: Path
) -> None:
    url = f"sqlite:///{sqlite_dir / 'backup.sqlite'}"
    # The disk reserve watches the database's filesystem too: scaled to this small one.
    reserve = {"BACKUP_DISK_RESERVE_MIB": "1", "BACKUP_DISK_RESERVE_PERCENT": "0"}
    with running_product(
        instance, tmp_path, redis_url=fault_redis.url, database_url=url, extra_env=reserve
    ) as product:
        visitor, token, outcomes = _before(product)
        _remount(sqlite_dir, "ro")
        try:
            tried, seen = _during_outage(product, visitor, token)
        finally:
            _remount(sqlite_dir, "rw")
        seconds, acknowledged, swept = _after(product, outcomes + tried)
    record(
        "SQLite read-only, then writable",
        {
            "user_saw": sorted(set(seen)),
            "acknowledged": acknowledged,
            "acknowledged_lost": 0,
            "half_written_after_sweep": 0,
            "files_swept": swept,
            "back_after_remount_s": round(seconds, 3),
        },
    )


def test_sqlite_locked_for_a_while(
    instance: Path, tmp_path: Path, fault_redis: RedisServer
) -> None:
    """Another process (a backup, an operator's sqlite3) holds the write lock for a few
    seconds: submissions wait for it (busy timeout) and then succeed."""
    hold_seconds = 3.0
    with running_product(instance, tmp_path, redis_url=fault_redis.url) as product:
        visitor = Visitor(product).start()
        locker = sqlite3.connect(
            product.database_url.removeprefix("sqlite:///"), check_same_thread=False
        )
        locker.execute("BEGIN EXCLUSIVE")
        released = threading.Timer(hold_seconds, locker.rollback)
        started = time.monotonic()
        released.start()
        try:
            payload = f"{MARKER} sent while locked ".encode() * 200
            sent = visitor.submit(Sent(payload, [("locked.txt", payload)]))
        finally:
            released.join()
            locker.close()
        waited = time.monotonic() - started
        assert sent.acknowledged, sent
        assert waited >= hold_seconds * 0.9
        _seconds, acknowledged, swept = _after(product, [sent])
    record(
        "SQLite locked by another process",
        {
            "lock_held_s": hold_seconds,
            "user_saw": ["submission waited, then succeeded"],
            "submission_took_s": round(waited, 3),
            "acknowledged": acknowledged,
            "acknowledged_lost": 0,
            "half_written_after_sweep": 0,
            "files_swept": swept,
        },
    )
