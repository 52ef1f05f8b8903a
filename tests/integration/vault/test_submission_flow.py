"""The domain loop without the web: create a source, submit, reply, read, delete."""

from __future__ import annotations

import gzip
import io
import os

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from vault import codenames, jobs
from vault.errors import AuthenticationError, EmptySubmissionError, LoginThrottledError
from vault.models import Reply, Source, Submission
from vault.runtime import Runtime
from vault.services import deletion, replies, sources
from vault.store import DocumentSink
from vault.throttle import LoginThrottle


def _throttle(rt: Runtime) -> LoginThrottle:
    return LoginThrottle(rt.redis, "source", rt.config.source_throttle)


def test_submit_reply_read_and_delete(runtime: Runtime, workstation_keyring: GpgKeyring) -> None:
    codename = codenames.generate_codename()
    with runtime.session_factory() as db:
        source, creds = sources.create_source(db, runtime.keyring, runtime.config, codename)
        doc_bytes = os.urandom(300_000)
        pending = runtime.store.begin_unassigned([runtime.submission_fingerprint])
        sink = DocumentSink(pending, "evidence.bin")
        sink.write(doc_bytes)
        created = sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, "the message", [sink]
        )
        names = [s.filename for s in created]
        assert names == [f"1-{source.slug}-msg.gpg", f"2-{source.slug}-doc.gz.gpg"]

    # Only the workstation can open what was submitted.
    msg_path = runtime.store.path_of(source.uuid, names[0])
    assert workstation_keyring.open_bytes(msg_path.read_bytes(), SUBMISSION_PASSPHRASE) == (
        b"the message"
    )
    doc_plain = workstation_keyring.open_bytes(
        runtime.store.path_of(source.uuid, names[1]).read_bytes(), SUBMISSION_PASSPHRASE
    )
    with gzip.GzipFile(fileobj=io.BytesIO(doc_plain)) as gz:
        assert gz.read() == doc_bytes

    with runtime.session_factory() as db:
        source = sources.get_active_source(db, creds.source_uuid)
        reply = replies.send_reply(
            db,
            runtime.store,
            runtime.keyring,
            source,
            None,
            "we hear you",
            runtime.submission_fingerprint,
        )
        assert reply.filename == f"3-{source.slug}-reply.gpg"

    with runtime.session_factory() as db:
        again, creds2 = sources.authenticate_source(
            db, _throttle(runtime), runtime.config, codename
        )
        assert again.uuid == source.uuid
        [stored] = sources.replies_for_source(db, again)
        text = sources.read_reply(
            runtime.store, runtime.keyring, again, stored, creds2.reply_passphrase
        )
        assert text == "we hear you"
        deletion.request_source_deletion(db, runtime.redis, again)

    jobs.bind(runtime)
    SimpleWorker([deletion.queue(runtime.redis)], connection=runtime.redis).work(burst=True)
    with runtime.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Source)) == 0
        assert db.scalar(select(func.count()).select_from(Submission)) == 0
        assert db.scalar(select(func.count()).select_from(Reply)) == 0
    assert not runtime.store.source_dir(source.uuid).exists()
    assert not runtime.keyring.has_public_key(source.reply_key_fingerprint)
    # Running the job again finds nothing to do: nothing is deleted twice.
    assert jobs.delete_source(source.uuid) is False


def test_unknown_codename_and_throttle(runtime: Runtime) -> None:
    codename = codenames.generate_codename()
    with runtime.session_factory() as db:
        for _ in range(runtime.config.source_throttle.per_key):
            with pytest.raises(AuthenticationError):
                sources.authenticate_source(db, _throttle(runtime), runtime.config, codename)
        with pytest.raises(LoginThrottledError):
            sources.authenticate_source(db, _throttle(runtime), runtime.config, codename)


def test_empty_submission_stores_nothing(runtime: Runtime) -> None:
    with runtime.session_factory() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        with pytest.raises(EmptySubmissionError):
            sources.submit(db, runtime.store, source, runtime.submission_fingerprint, "  ", [])
        assert db.scalar(select(func.count()).select_from(Submission)) == 0
    assert not any(p.is_file() for p in runtime.store.root.rglob("*"))
