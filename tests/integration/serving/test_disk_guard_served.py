"""The disk reserve through the production serving path (`backupctl run`: gunicorn with
the serving worker), the store on a tmpfs the suite mounts: a client sending at Tor-like
pace gets the clear 507 page (with our headers) when its upload cannot fit, and again
when the disk fills under it mid-upload; nothing is stored; once room is back the same
source sends."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import source_app
from keys.gpg import kill_agent
from tests.support.filesystems import MIB, ballast, free_bytes, small_filesystem
from tests.support.product import Run, make_instance_root, run_env
from tests.support.servers import free_port
from tests.support.slow_client import Answer, paced_upload
from vault.config import KEYRING_SIDES
from web_shared.security import SECURITY_HEADERS, pages_csp

HOST = "127.0.0.1"
STORE_MIB, RESERVE_MIB = 40, 8
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Served:
    store: Path
    port: int

    def stored(self) -> list[Path]:
        return [p for p in self.store.rglob("*") if p.is_file() and p.name != "ballast.bin"]

    def headroom(self) -> int:
        return free_bytes(self.store) - RESERVE_MIB * MIB


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = make_instance_root()
    instance = root / "instance"
    store = instance / "store"
    instance.mkdir(mode=0o700)
    source_port, journalist_port = free_port(), free_port()
    with small_filesystem(store, STORE_MIB) as mounted:
        if mounted is None:
            pytest.skip("mounting a tmpfs needs root; tests/integration/source_app covers it")
        env = run_env(source_port, journalist_port)
        env.update(BACKUP_DISK_RESERVE_MIB=str(RESERVE_MIB), BACKUP_DISK_RESERVE_PERCENT="0")
        run = Run(instance, env, tmp_path_factory.mktemp("guard") / "run.log")
        try:
            run.wait_until_serving(source_port, journalist_port)
            yield Served(store, source_port)
        finally:
            run.stop(signal.SIGTERM)
            for side in KEYRING_SIDES:
                kill_agent(instance / "gnupg" / side)
            kill_agent(instance / "dev-workstation-gnupg")
    shutil.rmtree(root, ignore_errors=True)


def _new_source(port: int) -> tuple[str, str]:
    url = f"http://{HOST}:{port}"
    session = requests.Session()
    token = _CSRF.search(session.get(url + "/generate", timeout=30).text)
    assert token
    session.post(url + "/create", data={"csrf_token": token.group(1)}, timeout=30)
    token = _CSRF.search(session.get(url + "/lookup", timeout=30).text)
    assert token
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items()), token.group(1)


def _upload(served: Served, size: int, rate: int, source: tuple[str, str] | None = None) -> Answer:
    cookie, token = source or _new_source(served.port)
    return paced_upload(
        HOST,
        served.port,
        "/submit",
        {"csrf_token": token, "msg": ""},
        [("fh", "video.mp4", os.urandom(size))],
        rate_bytes_per_s=rate,
        headers={"Cookie": cookie},
        chunk=16 * 1024,
    )


def test_an_upload_that_cannot_fit_gets_the_page_at_once(served: Served) -> None:
    answer = _upload(served, 36 * MIB, rate=400_000)
    assert answer.status == 507 and b"Sending is paused" in answer.body
    assert answer.seconds < 30  # not after sending 36 MiB at 400 KB/s (90 s)
    print(f"\n36 MiB announced, 32 MiB of room: 507 after {answer.seconds:.2f} s")
    source_csp = pages_csp(Path(source_app.__file__).parent / "static")
    for name, value in SECURITY_HEADERS:
        expected = source_csp if name == "Content-Security-Policy" else value
        assert answer.headers[name.lower()] == expected
    assert served.stored() == []


def test_the_disk_filling_mid_upload_stops_it_with_the_page(served: Served) -> None:
    source = _new_source(served.port)

    def others_fill_the_disk() -> None:
        time.sleep(3)  # about 1.5 MiB into the upload
        ballast(served.store, served.headroom() - MIB)

    filler = threading.Thread(target=others_fill_the_disk)
    filler.start()
    try:
        answer = _upload(served, 6 * MIB, rate=500_000, source=source)
    finally:
        filler.join()
    assert answer.status == 507 and b"Sending is paused" in answer.body
    assert 3 < answer.seconds < 12  # stopped after the disk filled, before the end
    print(f"\n6 MiB at 500 KB/s, disk filled at 3 s: 507 after {answer.seconds:.1f} s")
    assert served.stored() == [] and not list(served.store.rglob(".partial-*"))

    (served.store / "ballast.bin").unlink()  # room is back: nothing to restart
    assert _upload(served, MIB, rate=2_000_000, source=source).status == 302
    assert len([p for p in served.stored() if p.name.endswith("-doc.gz.gpg")]) == 1
