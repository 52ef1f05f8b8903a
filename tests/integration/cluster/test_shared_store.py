"""The sealed store shared through PostgreSQL (BACKUP_STORE=postgresql), end to end.

Two backends, as two servers behind one onion address run them: each its own instance
directory (its own store directory, GnuPG homes, no directory in common), the same
instance secrets and keys (copied, as docs/cluster.md says), one PostgreSQL database,
one Redis. What one stores, the other serves: the shared copy commits with its row,
and a backend without the file fetches it (vault.shared_store, vault.store).
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import Engine, func, select

import journalist_app
import source_app
from composition.runtime import Runtime, build_runtime
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import GeneratedKey
from keys.receipts import RECEIPT_KEY_FILE, SigningKey
from tests.conftest import FAST_SCRYPT, SUBMISSION_PASSPHRASE
from tests.integration.source_app.helpers import SourceBrowser
from tests.support.faults import (
    Sent,
    Visitor,
    assert_no_plaintext,
    open_upload,
    partials,
    running_product,
    sweep_and_assert_consistent,
    wait_for,
    wait_until_back,
)
from tests.support.journalist import (
    FAST_HASHER,
    csrf_token,
    login,
    make_account,
    make_source,
    post_form,
)
from tests.support.leaks import assert_no_leak
from tests.support.product import REPO
from tests.support.replication import ReplicatedPostgres
from tests.support.servers import RedisServer
from tests.support.submission_key import load_into_sealing_homes, stop_agents
from vault import jobs
from vault.column_key import COLUMN_KEY_FILE, ColumnKey
from vault.config import INTERFACES, SECRETS_DIR, Secrets, load_config
from vault.db import make_engine
from vault.directory_key import DIRECTORY_KEY_FILE
from vault.migrate import upgrade
from vault.models import Reply, SealedBlob, SealedBlobChunk, Source, Submission
from vault.services import deletion
from vault.shared_store import CHUNK_BYTES
from web_shared.multipart import FILL_BYTES

MARKER = "SHARED-STORE-MARKER-5d1f"
# The suite's PostgreSQL, a database of the test's own (the failover test: a pair of its own).
on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class Backend:
    runtime: Runtime
    homes: list[GpgKeyring]

    def close(self) -> None:
        self.runtime.engine.dispose()
        if self.runtime.store.shared is not None:
            self.runtime.store.shared.engine.dispose()
        kill_agent(self.runtime.keyring.home)
        stop_agents(self.homes)


def _backend(
    instance: Path, database_url: str, redis: Redis, public_key: str, like: Path | None
) -> Backend:
    """A backend on `instance`; `like`: the first backend, whose secrets and keys this one
    gets (made once, copied to every backend)."""
    if like is not None:
        instance.mkdir(mode=0o700)
        shutil.copytree(like / SECRETS_DIR, instance / SECRETS_DIR)
        for name in (RECEIPT_KEY_FILE, COLUMN_KEY_FILE, DIRECTORY_KEY_FILE):
            shutil.copy2(like / name, instance / name)
    env = {
        "BACKUP_INSTANCE_DIR": str(instance),
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://unused",  # the test's client is given
        "BACKUP_STORE": "postgresql",
    }
    base = load_config(env)
    held = {name: load_config(env, interface=name).secrets for name in INTERFACES}
    config = replace(
        base,
        scrypt=FAST_SCRYPT,
        secrets=Secrets(source=held["source"].source, journalist=held["journalist"].journalist),
    )
    if like is None:  # made once, here, before any backend uses them
        SigningKey.load_or_generate(instance / RECEIPT_KEY_FILE)
        ColumnKey.load_or_generate(instance / COLUMN_KEY_FILE)
        ColumnKey.load_or_generate(instance / DIRECTORY_KEY_FILE)
    runtime = build_runtime(config, redis=redis)
    return Backend(runtime, load_into_sealing_homes(config, public_key))


def _pair(
    tmp_path: Path, database_url: str, redis: Redis, key: GeneratedKey
) -> tuple[Backend, Backend]:
    upgrade(database_url)
    a = _backend(tmp_path / "a", database_url, redis, key.public_armored, None)
    b = _backend(tmp_path / "b", database_url, redis, key.public_armored, tmp_path / "a")
    return a, b


@pytest.fixture
def backends(
    tmp_path: Path,
    database_url: str,
    redis: Redis,
    submission_key: tuple[GeneratedKey, Path],
) -> Iterator[tuple[Runtime, Runtime]]:
    a, b = _pair(tmp_path, database_url, redis, submission_key[0])
    yield a.runtime, b.runtime
    a.close()
    b.close()


def _reviewer_client(runtime: Runtime, username: str):  # type: ignore[no-untyped-def]
    app = journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER)
    client = app.test_client()
    assert login(client, make_account(runtime, username)).status_code == 302
    return client


def _source_browser(runtime: Runtime) -> SourceBrowser:
    return SourceBrowser(source_app.create_app(runtime.config, runtime).test_client())


def _blobs(runtime: Runtime) -> dict[tuple[str, str], tuple[int, int]]:
    """(source uuid, file name) -> (size, chunks) of every shared copy."""
    with runtime.session() as db:
        rows = db.execute(
            select(SealedBlob.source_uuid, SealedBlob.filename, SealedBlob.size, func.count())
            .join(SealedBlobChunk, SealedBlobChunk.blob_id == SealedBlob.id)
            .group_by(SealedBlob.id)
        ).all()
    return {(uuid, name): (size, chunks) for uuid, name, size, chunks in rows}


def _opened(keyring: GpgKeyring, filename: str, data: bytes) -> bytes:
    plain = keyring.open_bytes(data, SUBMISSION_PASSPHRASE, max_output=4 * CHUNK_BYTES)
    return gzip.decompress(plain) if filename.endswith(".gz.gpg") else plain


@on_postgres
def test_a_submission_through_a_is_downloaded_and_exported_through_b(
    backends: tuple[Runtime, Runtime], workstation_keyring: GpgKeyring
) -> None:
    a, b = backends
    source = _source_browser(a)
    source.create()
    document = MARKER.encode() + b" " + os.urandom(2 * CHUNK_BYTES + 12345)
    message = f"{MARKER} what happened"
    answer = source.submit(message, [(document, "evidence.bin")])
    assert answer.status_code == 302 and answer.headers["Location"] == "/lookup"

    with a.session() as db:
        source_uuid = db.scalars(select(Source.uuid)).one()
        stored = [(s.uuid, s.filename) for s in db.scalars(select(Submission))]
    assert len(stored) == 2
    blobs = _blobs(a)
    for _uuid, filename in stored:
        on_a = a.store.local_path(source_uuid, filename).read_bytes()
        size, chunks = blobs[(source_uuid, filename)]
        assert size == len(on_a)
        assert chunks == -(-len(on_a) // CHUNK_BYTES)  # ~1 MiB chunks
        assert not b.store.local_path(source_uuid, filename).exists()
    assert max(chunks for _size, chunks in blobs.values()) >= 3  # the document

    reviewer = _reviewer_client(b, "analyst_b")
    # The export bundle, through B: every file fetched from the database first.
    exported = reviewer.post(
        "/export", data={"csrf_token": csrf_token(reviewer, "/"), "source": source_uuid}
    )
    assert exported.status_code == 200 and exported.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.data)) as bundle:
        members = {bundle.read(name) for name in bundle.namelist()}
    for _uuid, filename in stored:
        on_a = a.store.local_path(source_uuid, filename).read_bytes()
        assert on_a in members
        assert b.store.local_path(source_uuid, filename).read_bytes() == on_a  # cached on B

    # Single downloads through B, its cache emptied again: fetched again, byte for byte.
    opened = []
    for submission_uuid, filename in stored:
        b.store.discard(b.store.local_path(source_uuid, filename))
        response = reviewer.get(f"/sources/{source_uuid}/submissions/{submission_uuid}/download")
        assert response.status_code == 200
        assert response.data == a.store.local_path(source_uuid, filename).read_bytes()
        opened.append(_opened(workstation_keyring, filename, response.data))
    assert sorted(opened) == sorted([message.encode(), document])

    # Ciphertext only: the marker is in no file of either backend, no cell (the chunk
    # table's included), no pg_dump of the database, no Redis value.
    assert_no_leak(
        MARKER,
        files=[a.config.instance_dir, b.config.instance_dir],
        engine=a.engine,
        redis=a.redis,
    )


@on_postgres
@pytest.mark.parametrize("made_on", ["a", "b"])
def test_a_reply_written_through_a_is_read_by_the_source_through_b(
    backends: tuple[Runtime, Runtime], made_on: str
) -> None:
    """Made on either backend (its reply key is in the shared database, sealed:
    vault.services.reply_keys), the source logs in on B and reads a reply written on A."""
    a, b = backends
    first = _source_browser(a if made_on == "a" else b)
    codename = first.start(f"{MARKER} first, through {made_on.upper()}")
    source = _source_browser(b)
    assert source.login(codename).status_code == 302
    with b.session() as db:
        source_uuid = db.scalars(select(Source.uuid)).one()
    reviewer = _reviewer_client(a, "analyst_a")
    text = "We read your message. A counsellor can call you on Tuesday."
    sent = post_form(
        reviewer, f"/sources/{source_uuid}/reply", {"message": text}, page=f"/sources/{source_uuid}"
    )
    assert sent.status_code == 302
    with a.session() as db:
        filename = db.scalars(select(Reply.filename)).one()
    assert a.store.local_path(source_uuid, filename).is_file()
    assert (source_uuid, filename) in _blobs(a)
    assert not b.store.local_path(source_uuid, filename).exists()

    page = source.client.get("/lookup")
    assert page.status_code == 200
    assert text in page.get_data(as_text=True)
    on_b = b.store.local_path(source_uuid, filename).read_bytes()
    assert on_b == a.store.local_path(source_uuid, filename).read_bytes()


@on_postgres
def test_a_deletion_through_b_removes_the_rows_and_a_cache_after_its_sweep(
    backends: tuple[Runtime, Runtime],
) -> None:
    a, b = backends
    made = make_source(a, f"{MARKER} to be deleted")
    message_on_a = a.store.local_path(made.uuid, made.message_filename)
    document_on_a = a.store.local_path(made.uuid, made.document_filename)
    assert b.store.path_of(made.uuid, made.message_filename).is_file()  # cached on B too
    assert {(made.uuid, made.message_filename), (made.uuid, made.document_filename)} <= set(
        _blobs(a)
    )

    # Requested and carried out through B (its worker's job).
    with b.session() as db:
        submission = db.scalars(select(Submission).where(Submission.uuid == made.message_uuid))
        deletion.request_submission_deletion(db, b.redis, submission.one())
    assert jobs.delete_submission(b, made.message_uuid)
    assert not b.store.local_path(made.uuid, made.message_filename).exists()
    assert (made.uuid, made.message_filename) not in _blobs(a)  # rows and chunks gone
    assert message_on_a.is_file()  # A's cache: until A's sweep
    assert b.store.path_of(made.uuid, made.message_filename).exists() is False

    swept = jobs.sweep_store(a, older_than_seconds=0)
    assert swept >= 1
    assert not message_on_a.exists()
    assert document_on_a.is_file()  # still recorded: kept, here and in the database
    assert (made.uuid, made.document_filename) in _blobs(a)

    # A whole source, deleted through B: nothing of it is left in the database, and A's
    # copy of its remaining file goes at A's next sweep.
    assert jobs.delete_source(b, made.uuid)
    assert not [key for key in _blobs(a) if key[0] == made.uuid]
    jobs.sweep_store(a, older_than_seconds=0)
    assert not document_on_a.exists()


@on_postgres
def test_a_sweep_removes_a_shared_copy_whose_row_is_gone(
    backends: tuple[Runtime, Runtime],
) -> None:
    """A row deleted while its shared copy could not be (the database lost between the
    two): the next sweep removes the copy; live copies stay."""
    a, b = backends
    made = make_source(a, f"{MARKER} orphaned")
    with a.session() as db:
        db.delete(db.scalars(select(Submission).where(Submission.uuid == made.message_uuid)).one())
    assert (made.uuid, made.message_filename) in _blobs(a)
    jobs.sweep_store(b, older_than_seconds=0)
    assert (made.uuid, made.message_filename) not in _blobs(a)
    assert (made.uuid, made.document_filename) in _blobs(a)


_HALF_COPY = """
import os, sys, time
from pathlib import Path
from sqlalchemy.orm import Session
from vault.db import make_engine
from vault.shared_store import SharedStore
from vault.store import Store

url, root, source_uuid = sys.argv[1:4]
engine = make_engine(url + ("&" if "?" in url else "?") + "application_name=half_copy")
store = Store(Path(root), None, None, SharedStore(engine))
with Session(engine) as db:
    sealed = store.put_sealed(source_uuid, "1-killed_here-doc.gz.gpg", os.urandom(6 << 20))
    store.keep(db, sealed)  # copied in this transaction, never committed
    print("copied", flush=True)
    time.sleep(600)
"""


@on_postgres
def test_a_backend_killed_before_its_commit_leaves_no_shared_copy(
    backends: tuple[Runtime, Runtime], tmp_path: Path
) -> None:
    """kill -9 of a process whose copy is written but not committed: no other backend
    ever sees any of it, and the database keeps none of it."""
    a, b = backends
    source_uuid = "0b7f2c44-9d1e-4a55-8c1b-3f6e2d9a7c10"
    child = subprocess.Popen(  # nosec B603: this interpreter, our script
        [sys.executable, "-c", _HALF_COPY, a.config.database_url, str(tmp_path / "killed"),
         source_uuid],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"copied"
        # Written (6 chunks: the transaction has written, so it has an id) but not
        # committed: invisible to every other backend.
        with a.engine.connect() as conn:
            wrote = conn.exec_driver_sql(
                "SELECT backend_xid IS NOT NULL FROM pg_stat_activity "
                "WHERE application_name = 'half_copy'"
            ).scalar_one()
        assert wrote
        assert _blobs(a) == {}
        assert not b.store.path_of(source_uuid, "1-killed_here-doc.gz.gpg").exists()
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    # PostgreSQL ends the dead client's session and rolls its transaction back.
    deadline = time.monotonic() + 60
    while _half_copy_session(b):
        assert time.monotonic() < deadline, "the killed client's session did not end"
        time.sleep(0.1)
    with b.session() as db:
        assert db.scalar(select(func.count()).select_from(SealedBlobChunk)) == 0
        assert db.scalar(select(func.count()).select_from(SealedBlob)) == 0
    assert not b.store.path_of(source_uuid, "1-killed_here-doc.gz.gpg").exists()


def _half_copy_session(runtime: Runtime) -> bool:
    """The killed client's server session is still there (its transaction open)."""
    with runtime.engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'half_copy'"
        ).scalar_one()
    return bool(found)


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[ReplicatedPostgres]:
    pair = ReplicatedPostgres(tmp_path / "pg")
    yield pair
    pair.remove()


@pytest.mark.postgres
def test_the_shared_store_survives_a_failover_to_the_standby(
    tmp_path: Path,
    redis: Redis,
    submission_key: tuple[GeneratedKey, Path],
    replicated: ReplicatedPostgres,
    workstation_keyring: GpgKeyring,
) -> None:
    """A submission acknowledged through A is on the synchronous standby with its
    ciphertext; the primary lost and the standby promoted, B (which never had the file)
    fetches it from the new primary through the same URL, byte for byte; the store goes
    on taking submissions."""
    url = replicated.createdb("backup_store")
    a, b = _pair(tmp_path, url, redis, submission_key[0])
    try:
        before = make_source(a.runtime, f"{MARKER} before the failover")
        assert replicated.sync_state() == "sync"
        replicated.kill_primary()
        replicated.promote()
        for filename in (before.message_filename, before.document_filename):
            fetched = b.runtime.store.path_of(before.uuid, filename).read_bytes()
            assert fetched == a.runtime.store.local_path(before.uuid, filename).read_bytes()
        message = b.runtime.store.path_of(before.uuid, before.message_filename).read_bytes()
        opened = _opened(workstation_keyring, before.message_filename, message)
        assert opened == f"{MARKER} before the failover".encode()

        after = make_source(b.runtime, f"{MARKER} after the failover")
        name = after.message_filename
        fetched = a.runtime.store.path_of(after.uuid, name).read_bytes()
        assert fetched == b.runtime.store.local_path(after.uuid, name).read_bytes()
        with b.runtime.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar_one() is False
    finally:
        a.close()
        b.close()


@on_postgres
def test_a_served_backend_killed_mid_upload_leaves_no_shared_copy(
    instance: Path, tmp_path: Path, own_redis: RedisServer, database_url: str
) -> None:
    """The product as served (`backupctl run`) with BACKUP_STORE=postgresql: its source
    workers killed (SIGKILL) while an upload streams in; nothing of it is in the shared
    tables, what was acknowledged before is, and the next submission is stored there."""
    with running_product(
        instance,
        tmp_path,
        redis_url=own_redis.url,
        database_url=database_url,
        extra_env={"BACKUP_STORE": "postgresql"},
    ) as product:
        visitor = Visitor(product).start()
        assert visitor.submit(Sent(f"{MARKER} before".encode())).acknowledged
        engine = make_engine(database_url)
        try:
            before = _shared_names(engine)
            assert any(name.endswith("-msg.gpg") for _uuid, name in before)
            # Past the parser's first fill (web_shared.multipart.FILL_BYTES), so that
            # sealing has begun when the workers die.
            upload = open_upload(product, visitor, os.urandom(2 * FILL_BYTES), 8 * CHUNK_BYTES)
            wait_for(lambda: partials(product.store), 30, "the upload's partial file")
            for pid in product.source_workers():
                os.kill(pid, signal.SIGKILL)
            upload.close()
            assert _shared_names(engine) == before
            _seconds, back = wait_until_back(product, MARKER)
            after = _shared_names(engine)
            assert len(after - before) >= 1 and before <= after
            with engine.connect() as conn:
                assert conn.scalar(select(func.count()).select_from(Submission)) == 2
        finally:
            engine.dispose()
        assert back.acknowledged
        sweep_and_assert_consistent(product)  # the killed upload's partial file shredded
        assert_no_plaintext(product, MARKER)


def _shared_names(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {
            (uuid, name)
            for uuid, name in conn.execute(select(SealedBlob.source_uuid, SealedBlob.filename))
        }
