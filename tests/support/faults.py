"""Faults against the product as users reach it, and the checks every fault must pass.

The product is started by `launch` (`backupctl run`: both apps through `backupctl
serve`, the serving command production runs, and the RQ worker, under one supervisor)
with Redis and the database given from outside, so a test can take them down and bring
them back. A `Visitor` is a source as Tor Browser
with JavaScript off would be: pages, CSRF tokens, multipart uploads.

After each fault the same five checks hold:
- `assert_error_page`: the answer is our neutral error page with our headers (no stack
  trace, no server banner), or the connection was cut (a killed process says nothing);
  never a hang (every request has a timeout).
- `assert_no_plaintext`: the marker every submission carries is nowhere on the server's
  side (files, database rows, Redis, logs, temp directory).
- `assert_acknowledged_intact`: every submission that got its success page is in the
  database, its file is complete (size and SHA-256 of the row) and opens with the
  submission key to exactly what was sent.
- `sweep_and_assert_consistent`: after the store sweep, no row without its file, no file
  without its row.
- `wait_until_back`: the next submission succeeds without an operator, within a bound.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from redis import Redis
from sqlalchemy import select

import journalist_app
import source_app
from backupctl.cli import main as backupctl_main
from backupctl.dev.key import DEV_PASSPHRASE_FILE, DEV_WORKSTATION_HOME
from keys.gpg import GpgKeyring, kill_agent
from tests.support.leaks import assert_no_leak
from tests.support.product import Run, descendants, make_instance_root, run_env
from tests.support.scratch import server_tmpdir
from tests.support.servers import free_port
from vault.config import KEYRING_SIDES
from vault.db import make_engine, make_session_factory
from vault.models import Reply, Source, Submission
from vault.services import deletion
from vault.services.source_consent import state_name
from web_shared.security import CSP, pages_csp

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REQUEST_TIMEOUT = 30.0
# A fault is over when the next submission succeeds: within this bound, no operator.
RECOVERY_BOUND_SECONDS = 30.0


def launch(instance: Path, env: dict[str, str], log: Path) -> Run:
    """Start the product as users reach it: `backupctl run`, which serves both apps with
    `backupctl serve` (the command production's units run) and runs the RQ worker. The
    one place to change how the fault tests start the product."""
    return Run(instance, env, log)


@dataclass
class Product:
    """One running product and what the checks need to look at."""

    instance: Path
    run: Run
    source_port: int
    journalist_port: int
    database_url: str
    redis_url: str
    server_tmp: Path

    @property
    def source_url(self) -> str:
        return f"http://127.0.0.1:{self.source_port}"

    @property
    def store(self) -> Path:
        return self.instance / "store"

    def processes(self, needle: bytes) -> dict[int, int]:
        """pid -> parent pid of every product process whose command line has `needle`."""
        found = {}
        for pid in descendants(self.run.proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if needle in cmdline:
                found[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        return found

    def source_workers(self) -> list[int]:
        """gunicorn workers of the source app (children of its master)."""
        procs = self.processes(b"backupctl serve source")
        return [pid for pid, ppid in procs.items() if ppid in procs]

    def rq_worker(self) -> int | None:
        procs = self.processes(b"backupctl worker")
        return next(iter(procs), None)


def instance_root() -> Iterator[Path]:
    """A short-pathed instance directory (gpg-agent sockets), removed afterwards."""
    root = make_instance_root()
    yield root / "instance"
    for side in KEYRING_SIDES:
        kill_agent(root / "instance" / "gnupg" / side)
    kill_agent(root / "instance" / DEV_WORKSTATION_HOME)
    shutil.rmtree(root, ignore_errors=True)


@contextmanager
def running_product(
    instance: Path,
    workdir: Path,
    *,
    redis_url: str,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Product]:
    """The product on `instance`, with the given Redis and database, until the block ends."""
    with server_tmpdir() as server_tmp:
        yield from _running_product(
            instance,
            workdir,
            server_tmp,
            redis_url=redis_url,
            database_url=database_url,
            extra_env=extra_env,
        )


def _running_product(
    instance: Path,
    workdir: Path,
    server_tmp: Path,
    *,
    redis_url: str,
    database_url: str | None,
    extra_env: dict[str, str] | None,
) -> Iterator[Product]:
    source_port, journalist_port = free_port(), free_port()
    env = run_env(source_port, journalist_port)
    # Every client of these tests connects from 127.0.0.1 without a PROXY line: one
    # client, one budget. The faults are under test here, not the budgets (floods:
    # tests/integration/web_shared/test_floods.py), so that one client may create and log in
    # as often as the full-size runs need.
    env.update(
        BACKUP_NEW_SOURCES_BURST="10000",
        BACKUP_SOURCE_LOGIN_BURST="10000",
        BACKUP_REVIEWER_LOGIN_BURST="10000",
    )
    env.update(TMPDIR=str(server_tmp), REDIS_URL=redis_url, **(extra_env or {}))
    if database_url:
        env["DATABASE_URL"] = database_url
    run = launch(instance, env, workdir / f"run-{source_port}.log")
    try:
        run.wait_until_serving(source_port, journalist_port)
        yield Product(
            instance=instance,
            run=run,
            source_port=source_port,
            journalist_port=journalist_port,
            database_url=database_url or f"sqlite:///{instance / 'backup.sqlite'}",
            redis_url=redis_url,
            server_tmp=server_tmp,
        )
    finally:
        run.stop(signal.SIGTERM)
        run.kill()


# -- a source ---------------------------------------------------------------------------


@dataclass
class Sent:
    """What one submission carried (kept by the test, never by the server)."""

    message: bytes
    files: list[tuple[str, bytes]] = field(default_factory=list)

    def contents(self) -> list[bytes]:
        message = self.message.strip()  # as the service stores it
        items = [message] if message else []
        return items + [data for _name, data in self.files]


@dataclass
class Outcome:
    sent: Sent
    acknowledged: bool
    status: int | None  # None: the connection was cut or timed out
    response: requests.Response | None
    error: str = ""


class Visitor:
    """A source with a codename, in its own requests session.

    `base_url` and `session`: reach the product another way (its onion address, through
    a Tor client's SOCKS port) instead of 127.0.0.1 directly.
    """

    def __init__(
        self,
        product: Product,
        base_url: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.product = product
        self.base_url = base_url or product.source_url
        self.session = session or requests.Session()

    def token(self, path: str = "/lookup") -> str:
        page = self.session.get(self.base_url + path, timeout=REQUEST_TIMEOUT)
        page.raise_for_status()
        match = CSRF.search(page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def start(self) -> Visitor:
        token = self.token("/generate")
        created = self.session.post(
            self.base_url + "/create",
            data={"csrf_token": token},
            timeout=REQUEST_TIMEOUT,
        )
        created.raise_for_status()
        assert created.url.endswith("/lookup"), created.url
        return self

    def submit(self, sent: Sent, token: str | None = None) -> Outcome:
        """POST a message and files; acknowledged only on the redirect to the thanks.

        `token`: a CSRF token fetched earlier (the form the source has open in the
        browser when the fault happens); else the form is loaded first.
        """
        try:
            if token is None:
                form = self.session.get(self.base_url + "/lookup", timeout=30)
                match = CSRF.search(form.text) if form.status_code == 200 else None
                if match is None:
                    return Outcome(sent, False, form.status_code, form, "form not shown")
                token = match.group(1)
            files = [("fh", (name, data, "application/octet-stream")) for name, data in sent.files]
            answer = self.session.post(
                self.base_url + "/submit",
                data={"csrf_token": token, "msg": sent.message.decode()},
                files=files or None,
                timeout=REQUEST_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return Outcome(sent, False, None, None, type(exc).__name__)
        acknowledged = answer.status_code == 302 and answer.headers.get("Location", "").endswith(
            "/lookup"
        )
        if acknowledged:
            # The page the source then sees says it arrived and gives the receipt codes.
            try:
                thanks = self.session.get(self.base_url + "/lookup", timeout=30)
                acknowledged = "receipt" in thanks.text.lower()
            except requests.RequestException:
                pass  # the 302 was already the success answer
        return Outcome(sent, acknowledged, answer.status_code, answer)


def open_upload(
    product: Product, visitor: Visitor, head_bytes: bytes, total: int
) -> http.client.HTTPConnection:
    """Start a multipart upload of `total` announced bytes and send `head_bytes` of the
    file: the request stays in progress (the rest never comes unless the test sends it)."""
    token = visitor.token()
    boundary = "faultboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{token}\r\n--{boundary}\r\nContent-Disposition: form-data; "
        f'name="fh"; filename="statement.txt"\r\nContent-Type: text/plain\r\n\r\n'
    ).encode()
    conn = http.client.HTTPConnection("127.0.0.1", product.source_port, timeout=REQUEST_TIMEOUT)
    conn.putrequest("POST", "/submit")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + total + 100))
    cookies = "; ".join(f"{k}={v}" for k, v in visitor.session.cookies.items())
    conn.putheader("Cookie", cookies)
    conn.endheaders()
    conn.send(head + head_bytes)
    return conn


def partials(store: Path) -> list[Path]:
    return [p for p in store.rglob(".partial-*") if p.is_file()]


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll until `predicate()` is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")


# -- the checks -------------------------------------------------------------------------

_OUR_CSPS = frozenset(
    {
        CSP,
        pages_csp(Path(source_app.__file__).parent / "static"),
        pages_csp(Path(journalist_app.__file__).parent / "static"),
    }
)


def assert_error_page(response: requests.Response | None) -> str:
    """Our neutral error page with our headers, or a cut connection. Returns what it was."""
    if response is None:
        return "connection closed"
    assert response.status_code >= 400, response.status_code
    # gunicorn's own answers carry CSP; the apps' pages, CSP allowing their stylesheet.
    assert response.headers.get("Content-Security-Policy") in _OUR_CSPS, dict(response.headers)
    assert response.headers.get("Server") == "BackUp", response.headers.get("Server")
    assert "no-store" in response.headers.get("Cache-Control", "")
    body = response.text
    assert "Traceback" not in body and "gunicorn" not in body.lower()
    assert 'class="exit"' in body, body[:500]  # the quick-exit link of every page
    assert "<h1>" in body, body[:500]
    return f"{response.status_code} error page"


def assert_no_plaintext(product: Product, marker: str, *extra_roots: Path) -> None:
    """The marker, in any form (tests/support/leaks), in no file the product writes, no
    database cell or file, no Redis value."""
    engine = make_engine(product.database_url)
    redis = Redis.from_url(product.redis_url)
    try:
        assert_no_leak(
            marker,
            files=[product.instance, product.server_tmp, product.run.log_path, *extra_roots],
            engine=engine,
            redis=redis,
        )
    finally:
        redis.close()
        engine.dispose()


def _workstation(product: Product) -> tuple[GpgKeyring, str]:
    home = product.instance / DEV_WORKSTATION_HOME
    passphrase = (product.instance / DEV_PASSPHRASE_FILE).read_text().strip()
    return GpgKeyring(home, server=False), passphrase


def stored_plaintexts(product: Product) -> list[bytes]:
    """Open every recorded submission with the submission key (as the workstation does),
    checking on the way that each file is complete: its size and SHA-256 are the row's."""
    keyring, passphrase = _workstation(product)
    engine = make_engine(product.database_url)
    opened = []
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Source.uuid, Submission.filename, Submission.size, Submission.sha256)
                .join(Submission.source)
                .where(Submission.deleted_at.is_(None))
            ).all()
    finally:
        engine.dispose()
    for source_uuid, filename, size, sha256 in rows:
        path = product.store / source_uuid / filename
        data = path.read_bytes()
        assert len(data) == size, f"{filename}: {len(data)} bytes, row says {size}"
        assert hashlib.sha256(data).hexdigest() == sha256, f"{filename}: hash differs"
        plain = keyring.open_bytes(data, passphrase)
        opened.append(gzip.decompress(plain) if filename.endswith(".gz.gpg") else plain)
    return opened


def assert_acknowledged_intact(product: Product, outcomes: list[Outcome]) -> int:
    """Every acknowledged submission is stored whole; returns how many were checked."""
    stored = stored_plaintexts(product)
    acknowledged = [o for o in outcomes if o.acknowledged]
    for outcome in acknowledged:
        for content in outcome.sent.contents():
            assert content in stored, f"acknowledged content lost: {content[:40]!r}"
    return len(acknowledged)


def sweep_and_assert_consistent(product: Product) -> int:
    """Age every file past the sweep's minimum, sweep as the operator's timer does, then
    no row without its file and no file without its row. Returns the files swept."""
    old = time.time() - 7200
    for path in product.store.rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))
    env = {
        "BACKUP_INSTANCE_DIR": str(product.instance),
        "REDIS_URL": product.redis_url,
        "DATABASE_URL": product.database_url,
    }
    result = CliRunner().invoke(
        backupctl_main, ["--instance", str(product.instance), "sweep"], env=env
    )
    assert result.exit_code == 0, result.output
    swept = int(re.search(r"Shredded (\d+)", result.output).group(1))  # type: ignore[union-attr]
    engine = make_engine(product.database_url)
    try:
        with engine.connect() as conn:
            recorded = {
                product.store / uuid / name
                for model in (Submission, Reply)
                for uuid, name in conn.execute(
                    select(Source.uuid, model.filename).join(model.source)
                )
            }
    finally:
        engine.dispose()
    on_disk = {p for p in product.store.rglob("*") if p.is_file()}
    # A source's consent state (`N-designation-consent.gpg`) has no row of its own: it
    # belongs beside its recorded submission N (vault.services.source_consent).
    states = {p.parent / state_name(p.name) for p in recorded}
    on_disk -= states & on_disk
    assert recorded - on_disk == set(), "rows without their file"
    assert on_disk - recorded == set(), "files without their row"
    return swept


def wait_until_back(
    product: Product, marker: str, bound: float = RECOVERY_BOUND_SECONDS
) -> tuple[float, Outcome]:
    """Seconds until a new source can send something again (no operator), and that
    submission; fails past `bound`."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < bound:
        try:
            visitor = Visitor(product).start()
        except (requests.RequestException, AssertionError) as exc:
            last = type(exc).__name__
            time.sleep(0.25)
            continue
        outcome = visitor.submit(Sent(f"{marker} back again".encode()))
        if outcome.acknowledged:
            return time.monotonic() - started, outcome
        last = f"submit {outcome.status} {outcome.error}"
        time.sleep(0.25)
    pytest.fail(f"not back within {bound}s (last: {last}):\n{product.run.output[-3000:]}")


def assert_deletion_works(product: Product, marker: str, bound: float = 60.0) -> float:
    """The RQ worker is alive and connected: a new source's deletion is carried out
    (files shredded, rows removed) within `bound`. Returns the seconds it took."""
    visitor = Visitor(product).start()
    assert visitor.submit(Sent(f"{marker} to be deleted".encode())).acknowledged
    engine = make_engine(product.database_url)
    redis = Redis.from_url(product.redis_url)
    try:
        with make_session_factory(engine)() as db:
            newest = db.scalar(select(Source).order_by(Source.id.desc()).limit(1))
            assert newest is not None
            directory = product.store / newest.uuid
            assert directory.exists()
            started = time.monotonic()
            deletion.request_source_deletion(db, redis, newest)
            db.commit()  # the caller commits: the job is queued then
        wait_for(lambda: not directory.exists(), bound, "the deletion carried out")
        with engine.connect() as conn:
            wait_for(
                lambda: conn.scalar(select(Source.id).where(Source.uuid == directory.name)) is None,
                bound,
                "the source row removed",
            )
        return time.monotonic() - started
    finally:
        redis.close()
        engine.dispose()


class Background:
    """Complete submissions sent continuously from another thread while faults happen:
    whatever of them got acknowledged must survive."""

    def __init__(self, product: Product, marker: str) -> None:
        self.product = product
        self.marker = marker
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        visitor: Visitor | None = None
        n = 0
        while not self._stop.is_set():
            try:
                visitor = visitor or Visitor(self.product).start()
            except (requests.RequestException, AssertionError):
                visitor = None
                self._stop.wait(0.2)
                continue
            n += 1
            body = f"{self.marker} background {n} ".encode() * 200
            outcome = visitor.submit(Sent(body[:2000], [(f"bg{n}.txt", body * 5)]))
            self.outcomes.append(outcome)
            if not outcome.acknowledged:
                visitor = None  # start afresh: the session may be gone with Redis
            self._stop.wait(0.2)

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(REQUEST_TIMEOUT * 3)

    @property
    def acknowledged(self) -> int:
        return sum(1 for o in self.outcomes if o.acknowledged)
