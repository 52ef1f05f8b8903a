"""Small real filesystems for the disk-full tests: a tmpfs mounted by the suite.

Mounting needs root (as in the CI container). Where it is refused, `small_filesystem`
yields None and the tests keep the same headroom on the real filesystem instead, by
setting the reserve just below its free space (less exact: other writers on the same
disk move it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from redis import Redis

from composition.runtime import Runtime, build_runtime
from keys.gpg import kill_agent
from tests.support.submission_key import load_into_sealing_homes, stop_agents
from vault.config import Config, DiskReserve
from vault.migrate import upgrade

MIB = 1024 * 1024


@contextmanager
def small_filesystem(directory: Path, size_mib: int) -> Iterator[Path | None]:
    """A tmpfs of `size_mib` MiB mounted on `directory` (created, 0700), or None."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    mount = shutil.which("mount") or "/usr/bin/mount"
    if os.geteuid() != 0:
        yield None
        return
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        yield None
        return
    try:
        yield directory
    finally:
        _unmount(directory)


def _unmount(directory: Path) -> None:
    umount = shutil.which("umount") or "/usr/bin/umount"
    if subprocess.run([umount, str(directory)], capture_output=True).returncode != 0:
        subprocess.run([umount, "-l", str(directory)], check=True)  # a straggler holds it


@contextmanager
def mounted_filesystem(directory: Path, kind: str, size_mib: int = 64) -> Iterator[Path | None]:
    """A real file system of `kind` mounted on `directory` (created, 0700), or None
    without root: "ext4" (an image file on a loop device: a disk's page cache and
    direct I/O, whatever the suite's own temporary directory is on) or "ramfs" (no
    direct I/O at all)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.geteuid() != 0:
        yield None
        return
    mount = shutil.which("mount") or "/usr/bin/mount"
    if kind == "ext4":
        image = directory.with_name(directory.name + ".img")
        with open(image, "wb") as handle:
            handle.truncate(size_mib * MIB)
        mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
        subprocess.run([mkfs, "-q", "-F", str(image)], check=True, capture_output=True)
        argv = [mount, "-o", "loop", str(image), str(directory)]
    else:
        image = None
        argv = [mount, "-t", kind, kind, str(directory)]
    done = subprocess.run(argv, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mounting {kind} failed: {done.stderr.decode(errors='replace')}")
    try:
        os.chmod(directory, 0o700)
        yield directory
    finally:
        _unmount(directory)
        if image is not None:
            image.unlink(missing_ok=True)


def resident_bytes(path: Path) -> int:
    """How much of `path` is in the page cache (util-linux's fincore)."""
    fincore = shutil.which("fincore") or "/usr/bin/fincore"
    done = subprocess.run(
        [fincore, "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        check=True,
        text=True,
    )
    return int(done.stdout.strip())


def free_bytes(directory: Path) -> int:
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def ballast(directory: Path, size: int, name: str = "ballast.bin") -> Path:
    """Take `size` bytes of the filesystem (what other uploads, logs... would take)."""
    path = directory / name
    with open(path, "ab") as handle:
        remaining = size
        while remaining > 0:
            chunk = min(remaining, MIB)
            handle.write(b"\0" * chunk)
            remaining -= chunk
        handle.flush()
        os.fsync(handle.fileno())
    return path


@contextmanager
def runtime_on_small_store(
    config: Config, redis: Redis, public_key: str, *, store_mib: int, reserve_mib: int
) -> Iterator[Runtime]:
    """A runtime whose store is a tmpfs of `store_mib` MiB keeping `reserve_mib` free (so
    `store_mib - reserve_mib` of room); the SQLite database stays on the instance's own
    filesystem, watched as well. Without a mount, the same room on the real filesystem."""
    with small_filesystem(config.store_dir, store_mib) as mounted:
        if mounted is not None:
            reserve = DiskReserve(bytes=reserve_mib * MIB, percent=0)
        else:
            room = (store_mib - reserve_mib) * MIB
            reserve = DiskReserve(bytes=free_bytes(config.store_dir) - room, percent=0)
        guarded = replace(config, disk_reserve=reserve, max_upload_bytes=64 * MIB)
        upgrade(guarded.database_url)
        runtime = build_runtime(guarded, redis=redis)
        homes = load_into_sealing_homes(config, public_key)
        try:
            yield runtime
        finally:
            runtime.engine.dispose()
            kill_agent(runtime.keyring.home)
            stop_agents(homes)


def fill_to(runtime: Runtime, headroom: int) -> Path:
    """Ballast in the store that leaves `headroom` bytes above the reserve (negative:
    that far into it)."""
    assert runtime.store.guard is not None
    return ballast(runtime.store.root, runtime.store.guard.headroom() - headroom)
