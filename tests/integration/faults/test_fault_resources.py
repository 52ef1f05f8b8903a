"""The store's disk full, and gpg failing (exits, or is killed mid-stream; its agent
killed): the source gets our error page, nothing half-written stays, and the service
comes back by itself once the cause is gone."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from keys.gpg import kill_agent
from tests.support.faults import (
    Outcome,
    Sent,
    Visitor,
    assert_acknowledged_intact,
    assert_error_page,
    assert_no_plaintext,
    partials,
    running_product,
    sweep_and_assert_consistent,
    wait_until_back,
)
from tests.support.reliability import record
from tests.support.servers import RedisServer
from vault.config import KEYRING_SIDES

pytestmark = pytest.mark.reliability
MARKER = "RESOURCE-MARKER-93fa"
STORE_MB = 8


@pytest.fixture
def small_store(instance: Path) -> Iterator[Path]:
    """The instance's store on an 8 MB tmpfs of its own."""
    store = instance / "store"
    store.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={STORE_MB}m,mode=0700", "tmpfs", str(store)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    yield store
    subprocess.run(["umount", "-l", str(store)], check=False)


def _free(path: Path) -> int:
    return shutil.disk_usage(path).free


@pytest.mark.parametrize("reserve_mib", [0, 1], ids=["no-reserve", "reserve-1MiB"])
def test_store_disk_full(
    instance: Path, tmp_path: Path, fault_redis: RedisServer, small_store: Path, reserve_mib: int
) -> None:
    """Without a reserve the disk really fills (gpg's write fails: ENOSPC); with one, the
    guard refuses first (docs/admin.md). Either way the same checks hold."""
    seen: list[str] = []
    outcomes: list[Outcome] = []
    reserve = {"BACKUP_DISK_RESERVE_MIB": str(reserve_mib), "BACKUP_DISK_RESERVE_PERCENT": "0"}
    with running_product(
        instance, tmp_path, redis_url=fault_redis.url, extra_env=reserve
    ) as product:
        visitor = Visitor(product).start()
        first = visitor.submit(Sent(f"{MARKER} before the disk filled".encode()))
        assert first.acknowledged
        outcomes.append(first)

        # 1. A file larger than the space left: cut when the disk is full.
        big = os.urandom(STORE_MB * 1024 * 1024 + 1024 * 1024)
        too_big = visitor.submit(Sent(f"{MARKER} with a big file".encode(), [("big.bin", big)]))
        assert not too_big.acknowledged
        seen.append(assert_error_page(too_big.response))
        assert partials(small_store) == []  # the cut upload removed its own partial
        seconds_big, back = wait_until_back(product, MARKER)
        outcomes.append(back)

        # 2. Something else filled the disk (logs, a copy): even a short message fails.
        filler = small_store / "filler"
        with filler.open("wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
            except OSError:
                pass
        assert _free(small_store) < 65536
        full = visitor.submit(Sent(f"{MARKER} while the disk is full".encode()))
        assert not full.acknowledged
        seen.append(assert_error_page(full.response))
        filler.unlink()
        seconds_full, back = wait_until_back(product, MARKER)
        outcomes.append(back)

        acknowledged = assert_acknowledged_intact(product, [*outcomes, too_big, full])
        swept = sweep_and_assert_consistent(product)
        assert_no_plaintext(product, MARKER)
    record(
        f"store disk full ({STORE_MB} MB tmpfs, reserve {reserve_mib} MiB)",
        {
            "user_saw": sorted(set(seen)),
            "acknowledged": acknowledged,
            "acknowledged_lost": 0,
            "half_written_after_sweep": 0,
            "files_swept": swept,
            "back_after_space_freed_s": round(max(seconds_big, seconds_full), 3),
        },
    )


WRAPPER = """#!/bin/sh
# gpg, unless the fault file says otherwise (for encryption only).
mode=$(cat {flag} 2>/dev/null)
case " $* " in *" --encrypt "*) ;; *) mode="";; esac
case "$mode" in
  fail) echo "gpg: simulated failure" >&2; exit 2;;
  crash)
    # Real gpg seals the first 256 KiB (ciphertext comes out), then the process dies
    # by SIGKILL with the rest of the input unread.
    head -c 262144 | {gpg} "$@"
    kill -9 $$;;
esac
exec {gpg} "$@"
"""


def test_gpg_failing(instance: Path, tmp_path: Path, fault_redis: RedisServer) -> None:
    flag = tmp_path / "gpg-fault"
    wrapper = tmp_path / "gpg-wrapper"
    wrapper.write_text(WRAPPER.format(flag=flag, gpg=shutil.which("gpg") or "/usr/bin/gpg"))
    wrapper.chmod(stat.S_IRWXU)
    seen: list[str] = []
    outcomes: list[Outcome] = []
    recoveries: list[float] = []
    with running_product(
        instance, tmp_path, redis_url=fault_redis.url, extra_env={"BACKUP_GPG_BINARY": str(wrapper)}
    ) as product:
        visitor = Visitor(product).start()
        for mode in ("fail", "crash"):
            flag.write_text(mode)
            payload = f"{MARKER} while gpg {mode}s ".encode() * 40_000  # ~1 MB, streamed
            tried = visitor.submit(Sent(payload[:2000], [("statement.txt", payload)]))
            assert not tried.acknowledged
            seen.append(f"gpg {mode}: " + assert_error_page(tried.response))
            outcomes.append(tried)
            flag.unlink()
            seconds, back = wait_until_back(product, MARKER)
            recoveries.append(seconds)
            outcomes.append(back)

        # The server keyring's agent killed: gpg starts a new one on next use.
        for side in KEYRING_SIDES:
            kill_agent(instance / "gnupg" / side)
        seconds, back = wait_until_back(product, MARKER)
        recoveries.append(seconds)
        outcomes.append(back)

        acknowledged = assert_acknowledged_intact(product, outcomes)
        swept = sweep_and_assert_consistent(product)
        assert_no_plaintext(product, MARKER)
    record(
        "gpg failing (exit 2; killed mid-stream; agent killed)",
        {
            "user_saw": seen,
            "acknowledged": acknowledged,
            "acknowledged_lost": 0,
            "half_written_after_sweep": 0,
            "files_swept": swept,
            "back_after_fault_max_s": round(max(recoveries), 3),
        },
    )
