"""The reviewer's inbox page and `/api/v1/sources` over HTTP at 100, 1,500 and 10,000
sources, as a logged-in reviewer gets them from the product as production serves it.

One `backupctl run` instance per size, all running at once (as bench/tor_speed_uploads.py
starts the product: BACKUP_DEV_TOR=0, free ports on 127.0.0.1, each app under `backupctl
serve`, i.e. gunicorn with web_shared/serving.py's policy, a private Redis; SQLite, or with
`--postgresql` one database per size on a private PostgreSQL server, as
bench/inbox_scale.py starts it, analyzed after seeding as autovacuum would). Each
database is seeded with bench/inbox_scale.py's rows (every filter seeded, one reader per
share of unread sources; see its text) plus each source's stored reply public key (a
real armored key: what the API returns). The readers then log in over HTTP (login
form, CSRF token, passphrase, TOTP code), and another account takes an API token.

Timed, medians of `--repeat` rounds after a warm-up: the first inbox page (`GET /` with
each filter's query string; the whole HTML read), and `GET /api/v1/sources` (the JSON
read and counted). In each round the sizes are visited in alternating order (small to
large, then large to small), one page at a time, so load elsewhere hits every size alike.
The machine's cores and load average are printed before and after.

    .venv/bin/python -m bench.inbox_http [--repeat 15] [--sizes 100,1500,10000] [--postgresql]

Targets (issue 18): 10,000 sources within 2x the time at 100 for every page; the API
list under 1 s at 10,000 sources.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import requests
from sqlalchemy import insert, select, update

from bench import inbox_scale
from keys.gpg import GpgKeyring
from vault.column_key import COLUMN_KEY_FILE, TOTP_SECRET, ColumnKey
from vault.db import make_engine
from vault.models import Reviewer, Role, Source
from vault.services import reviewers

ROOT = Path(__file__).resolve().parent.parent

HOST = "127.0.0.1"
PASSPHRASE = "bench inbox passphrase for every reader"  # noqa: S105  # nosec B105
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PAGES: dict[str, tuple[str, str]] = {
    # label: (reader, query string)
    **{
        name: (inbox_scale.reader_name(inbox_scale.UNREAD_SHARES[0]), query)
        for name, query in (
            ("no filter", ""),
            ("starred", "starred=1"),
            ("assigned to me", "mine=1"),
            ("urgent", "urgent=1"),
            ("status new", "status=new"),
            ("status closed", "status=closed"),
            ("label legal", "label=legal"),
            ("label medical", "label=medical"),
            ("sort by name", "sort=name"),
            ("mine + unread", "mine=1&unread=1"),
        )
    },
    **{
        f"unread {share * 100:g}%": (inbox_scale.reader_name(share), "unread=1")
        for share in inbox_scale.UNREAD_SHARES
    },
}
API_USER = "bench-api"
API_LABEL = "API /api/v1/sources"
WARMUP = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


class Instance:
    """One `backupctl run` of this tree on a fresh instance directory."""

    def __init__(
        self, work: Path, extra_env: dict[str, str] | None = None, root: Path = ROOT
    ) -> None:
        """`root`: the tree to run (another checkout of BackUp, the same venv)."""
        self.instance = work / "instance"
        self._database_url = (extra_env or {}).get("DATABASE_URL")
        self.port = free_port()
        self.source_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "TEST_"))}
        env.pop("REDIS_URL", None)
        env.pop("DATABASE_URL", None)
        env.update(
            BACKUP_INSTANCE_DIR=str(self.instance),
            BACKUP_SOURCE_PORT=str(self.source_port),
            BACKUP_JOURNALIST_PORT=str(self.port),
            BACKUP_DEV_TOR="0",
        )
        env.update(extra_env or {})
        self.log = open(work / "backup.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backupctl", "run"],
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"backupctl run exited: see {work / 'backup.log'}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/login", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError("the reviewer app did not come up")

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def database_url(self) -> str:
        return self._database_url or f"sqlite:///{self.instance / 'backup.sqlite'}"

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.log.close()
        for home in ("gnupg", "dev-workstation-gnupg"):
            subprocess.run(
                ["gpgconf", "--homedir", str(self.instance / home), "--kill", "all"],
                capture_output=True,
                check=False,
            )


def seed(instance: Instance, n: int, armored: str) -> dict[str, str]:
    """inbox_scale's rows, a stored key per source, and loginable readers plus an API
    account. Returns each account's TOTP secret by username."""
    engine = make_engine(instance.database_url)
    hasher = reviewers.make_hasher()
    secrets: dict[str, str] = {}
    with engine.begin() as conn:
        inbox_scale.seed_rows(conn, n)
        conn.execute(update(Source).values(reply_public_key=armored))
        conn.execute(
            insert(Reviewer),
            {
                "uuid": "bench-api-account",
                "username": API_USER,
                "passphrase_hash": "x",
                "otp_secret_sealed": "x",
                "last_totp_step": 0,
                "role": Role.ANALYST,
                "is_active": True,
            },
        )
        # Sealed as the app seals them (vault.column_key), with the instance's key file.
        key = ColumnKey.load_or_generate(instance.instance / COLUMN_KEY_FILE)
        for name in [inbox_scale.reader_name(s) for s in inbox_scale.UNREAD_SHARES] + [API_USER]:
            secrets[name] = pyotp.random_base32()
            uuid = conn.scalars(select(Reviewer.uuid).where(Reviewer.username == name)).one()
            conn.execute(
                update(Reviewer)
                .where(Reviewer.username == name)
                .values(
                    passphrase_hash=hasher.hash(PASSPHRASE),
                    otp_secret_sealed=key.seal(secrets[name], TOTP_SECRET, uuid),
                )
            )
    if engine.dialect.name == "postgresql":
        # What autovacuum reaches within a minute of a bulk load (inbox_scale.seed).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return secrets


def web_login(instance: Instance, username: str, secret: str) -> requests.Session:
    """The login form over HTTP, as a browser sends it (the unread rows are rebuilt)."""
    session = requests.Session()
    page = session.get(f"{instance.url}/login", timeout=30).text
    token = CSRF.search(page)
    if token is None:
        raise RuntimeError("no CSRF token on /login")
    answer = session.post(
        f"{instance.url}/login",
        data={
            "csrf_token": token.group(1),
            "username": username,
            "passphrase": PASSPHRASE,
            "code": pyotp.TOTP(secret).now(),
        },
        allow_redirects=False,
        timeout=60,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"login of {username} refused: {answer.status_code}")
    return session


def api_token(instance: Instance, secret: str) -> dict[str, str]:
    answer = requests.post(
        f"{instance.url}/api/v1/token",
        json={
            "username": API_USER,
            "passphrase": PASSPHRASE,
            "one_time_code": pyotp.TOTP(secret).now(),
        },
        timeout=60,
    )
    answer.raise_for_status()
    return {"Authorization": f"Token {answer.json()['token']}"}


def timed_get(session: requests.Session, url: str, **kwargs: object) -> tuple[float, bytes]:
    start = time.perf_counter()
    answer = session.get(url, timeout=120, **kwargs)  # type: ignore[arg-type]
    body = answer.content
    elapsed = time.perf_counter() - start
    if answer.status_code != 200:
        raise RuntimeError(f"{url}: {answer.status_code}")
    return elapsed, body


@contextlib.contextmanager
def instances(
    sizes: tuple[int, ...], work: Path, template: str | None = None
) -> Iterator[dict[int, Instance]]:
    """One instance per size; `template` (a database URL with `{n}`) for PostgreSQL."""
    started: dict[int, Instance] = {}
    try:
        for n in sizes:
            (work / str(n)).mkdir()
            env = {"DATABASE_URL": template.format(n=n)} if template else None
            started[n] = Instance(work / str(n), env)
        yield started
    finally:
        for instance in started.values():
            instance.stop()


def reply_key_armor(work: Path) -> str:
    """A real reply key's public half, as gpg exports it (what each source row holds)."""
    keyring = GpgKeyring(work / "keygen-gnupg")
    fingerprint = keyring.generate_reply_key("Autogenerated Key", "x" * 64)
    armored = keyring.export_public(fingerprint)
    subprocess.run(
        ["gpgconf", "--homedir", str(work / "keygen-gnupg"), "--kill", "all"],
        capture_output=True,
        check=False,
    )
    return armored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--sizes", default=",".join(str(n) for n in inbox_scale.SIZES))
    parser.add_argument("--postgresql", action="store_true", help="start a private server")
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.sizes.split(","))
    database = "PostgreSQL" if args.postgresql else "SQLite"
    print(f"{database}, {inbox_scale.PER_SOURCE} submissions per source; before: {machine()}")
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        template = inbox_scale.postgresql_template(stack, sizes) if args.postgresql else None
        running = stack.enter_context(instances(sizes, Path(tmp), template))
        _run(args.repeat, sizes, Path(tmp), running)
    print(f"after: {machine()}")


def _run(repeat: int, sizes: tuple[int, ...], tmp: Path, running: dict[int, Instance]) -> None:
    """Seed, log in, time every page and the API list; print the table."""
    armored = reply_key_armor(tmp)
    sessions: dict[int, dict[str, requests.Session]] = {}
    tokens: dict[int, dict[str, str]] = {}
    for n, instance in running.items():
        start = time.perf_counter()
        secrets = seed(instance, n, armored)
        seeded = time.perf_counter() - start
        start = time.perf_counter()
        sessions[n] = {
            name: web_login(instance, name, secrets[name])
            for name in {reader for reader, _query in PAGES.values()}
        }
        tokens[n] = api_token(instance, secrets[API_USER])
        logins = (time.perf_counter() - start) / (len(sessions[n]) + 1)
        print(
            f"{n:>6,} sources: seeded in {seeded:.1f} s; a login (argon2id, unread rows "
            f"rebuilt) {logins * 1000:.0f} ms on average"
        )
    api = requests.Session()

    def request_for(label: str, n: int) -> tuple[requests.Session, str, dict[str, object]]:
        if label == API_LABEL:
            return api, f"{running[n].url}/api/v1/sources", {"headers": tokens[n]}
        reader, query = PAGES[label]
        return sessions[n][reader], f"{running[n].url}/?{query}", {}

    results: dict[str, dict[int, float]] = {}
    for label in [*PAGES, API_LABEL]:
        samples: dict[int, list[float]] = {n: [] for n in sizes}
        for rnd in range(WARMUP + repeat):
            for n in sizes if rnd % 2 == 0 else tuple(reversed(sizes)):
                session, url, kwargs = request_for(label, n)
                elapsed, body = timed_get(session, url, **kwargs)
                if label == API_LABEL and body.count(b'"journalist_designation"') != n:
                    raise RuntimeError(f"the API listed the wrong number of sources at {n}")
                if not label == API_LABEL and b"csrf_token" not in body:
                    raise RuntimeError(f"{url} did not answer the inbox page")
                if rnd >= WARMUP:
                    samples[n].append(elapsed)
        results[label] = {n: statistics.median(v) * 1000 for n, v in samples.items()}
    small, large = min(sizes), max(sizes)
    header = " | ".join(f"{n:>6,} sources" for n in sizes)
    print(f"{'over HTTP':>20} | {header} | ratio {large:,}/{small}")
    worst = 0.0
    for label, by_size in results.items():
        ratio = by_size[large] / by_size[small]
        if not label == API_LABEL:
            worst = max(worst, ratio)
        cells = " | ".join(f"{by_size[n]:11.1f} ms" for n in sizes)
        print(f"{label:>20} | {cells} | {ratio:.2f}")
    print(
        f"inbox pages: worst ratio {worst:.2f} (target <= 2); API list at {large:,} "
        f"sources: {results[API_LABEL][large]:.0f} ms (target < 1000)"
    )


if __name__ == "__main__":
    main()
