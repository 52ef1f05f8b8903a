"""A source's reply key works on every backend behind the one source address.

Two backends ("A" and "B": two instance directories, each with its own GnuPG homes, as
two servers have) on one PostgreSQL database, one Redis and one store (docs/cluster.md).
A source made on A reads, on B and on A, a reply a reviewer sealed on B; what the
database holds is the key's secret half still locked by the codename-derived passphrase
and sealed once more; deleting the source removes the key from the database and from
every home of both backends, a backend that missed the deletion included; a source
recorded before the key moved to the database gets it moved the first time it reads
its replies where its key was made (vault.services.reply_keys).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select, text

import source_app
from composition import jobs
from composition.runtime import RECONCILED_MARK, Runtime, build_runtime
from keys.gpg import GpgKeyring, kill_agent, prepare_home
from keys.lifecycle import GeneratedKey, load_submission_key
from keys.receipts import RECEIPT_KEY_FILE, SigningKey
from tests.integration.source_app.helpers import SourceBrowser
from vault import codenames
from vault.column_key import COLUMN_KEY_FILE, ColumnKey
from vault.config import KEYRING_SIDES, SEALING_SIDES, Config
from vault.db import utcnow
from vault.migrate import upgrade
from vault.models import Reply, RetiredKey, Source
from vault.services import deletion, key_retirement, replies, reply_keys, sources

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

MESSAGE = "we read your report and can help"


@dataclass
class Backend:
    name: str
    runtimes: dict[str, Runtime]
    app: Flask

    @property
    def source(self) -> Runtime:
        return self.runtimes["source"]

    @property
    def journalist(self) -> Runtime:
        return self.runtimes["journalist"]

    def homes(self) -> list[GpgKeyring]:
        return [rt.keyring for rt in self.runtimes.values()]

    def browser(self) -> SourceBrowser:
        return SourceBrowser(self.app.test_client())


@dataclass
class Cluster:
    a: Backend
    b: Backend
    redis: Redis

    def backends(self) -> tuple[Backend, Backend]:
        return self.a, self.b


def _backend(
    name: str, config: Config, redis: Redis, submission_key: tuple[GeneratedKey, Path]
) -> Backend:
    made = {side: build_runtime(config, redis=redis, side=side) for side in KEYRING_SIDES}
    for side in SEALING_SIDES:
        load_submission_key(
            config.instance_dir, made[side].keyring, submission_key[0].public_armored
        )
    app = source_app.create_app(config, made["source"])
    app.testing = True
    return Backend(name, made, app)


@pytest.fixture
def throwaways(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temporary directory where the keyrings make their throwaway homes (keys.gpg),
    this test's alone (and short: a gpg-agent's socket is made inside each)."""
    directory = Path(tempfile.mkdtemp(prefix="rk-"))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def cluster(
    config: Config,
    redis: Redis,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
    throwaways: Path,
) -> Iterator[Cluster]:
    upgrade(config.database_url)
    a_dir = config.instance_dir
    a_dir.mkdir(parents=True, exist_ok=True)
    # What every backend shares besides the database and Redis: the store, and the
    # instance keys made once and copied (docs/cluster.md); the secrets are the
    # config's own (the same codename peppers on both).
    SigningKey.generate(a_dir / RECEIPT_KEY_FILE)
    ColumnKey.generate(a_dir / COLUMN_KEY_FILE)
    (a_dir / "store").mkdir(mode=0o700, exist_ok=True)
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    for name in ("store", RECEIPT_KEY_FILE, COLUMN_KEY_FILE):
        (b_dir / name).symlink_to(a_dir / name)
    a = _backend("A", config, redis, submission_key)
    b = _backend("B", replace(config, instance_dir=b_dir), redis, submission_key)
    assert a.source.keyring.home != b.source.keyring.home
    yield Cluster(a, b, redis)
    for backend in (a, b):
        for rt in backend.runtimes.values():
            rt.engine.dispose()
            kill_agent(rt.keyring.home)


def _holders(cluster: Cluster, fingerprint: str) -> dict[str, set[str]]:
    """Which homes of which backend hold any part of the key, and which its secret."""
    found: dict[str, set[str]] = {"public": set(), "secret": set()}
    for backend in cluster.backends():
        for side, rt in backend.runtimes.items():
            if rt.keyring.holding([fingerprint]):
                found["public"].add(f"{backend.name}/{side}")
            if rt.keyring.has_secret_key(fingerprint):
                found["secret"].add(f"{backend.name}/{side}")
    return found


def _left_behind(cluster: Cluster, throwaways: Path) -> list[Path]:
    """What keyring operations left in the homes' scratch and the throwaway homes."""
    scratch = [
        entry
        for backend in cluster.backends()
        for home in backend.homes()
        for entry in (home.home / "scratch").iterdir()
    ]
    return scratch + list(throwaways.iterdir())


def _reply_from_b(cluster: Cluster, source_uuid: str) -> str:
    """A reviewer's reply sealed on backend B (the reviewer interface's process there)."""
    rt = cluster.b.journalist
    with rt.session() as db:
        source = sources.get_active_source(db, source_uuid)
        reply = replies.send_reply(
            db, rt.store, rt.keyring, source, None, MESSAGE, rt.submission_fingerprint
        )
        return reply.uuid


def _login(backend: Backend, codename: str) -> SourceBrowser:
    browser = backend.browser()
    assert browser.login(codename).status_code == 302
    return browser


def _gpg(home: Path, *args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--no-tty", *args],
        input=data,
        capture_output=True,
        check=False,
    )


def test_a_reply_sealed_on_b_is_read_on_b_and_a_then_deleted_everywhere(
    cluster: Cluster, config: Config, tmp_path: Path, throwaways: Path
) -> None:
    codename = cluster.a.browser().start("the report, sent through backend A")
    with cluster.a.source.session() as db:
        source = db.scalars(select(Source)).one()
        source_uuid, fingerprint = source.uuid, source.reply_key_fingerprint
        stored = source.reply_secret_key
    assert stored is not None
    # Made on A: A's source home has the public half only; no home has the secret half.
    assert _holders(cluster, fingerprint) == {"public": {"A/source"}, "secret": set()}

    reply_uuid = _reply_from_b(cluster, source_uuid)
    # B's reviewer process sealed to the public half it took from the database.
    assert _holders(cluster, fingerprint)["public"] == {"A/source", "B/journalist"}

    on_b = _login(cluster.b, codename)
    page = on_b.client.get("/lookup").text
    assert MESSAGE in page and "could not be opened" not in page
    on_a = _login(cluster.a, codename)
    assert MESSAGE in on_a.client.get("/lookup").text
    # Borrowed for each page only: no home keeps the secret half, nothing is left over.
    assert _holders(cluster, fingerprint)["secret"] == set()
    assert _left_behind(cluster, throwaways) == []

    # -- what the database holds -------------------------------------------------------
    passphrase = codenames.reply_key_passphrase(
        codenames.normalize_codename(codename),
        config.secrets.for_source().reply_key_pepper,
        config.scrypt,
    )
    with cluster.a.journalist.session() as db:
        rows = db.execute(text("SELECT * FROM sources")).all()
        for row in rows:
            for value in row:
                assert "PRIVATE KEY" not in str(value)
                assert passphrase not in str(value)
                assert codename not in str(value)
    assert stored.startswith("v1:")
    # Sealed for this row and purpose: it opens with the source interface's secrets only.
    wrap = reply_keys.wrap_key(config.secrets.for_source().reply_key_pepper)
    armored = wrap.open(stored, reply_keys.PURPOSE, source_uuid)
    assert "PRIVATE KEY BLOCK" in armored
    listing = _gpg(tmp_path, "--list-packets", data=armored.encode()).stdout.decode()
    secret_packets = listing.count(":secret key packet:") + listing.count(":secret sub key packet:")
    assert secret_packets == 2  # the signing key and its encryption subkey
    # Every secret packet is protected: gpg's S2K, locked by the passphrase.
    assert listing.count("iter+salt S2K") == secret_packets
    assert listing.count("[v4 protected]") == secret_packets

    # Imported without the passphrase it opens nothing; with it, the reply.
    stranger = prepare_home(tmp_path / "stranger")
    try:
        assert _gpg(stranger, "--import", data=armored.encode()).returncode == 0
        with cluster.a.journalist.session() as db:
            reply = db.scalars(select(Reply).where(Reply.uuid == reply_uuid)).one()
            ciphertext = cluster.a.journalist.store.path_of(source_uuid, reply.filename)
        for wrong in ("", "0" * 64):
            opened = _gpg(
                stranger,
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                wrong,
                "--decrypt",
                str(ciphertext),
            )
            assert opened.returncode != 0 and MESSAGE.encode() not in opened.stdout
        opened = _gpg(
            stranger,
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            "--decrypt",
            str(ciphertext),
            data=passphrase.encode() + b"\n",
        )
        assert opened.returncode == 0 and opened.stdout == MESSAGE.encode()
    finally:
        kill_agent(stranger)

    # -- deletion -------------------------------------------------------------------------
    # B's source process holds a public copy too (it sealed to the key, as a consent
    # state is sealed on whichever backend the source sends from).
    cluster.b.source.keyring.seal_bytes(b"probe", [fingerprint])
    # Another source, alive: nothing of its key may go.
    other_codename = cluster.a.browser().start("another source's report")
    with cluster.a.source.session() as db:
        other = db.scalars(select(Source).where(Source.uuid != source_uuid)).one()
        other_fpr = other.reply_key_fingerprint
    cluster.b.journalist.keyring.seal_bytes(b"probe", [other_fpr])
    assert _holders(cluster, fingerprint)["public"] == {"A/source", "B/source", "B/journalist"}

    worker = cluster.a.runtimes["worker"]
    with worker.session() as db:
        doomed = sources.get_active_source(db, source_uuid)
        deletion.request_source_deletion(db, cluster.redis, doomed)
    jobs.worker(worker, [deletion.queue(cluster.redis)]).work(burst=True)
    with worker.session() as db:
        assert db.scalar(select(Source.id).where(Source.uuid == source_uuid)) is None
        assert db.scalar(select(func.count()).select_from(Reply)) == 0
    # Backend A's processes apply the retirement ...
    assert cluster.a.source.purge_retired_keys() == 1
    assert cluster.a.journalist.purge_retired_keys() == 0
    assert _holders(cluster, fingerprint)["public"] == {"B/source", "B/journalist"}
    # ... and backend B's source process too: the rows stay for every backend.
    assert cluster.b.source.purge_retired_keys() == 1
    assert _holders(cluster, fingerprint)["public"] == {"B/journalist"}

    # B's reviewer process missed it: the retirements were forgotten by the sweep before
    # it purged (it was out of service longer than they are kept).
    with worker.session() as db:
        later = utcnow() + key_retirement.RETAIN + dt.timedelta(days=1)
        assert key_retirement.prune(db, now=later) == 2
        assert db.scalar(select(func.count()).select_from(RetiredKey)) == 0
    assert cluster.b.journalist.purge_retired_keys() == 0  # nothing retired any more
    assert _holders(cluster, fingerprint)["public"] == {"B/journalist"}
    # Its home was last reconciled long ago, and the key files are not new: the next
    # purge reconciles it with the database.
    away = time.time() - key_retirement.RETAIN.total_seconds()
    home = cluster.b.journalist.keyring
    for fpr in (fingerprint, other_fpr):
        path = home.key_file(fpr)
        assert path is not None
        os.utime(path, (away, away))
    os.utime(home.home / RECONCILED_MARK, (away, away))
    assert cluster.b.journalist.purge_retired_keys() == 1
    assert _holders(cluster, fingerprint) == {"public": set(), "secret": set()}
    assert home.holding([other_fpr]) == {other_fpr}  # a live source's key stays
    _login(cluster.b, other_codename)  # and its source still logs in


def _legacy_source(backend: Backend, codename: str) -> tuple[str, str]:
    """A source recorded as before migration 0027: its key made in the source home of
    the backend it was created on, the database holding the public half only."""
    rt = backend.source
    with rt.session() as db:
        credentials = sources.begin_source(db, rt.config, codename)
        fingerprint = rt.keyring.generate_reply_key(
            sources.REPLY_KEY_NAME, credentials.reply_passphrase
        )
        assert credentials.lookup_id is not None
        source = Source(
            uuid=credentials.source_uuid,
            lookup_id=credentials.lookup_id,
            designation="legacy source",
            reply_key_fingerprint=fingerprint,
            reply_public_key=rt.keyring.export_public(fingerprint),
            pending=False,
        )
        db.add(source)
    return credentials.source_uuid, fingerprint


def test_a_key_made_before_is_moved_to_the_database_where_it_is(cluster: Cluster) -> None:
    codename = codenames.generate_codename()
    source_uuid, fingerprint = _legacy_source(cluster.a, codename)
    assert _holders(cluster, fingerprint)["secret"] == {"A/source"}
    _reply_from_b(cluster, source_uuid)

    # On B first: the key is only in A's home, as before; nothing opens, nothing breaks.
    page = _login(cluster.b, codename).client.get("/lookup").text
    assert "could not be opened" in page and MESSAGE not in page
    with cluster.b.source.session() as db:
        assert sources.get_active_source(db, source_uuid).reply_secret_key is None

    # On A, where the key is: read, and the key is stored on the way.
    assert MESSAGE in _login(cluster.a, codename).client.get("/lookup").text
    with cluster.a.source.session() as db:
        stored = sources.get_active_source(db, source_uuid).reply_secret_key
    assert stored is not None and stored.startswith("v1:")

    # From then on every backend reads it.
    page = _login(cluster.b, codename).client.get("/lookup").text
    assert MESSAGE in page and "could not be opened" not in page
    assert _holders(cluster, fingerprint)["secret"] == {"A/source"}  # A's copy, as before
