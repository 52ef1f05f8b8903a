"""Wires the domain's parts together for a process: built once by each app factory,
the worker and the CLI, and passed around explicitly (no global singletons)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from keys.gpg import GpgKeyring
from keys.homes import is_legacy_home
from keys.lifecycle import SUBMISSION_KEY_FILE
from keys.receipts import RECEIPT_KEY_FILE, ReceiptKeyFile
from vault.column_key import COLUMN_KEY_FILE, ColumnKeyFile, bind_column_key
from vault.config import Config, KeyringSide
from vault.db import make_engine, make_session_factory
from vault.directory_key import bind_directory_key, directory_key_file
from vault.errors import ConfigError
from vault.guards import SpaceGuard, sqlite_directory
from vault.ports import Sealer
from vault.services import custody, key_retirement
from vault.services.reply_keys import bind_wrap_key, wrap_key
from vault.services.sources import REPLY_KEY_NAME
from vault.shared_store import SharedStore
from vault.store import Store
from vault.transaction import unit_of_work

# A Redis that hangs (stopped, swapping, a full network buffer) must not hang every
# request thread with it: each command gives up after this long and the request gets
# the error page, like when Redis is down. Seconds; far above a healthy round trip.
# Set here rather than left to the client library's default, which has changed before.
REDIS_SOCKET_TIMEOUT = 5.0
REDIS_CONNECT_TIMEOUT = 2.0
# How often, at most, a serving process looks for keys retired from its GnuPG home
# (vault.services.key_retirement): at the first request this many seconds or more after
# it last looked. Seconds.
PURGE_INTERVAL = 30.0
# Touched in a GnuPG home each time it is reconciled with the database (see
# Runtime.purge_retired_keys).
RECONCILED_MARK = ".reconciled"

_log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    engine: Engine
    session_factory: sessionmaker[Session]
    keyring: GpgKeyring
    store: Store
    redis: Redis
    receipt_key: ReceiptKeyFile
    side: KeyringSide = "journalist"
    purge_interval: float = PURGE_INTERVAL
    _submission_fpr: str | None = field(default=None, repr=False)
    _purged_at: float = field(default=0.0, repr=False)
    _purge_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction (`vault.transaction.unit_of_work`): committed
        on success, rolled back on error; used by the jobs and the commands."""
        with self.session_factory() as session, unit_of_work(session):
            yield session

    def purge_retired_keys(self) -> int:
        """Remove from this process's home the keys retired for it; how many. When the
        home was last reconciled longer ago than half the time retirements are kept (a
        server out of service for weeks, or never since this started), every reply key
        no source row names goes too (vault.services.key_retirement.reconcile)."""
        with self._purge_lock:
            self._purged_at = time.monotonic()
            with self.session() as db:
                removed = key_retirement.purge(db, self.keyring, self.side)
            if self.side in key_retirement.HOLDERS and self._reconcile_due():
                with self.session() as db:
                    removed += key_retirement.reconcile(db, self.keyring, REPLY_KEY_NAME)
                self._reconciled_mark().touch()
            return removed

    def _reconciled_mark(self) -> Path:
        return self.keyring.home / RECONCILED_MARK

    def _reconcile_due(self) -> bool:
        try:
            last = self._reconciled_mark().stat().st_mtime
        except FileNotFoundError:
            return True
        return time.time() - last > key_retirement.RETAIN.total_seconds() / 2

    def purge_retired_keys_now_and_then(self) -> None:
        """`purge_retired_keys` at most every `purge_interval` (each request may call it:
        between two, only a clock is read). A failure is logged, never the request's."""
        if time.monotonic() - self._purged_at < self.purge_interval:
            return
        try:
            self.purge_retired_keys()
        except Exception as exc:  # the database or gpg down: the next interval retries
            _log.error("retired keys not purged: %s", type(exc).__name__)

    @property
    def submission_fingerprint(self) -> str:
        if self._submission_fpr is None:
            self._submission_fpr = read_submission_fingerprint(self.config.instance_dir)
            if not self.keyring.has_public_key(self._submission_fpr):
                raise ConfigError("the submission public key is not in the server keyring")
        return self._submission_fpr


def read_submission_fingerprint(instance_dir: Path) -> str:
    path = instance_dir / SUBMISSION_KEY_FILE
    try:
        fingerprint = path.read_text().strip().upper()
    except FileNotFoundError as exc:
        raise ConfigError(
            "no submission key loaded: run `backupctl keys load PUBLIC_KEY.asc`"
        ) from exc
    if len(fingerprint) not in (40, 64) or not all(c in "0123456789ABCDEF" for c in fingerprint):
        raise ConfigError("invalid submission key fingerprint file")
    return fingerprint


def space_guard(config: Config) -> SpaceGuard:
    """The disk reserve, kept on the store's filesystem, the SQLite database's (when it
    lives elsewhere) and any watched path (e.g. PostgreSQL's data directory)."""
    paths = [config.store_dir, *config.disk_reserve.watch]
    database_dir = sqlite_directory(config.database_url)
    if database_dir is not None:
        paths.append(database_dir)
    return SpaceGuard(paths, config.disk_reserve)


# The shared store's own connections (BACKUP_STORE=postgresql), per process: a request
# holding its session's connection may fetch a file, so the fetch must not wait on the
# same pool (all of whose connections other such requests might hold).
SHARED_STORE_POOL = 4
SHARED_STORE_OVERFLOW = 8


def make_store(config: Config, sealer: Sealer, guard: SpaceGuard | None = None) -> Store:
    """The sealed store of `config`: its directory, and with `BACKUP_STORE=postgresql`
    the shared copy in the database (vault.shared_store), on a pool of its own."""
    shared = None
    if config.store_backend == "postgresql":
        engine = make_engine(
            config.database_url, pool_size=SHARED_STORE_POOL, max_overflow=SHARED_STORE_OVERFLOW
        )
        shared = SharedStore(engine)
    return Store(config.store_dir, sealer, guard, shared)


def build_runtime(
    config: Config, redis: Redis | None = None, *, side: KeyringSide = "journalist"
) -> Runtime:
    """The parts of one process. `side` names its GnuPG home (`Config.gnupg_home`): the
    source interface's, the reviewer interface's (also the CLI's) or the worker's."""
    if redis is None:
        if not config.redis_url:
            raise ConfigError("REDIS_URL is not set (backupctl run starts a private Redis)")
        redis = Redis.from_url(
            config.redis_url,
            socket_timeout=REDIS_SOCKET_TIMEOUT,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        )
    if is_legacy_home(config.gnupg_root):
        # A home per side made now beside the former one would lack its keys.
        raise ConfigError(
            "the instance has one GnuPG home for all processes: run `backupctl db upgrade`"
        )
    engine = make_engine(config.database_url)
    session_factory = make_session_factory(engine)

    def public_keys(fingerprint: str) -> str | None:
        # A session of its own: read outside the request's transaction, nothing written.
        with session_factory() as db:
            return key_retirement.public_key_of(db, fingerprint)

    keyring = GpgKeyring(config.gnupg_home(side), config.gpg_binary, public_keys=public_keys)
    # The receipt key is made on the server on first use (0600, unattended; a deployment
    # makes it in advance), and bound to every session so nothing can be stored without a
    # signed custody receipt. Read at the first signature: a process that never signs one
    # (the worker) never reads it (keys.receipts.ReceiptKeyFile).
    receipt_key = ReceiptKeyFile(config.instance_dir / RECEIPT_KEY_FILE)
    custody.bind_signer(session_factory, receipt_key)
    # TOTP secrets and partner details are sealed with a key file read only by a process
    # that opens one (vault.column_key).
    bind_column_key(session_factory, ColumnKeyFile(config.instance_dir / COLUMN_KEY_FILE))
    # Entries of the directory of professionals: a key of their own (vault.directory_key).
    bind_directory_key(session_factory, directory_key_file(config.instance_dir))
    # Sources' reply secret keys, kept in the database: sealed with a key derived from
    # the source interface's secrets, so only a process holding those opens them
    # (vault.services.reply_keys).
    if config.secrets.source is not None:
        bind_wrap_key(session_factory, wrap_key(config.secrets.source.reply_key_pepper))
    return Runtime(
        config=config,
        engine=engine,
        session_factory=session_factory,
        receipt_key=receipt_key,
        keyring=keyring,
        store=make_store(config, keyring, space_guard(config)),
        redis=redis,
        side=side,
    )
