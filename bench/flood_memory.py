"""What login floods leave in the apps' memory, and what holds it.

Each run is a fresh `backupctl run` instance (as bench/inbox_http.py starts it: the apps
under `backupctl serve`, gunicorn with web_shared/serving.py's policy: 2 workers x 32
threads per app). Two floods, each attempt on its own Tor circuit (a PROXY line, as tor
sends, so that no per-client budget refuses it and every attempt does its full work),
`--concurrency` at once:

- reviewer logins: the login form (GET, CSRF token), then a wrong passphrase (argon2id,
  RFC 9106 low-memory profile: 64 MiB) for an existing account;
- codename logins on the source app: a well-formed codename that exists nowhere (one
  scrypt derivation, n=2^14 r=8: 16 MiB).

RSS (from /proc) of each app's gunicorn workers, summed, is read before the floods, right
after, and after `--settle` seconds idle. The largest worker's memory is split from
/proc/PID/smaps: the main heap ([heap]), glibc's per-thread malloc arenas (anonymous
mappings inside 64 MiB-aligned reservations), and the rest (Python's own 1 MiB arenas,
libraries, stacks...).

Sides, in alternating order over `--repeat` rounds (A B C, C B A, ...): "before", the
tree at `--baseline-commit` (extracted with `git archive` into a temporary directory,
run with the same venv); "before, arenas 2", the same with MALLOC_ARENA_MAX=2 (the
usual remedy for arena growth); "this tree", with its fixed mmap threshold
(web_shared.native_memory).

    .venv/bin/python -m bench.flood_memory [--attempts 400] [--concurrency 24]
        [--repeat 2] [--settle 30] [--baseline-commit e2d445e]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import re
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import column, insert, inspect, table

from bench.inbox_http import PASSPHRASE, Instance, machine
from vault import codenames
from vault.db import UTCDateTime, make_engine
from vault.models import Role
from vault.services import reviewers

ROOT = Path(__file__).resolve().parent.parent

HOST = "127.0.0.1"
CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')
ARENA_ALIGN = 64 * 1024 * 1024  # glibc's HEAP_MAX_SIZE on 64-bit


def circuit_line(index: int) -> bytes:
    """What tor prepends for a stream on circuit `index` (HiddenServiceExportCircuitID)."""
    address = f"fc00:dead:beef:4dad::{index >> 16:x}:{index & 0xFFFF:x}"
    return f"PROXY TCP6 {address} ::1 {index} 80\r\n".encode()


class Circuit(http.client.HTTPConnection):
    def __init__(self, port: int, circuit: int) -> None:
        super().__init__(HOST, port, timeout=120)
        self._line = circuit_line(circuit)

    def connect(self) -> None:
        super().connect()
        self.sock.sendall(self._line)


def _request(
    conn: Circuit, method: str, path: str, cookie: str, form: dict[str, str] | None = None
) -> tuple[int, bytes, str]:
    headers = {"Host": f"{HOST}:{conn.port}"}
    if cookie:
        headers["Cookie"] = cookie
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    cookies = [c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or []]
    return response.status, data, "; ".join(cookies) or cookie


def login_attempt(port: int, circuit: int, form: dict[str, str], expect: int) -> None:
    """One refused login on its own circuit (`expect`: the refusal's status)."""
    conn = Circuit(port, circuit)
    try:
        status, page, cookie = _request(conn, "GET", "/login", "")
        token = CSRF.search(page)
        if status != 200 or token is None:
            raise RuntimeError(f"GET /login: {status}")
        status, _page, _cookie = _request(
            conn, "POST", "/login", cookie, {**form, "csrf_token": token.group(1).decode()}
        )
        if status != expect:
            raise RuntimeError(f"POST /login: {status}, expected {expect}")
    finally:
        conn.close()


def workers(instance: Instance, app: str) -> list[int]:
    """The gunicorn workers of `backupctl serve <app>` (not their master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes()
            if f"backupctl serve {app}" in cmd and str(instance.instance).encode() in environ:
                found.append(int(entry.name))
    # The master is the one whose parent is not a serve process of the same app.
    parents = {
        pid: int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        for pid in found
    }
    return [pid for pid in found if parents[pid] in found]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def smaps_split(pid: int) -> dict[str, float]:
    """RSS in MiB: main heap, glibc thread arenas, everything else."""
    split = {"main heap": 0.0, "thread arenas": 0.0, "other": 0.0}
    region = "other"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
            start, end = (int(x, 16) for x in head[0].split("-"))
            name = head[5] if len(head) > 5 else ""
            if name == "[heap]":
                region = "main heap"
            elif not name and start % ARENA_ALIGN == 0 and end - start <= ARENA_ALIGN:
                region = "thread arenas"  # a glibc heap starts 64 MiB-aligned
            else:
                region = "other"
        elif head[0] == "Rss:":
            split[region] += int(head[1]) / 1024
    return split


@dataclass
class Reading:
    journalist: float
    source: float
    largest: dict[str, float]


def read(instance: Instance) -> Reading:
    pids = {app: workers(instance, app) for app in ("journalist", "source")}
    every = pids["journalist"] + pids["source"]
    largest = max(every, key=rss_mib)
    return Reading(
        sum(rss_mib(p) for p in pids["journalist"]),
        sum(rss_mib(p) for p in pids["source"]),
        smaps_split(largest),
    )


def account(instance: Instance) -> str:
    engine = make_engine(instance.database_url)
    with engine.begin() as conn:
        # The flood's passphrases are wrong: its TOTP secret is never read. Its column is
        # the clear one before migration 0014 (the baseline may be older), sealed after.
        names = {c["name"] for c in inspect(conn).get_columns("reviewers")}
        totp = "otp_secret_sealed" if "otp_secret_sealed" in names else "otp_secret"
        reviewers_table = table(
            "reviewers",
            *(column(name) for name in ("uuid", "username", "passphrase_hash", totp)),
            *(column(name) for name in ("last_totp_step", "role", "is_active")),
            column("created_at", UTCDateTime()),
        )
        conn.execute(
            insert(reviewers_table),
            {
                "uuid": "flood-target",
                "username": "analyst1",
                "passphrase_hash": reviewers.make_hasher().hash(PASSPHRASE),
                totp: "never-read",
                "last_totp_step": 0,
                "role": Role.ANALYST.name,
                "is_active": True,
                "created_at": dt.datetime.now(dt.UTC),
            },
        )
    engine.dispose()
    return "analyst1"


def extract(commit: str, into: Path) -> Path:
    """The tree at `commit`, as files (no worktree registered, nothing else touched)."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_side(
    root: Path, extra_env: dict[str, str], attempts: int, concurrency: int, settle: float
) -> dict[str, Reading]:
    with tempfile.TemporaryDirectory() as tmp:
        instance = Instance(Path(tmp), extra_env, root)
        try:
            username = account(instance)
            # Warm-up: each worker has served its pages and loaded its code.
            for circuit in range(1, 9):
                login_attempt(
                    instance.port,
                    circuit,
                    {"username": username, "passphrase": "wrong " * 4, "code": "000000"},
                    401,
                )
                login_attempt(
                    instance.source_port, circuit, {"codename": codenames.generate_codename()}, 403
                )
            readings = {"before": read(instance)}
            jobs = []
            with ThreadPoolExecutor(concurrency) as pool:
                for k in range(attempts):
                    circuit = 1000 + k
                    jobs.append(
                        pool.submit(
                            login_attempt,
                            instance.port,
                            circuit,
                            {
                                "username": username,
                                "passphrase": "a wrong passphrase",
                                "code": "123456",
                            },
                            401,
                        )
                    )
                    jobs.append(
                        pool.submit(
                            login_attempt,
                            instance.source_port,
                            circuit,
                            {"codename": codenames.generate_codename()},
                            403,
                        )
                    )
                for job in jobs:
                    job.result()
            readings["after flood"] = read(instance)
            time.sleep(settle)
            readings[f"after {settle:g} s idle"] = read(instance)
            return readings
        finally:
            instance.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=400, help="per flood")
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--settle", type=float, default=30)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline-commit", default="e2d445e")
    args = parser.parse_args()
    print(
        f"{args.attempts} reviewer logins + {args.attempts} codename logins, "
        f"{args.concurrency} at once; before: {machine()}"
    )
    with tempfile.TemporaryDirectory() as trees:
        baseline = extract(args.baseline_commit, Path(trees) / "baseline")
        sides: dict[str, tuple[Path, dict[str, str]]] = {
            f"before ({args.baseline_commit})": (baseline, {}),
            f"before ({args.baseline_commit}), MALLOC_ARENA_MAX=2": (
                baseline,
                {"MALLOC_ARENA_MAX": "2"},
            ),
            "this tree": (ROOT, {}),
        }
        results: dict[str, list[dict[str, Reading]]] = {name: [] for name in sides}
        names = list(sides)
        for rnd in range(args.repeat):
            for name in names if rnd % 2 == 0 else list(reversed(names)):
                root, env = sides[name]
                results[name].append(
                    run_side(root, env, args.attempts, args.concurrency, args.settle)
                )
                print(f"round {rnd + 1}: {name} done")
    for name, runs in results.items():
        print(f"\n{name}; medians of {len(runs)} runs, RSS in MiB")
        print(
            f"{'':>17} | reviewer app | source app | largest worker: "
            "main heap / thread arenas / other"
        )
        for moment in runs[0]:
            got = [r[moment] for r in runs]
            journalist = statistics.median(g.journalist for g in got)
            source = statistics.median(g.source for g in got)
            parts = [statistics.median(g.largest[k] for g in got) for k in got[0].largest]
            print(
                f"{moment:>17} | {journalist:12.0f} | {source:10.0f} | "
                + " / ".join(f"{p:.0f}" for p in parts)
            )
    print(f"\nafter: {machine()}")


if __name__ == "__main__":
    main()
