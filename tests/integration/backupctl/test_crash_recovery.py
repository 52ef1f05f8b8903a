"""A worker killed in the middle of an upload: nothing is recorded, only ciphertext was
ever written, and the sweep shreds what the crash left."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import re
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from backupctl.cli import main
from keys.gpg import kill_agent
from tests.support.leaks import assert_no_leak
from tests.support.product import Run, descendants, make_instance_root, run_env
from tests.support.scratch import server_tmpdir
from tests.support.servers import free_port
from vault.config import KEYRING_SIDES

MARKER = b"CRASH-MARKER-5d1e"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def instance() -> Iterator[Path]:
    root = make_instance_root()
    yield root / "instance"
    for side in KEYRING_SIDES:
        kill_agent(root / "instance" / "gnupg" / side)
    kill_agent(root / "instance" / "dev-workstation-gnupg")
    shutil.rmtree(root, ignore_errors=True)


def _source_workers(run: Run) -> list[int]:
    """gunicorn worker processes of the source app (children of its master)."""
    procs = {}
    for pid in descendants(run.proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if b"backupctl serve source" in cmdline:
            procs[pid] = ppid
    return [pid for pid, ppid in procs.items() if ppid in procs]


def _partials(store: Path) -> list[Path]:
    return [p for p in store.rglob(".partial-*") if p.is_file()]


@pytest.fixture
def server_tmp() -> Iterator[Path]:
    with server_tmpdir() as path:
        yield path


def test_killed_mid_upload_leaves_nothing_after_sweep(
    instance: Path, tmp_path: Path, server_tmp: Path
) -> None:
    source_port, journalist_port = free_port(), free_port()
    env = run_env(source_port, journalist_port)
    env["TMPDIR"] = str(server_tmp)
    run = Run(instance, env, tmp_path / "run.log")
    try:
        run.wait_until_serving(source_port, journalist_port)
        url = f"http://127.0.0.1:{source_port}"
        session = requests.Session()
        token = _CSRF.search(session.get(url + "/generate").text)
        assert token
        session.post(url + "/create", data={"csrf_token": token.group(1)}).raise_for_status()
        token = _CSRF.search(session.get(url + "/lookup").text)
        assert token

        boundary = "crashtestboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{token.group(1)}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="fh"; filename="statement.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        first_part = (MARKER + b" what happened\n") * 100_000  # ~2 MB, then a stall
        conn = http.client.HTTPConnection("127.0.0.1", source_port, timeout=30)
        conn.putrequest("POST", "/submit")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + 10 * len(first_part) + 100))
        conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in session.cookies.items()))
        conn.endheaders()
        conn.send(head + first_part)

        store = instance / "store"
        deadline = time.monotonic() + 20
        while not _partials(store) and time.monotonic() < deadline:
            time.sleep(0.1)
        [partial] = _partials(store)

        workers = _source_workers(run)
        assert workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        # The source is never told the upload arrived.
        with pytest.raises((OSError, http.client.HTTPException)):
            conn.send(first_part)
            conn.getresponse().read()
        conn.close()
    finally:
        run.stop(signal.SIGTERM)
        run.kill()

    # Nothing recorded; the crash left only ciphertext behind.
    with sqlite3.connect(instance / "backup.sqlite") as db:
        assert db.execute("SELECT count(*) FROM submissions").fetchone() == (0,)
    assert partial.exists()
    # The instance holds the SQLite file (and any WAL) and the store.
    assert_no_leak(MARKER.decode(), files=[instance, server_tmp])

    # The sweep (run at every start, or by hand) shreds it once it is stale.
    old = (dt.datetime.now() - dt.timedelta(hours=2)).timestamp()
    os.utime(partial, (old, old))
    env_cli = {"BACKUP_INSTANCE_DIR": str(instance)}
    result = CliRunner().invoke(main, ["--instance", str(instance), "sweep"], env=env_cli)
    assert result.exit_code == 0, result.output
    assert not partial.exists()
    assert [p for p in store.rglob("*") if p.is_file()] == []
    assert [p for p in server_tmp.rglob("*") if p.is_file()] == []
