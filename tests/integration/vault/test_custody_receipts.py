"""Custody receipts with real gpg, on SQLite and PostgreSQL: every submission, message and
reply gets a signed, chained receipt; concurrent submissions never fork the chain; the
sealed manifest proves the plaintext; no plaintext reaches the server."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from sqlalchemy import select, update

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from keys.receipts import ChainError, SigningKey, TrustedKeys
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import FAST_HASHER
from tests.support.leaks import assert_no_leak
from vault import codenames
from vault.models import CustodyReceipt, Role, Submission
from vault.services import custody, export, replies, reviewers, sources
from vault.store import DocumentSink


def _submit(runtime: Runtime, message: str, files: list[tuple[str, bytes]]) -> list[str]:
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        sinks = []
        for name, data in files:
            sink = DocumentSink(
                runtime.store.begin_unassigned([runtime.submission_fingerprint]), name
            )
            sink.write(data)
            sinks.append(sink)
        created = sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, message, sinks
        )
        reply = replies.send_reply(
            db,
            runtime.store,
            runtime.keyring,
            source,
            None,
            "reply",
            runtime.submission_fingerprint,
        )
        return [s.uuid for s in created] + [reply.uuid]


def test_every_object_gets_a_chained_receipt_and_a_sealed_manifest(
    runtime: Runtime, workstation_keyring: GpgKeyring
) -> None:
    document = b"%PDF-1.4 statement of a witness"
    uuids = _submit(runtime, "what happened", [("statement.pdf", document)])
    with runtime.session() as db:
        rows = custody.receipts_for(db, uuids)
        assert [r.kind for r in rows] == ["message", "file", "reply"]
        assert [r.seq for r in rows] == [0, 1, 2]
        assert custody.verify_log(db, TrustedKeys([runtime.receipt_key.verify_key])) == 3
        bodies = [json.loads(r.body) for r in rows]
        stored = runtime.store.root.rglob(bodies[1]["filename"])
        ciphertext = next(stored).read_bytes()
        assert bodies[1]["sha256"] == hashlib.sha256(ciphertext).hexdigest()
        assert bodies[1]["size"] == len(ciphertext)
        assert bodies[1]["sealed_to"] == [runtime.submission_fingerprint]
        assert "manifest_sha256" not in bodies[2]  # replies carry no sealed manifest
        manifest_ct = rows[1].sealed_manifest
        assert manifest_ct is not None
    # Only the submission key's holder reads the manifest; it proves the plaintext.
    manifest = json.loads(workstation_keyring.open_bytes(manifest_ct, SUBMISSION_PASSPHRASE))
    assert manifest == {
        "v": 1,
        "filename": "statement.pdf",
        "media_type": "application/pdf",
        "size": len(document),
        "sha256": hashlib.sha256(document).hexdigest(),
    }


def test_edits_gaps_and_foreign_keys_in_the_stored_log_are_detected(runtime: Runtime) -> None:
    _submit(runtime, "one", [])
    _submit(runtime, "two", [])
    key = [runtime.receipt_key.verify_key]
    with runtime.session() as db:
        row = db.scalar(select(CustodyReceipt).where(CustodyReceipt.seq == 1))
        assert row is not None
        original = row.body
        row.body = original.replace('"size":', '"size":1')
        db.flush()
        with pytest.raises(ChainError, match=r"seq 1\): bad signature"):
            custody.verify_log(db, TrustedKeys(key))
        row.body = original
        db.delete(row)
        db.flush()
        with pytest.raises(ChainError, match="expected seq 1: a record is missing"):
            custody.verify_log(db, TrustedKeys(key))
        db.rollback()
        with pytest.raises(ChainError, match="unknown key"):
            other = SigningKey.generate(runtime.config.instance_dir / "other.pem")
            custody.verify_log(db, TrustedKeys([other.verify_key]))
        db.execute(
            update(CustodyReceipt).where(CustodyReceipt.seq == 0).values(sealed_manifest=b"x")
        )
        with pytest.raises(ChainError, match="seq 0: sealed manifest altered"):
            custody.verify_log(db, TrustedKeys(key))


def test_a_session_without_a_receipt_key_stores_nothing(runtime: Runtime) -> None:
    from vault.db import make_session_factory

    with runtime.session() as db:
        source_uuid = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )[0].uuid
    bare = make_session_factory(runtime.engine)
    with bare() as db:
        source = sources.get_active_source(db, source_uuid)
        with pytest.raises(Exception, match="no receipt key bound"):
            sources.submit(db, runtime.store, source, runtime.submission_fingerprint, "m", [])
    assert not list(runtime.store.root.rglob("*-msg.gpg"))


def test_concurrent_submissions_do_not_fork_the_chain(runtime: Runtime) -> None:
    with runtime.session() as db:
        source_uuids = [
            sources.create_source(
                db, runtime.keyring, runtime.config, codenames.generate_codename()
            )[0].uuid
            for _ in range(6)
        ]
    barrier = threading.Barrier(len(source_uuids))
    errors: list[BaseException] = []

    def worker(source_uuid: str) -> None:
        try:
            with runtime.session() as db:
                source = sources.get_active_source(db, source_uuid)
                barrier.wait()
                for i in range(3):
                    sources.submit(
                        db, runtime.store, source, runtime.submission_fingerprint, f"m{i}", []
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(u,)) for u in source_uuids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with runtime.session() as db:
        seqs = list(db.scalars(select(CustodyReceipt.seq).order_by(CustodyReceipt.seq)))
        assert seqs == list(range(18))
        assert custody.verify_log(db, TrustedKeys([runtime.receipt_key.verify_key])) == 18


def test_receipt_key_is_private_and_stable(runtime: Runtime) -> None:
    path = runtime.config.instance_dir / "receipt_key.pem"
    fingerprint = runtime.receipt_key.fingerprint  # made at its first use
    assert path.stat().st_mode & 0o777 == 0o600
    again = SigningKey.load_or_generate(path)
    assert again.fingerprint == fingerprint
    assert len(custody.receipt_code("ab" * 32)) == 14


def test_no_plaintext_on_the_server(runtime: Runtime) -> None:
    marker = "PLAINTEXT-MARKER-7f3a9c"
    _submit(runtime, f"message {marker}", [(f"{marker}.txt", f"file {marker} body".encode())])
    # An export bundle (ciphertext, sealed manifests, receipts) carries no plaintext either.
    bundle = runtime.config.instance_dir / "export-check.zip"
    with runtime.session() as db, bundle.open("wb") as out:
        analyst, _ = reviewers.create_reviewer(db, "analyst7", Role.ANALYST, hasher=FAST_HASHER)
        source_uuids = [s.source.uuid for s in db.scalars(select(Submission))]
        export.build_export(db, runtime.store, analyst, source_uuids, out)
    # The bundle is a ZIP: the scanner opens its deflated entries too.
    assert_no_leak(
        marker, files=[runtime.config.instance_dir], engine=runtime.engine, redis=runtime.redis
    )


def test_rows_stored_without_append_still_get_a_receipt(runtime: Runtime) -> None:
    """The safety net: code that inserts a Reply itself (an API) cannot skip the chain."""
    from vault.models import Reply, Source

    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        db.add(Reply(source=source, filename="1-x-reply.gpg", size=10, sha256="ab" * 32))
        db.commit()
        reply_uuid = db.scalars(select(Reply.uuid)).one()
        db.add(Reply(source=source, filename="2-x-reply.gpg", size=10, sha256="cd" * 32))
        db.flush()
        db.rollback()  # rolled back: no receipt either
        [row] = custody.receipts_for(db, [reply_uuid])
        body = json.loads(row.body)
        assert (body["kind"], body["sealed_to"], body["seq"]) == ("reply", [], 0)
        assert custody.verify_log(db, TrustedKeys([runtime.receipt_key.verify_key])) == 1
        assert db.scalar(select(Source.id)) is not None


def test_deletion_removes_files_and_rows_never_receipts(runtime: Runtime) -> None:
    """Deleting a source never breaks the chain: its receipts (ciphertext facts) stay."""

    from composition import jobs
    from vault.services import deletion

    uuids = _submit(runtime, "to be deleted", [("a.txt", b"x")])
    with runtime.session() as db:
        source = db.scalar(select(Submission).where(Submission.uuid == uuids[0])).source
        deletion.request_source_deletion(db, runtime.redis, source)
    jobs.worker(runtime, [deletion.queue(runtime.redis)]).work(burst=True)
    with runtime.session() as db:
        assert db.scalar(select(Submission.id)) is None
        assert len(custody.receipts_for(db, uuids)) == 3
        assert custody.verify_log(db, TrustedKeys([runtime.receipt_key.verify_key])) == 3
