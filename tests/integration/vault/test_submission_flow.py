"""The domain loop without the web: begin a source, submit, reply, read, delete."""

from __future__ import annotations

import gzip
import io
import os

import pytest
from sqlalchemy import func, select

from composition import jobs as worker_jobs
from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from vault import codenames, jobs
from vault.config import ScryptParams
from vault.errors import (
    AuthenticationError,
    EmptySubmissionError,
    InvalidCodenameError,
    LoginThrottledError,
    StoreError,
)
from vault.models import Reply, Source, Submission
from vault.services import deletion, replies, reply_keys, sources
from vault.store import DocumentSink
from vault.throttle import ClientBudget

CLIENT = "one-client"


def _budget(rt: Runtime) -> ClientBudget:
    return ClientBudget(rt.redis, "source-login", rt.config.source_login_budget)


def _source_count(runtime: Runtime) -> int:
    with runtime.session() as db:
        return int(db.scalar(select(func.count()).select_from(Source)) or 0)


def _secret_keys(runtime: Runtime) -> int:
    return len(runtime.keyring._gpg.list_keys(secret=True))


def test_submit_reply_read_and_delete(runtime: Runtime, workstation_keyring: GpgKeyring) -> None:
    codename = codenames.generate_codename()
    keys_before = _secret_keys(runtime)
    with runtime.session() as db:
        creds = sources.begin_source(db, runtime.config, codename)
    # A codename alone records nothing: no row, no key pair.
    assert _source_count(runtime) == 0
    assert _secret_keys(runtime) == keys_before
    with runtime.session() as db:
        doc_bytes = os.urandom(300_000)
        pending = runtime.store.begin_unassigned([runtime.submission_fingerprint])
        sink = DocumentSink(pending, "evidence.bin")
        sink.write(doc_bytes)
        source, created = sources.submit_first(
            db,
            runtime.keyring,
            runtime.store,
            creds,
            runtime.submission_fingerprint,
            "the message",
            [sink],
        )
        assert source.uuid == creds.source_uuid and not source.pending
        assert runtime.keyring.has_public_key(source.reply_key_fingerprint)
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

    with runtime.session() as db:
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

    with runtime.session() as db:
        again, creds2 = sources.authenticate_source(
            db, _budget(runtime), CLIENT, runtime.config, codename
        )
        assert creds2.reply_passphrase == creds.reply_passphrase
        assert again.uuid == source.uuid
        [stored] = sources.replies_for_source(db, again)
        with reply_keys.opening(db, runtime.keyring, again, creds2.reply_passphrase) as opener:
            text = sources.read_reply(runtime.store, opener, again, stored, creds2.reply_passphrase)
        assert text == "we hear you"
        deletion.request_source_deletion(db, runtime.redis, again)

    worker_jobs.worker(runtime, [deletion.queue(runtime.redis)]).work(burst=True)
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Source)) == 0
        assert db.scalar(select(func.count()).select_from(Submission)) == 0
        assert db.scalar(select(func.count()).select_from(Reply)) == 0
    assert not runtime.store.source_dir(source.uuid).exists()
    # The worker retired the reply key; the process whose home holds it removes it.
    assert runtime.purge_retired_keys() == 1
    assert not runtime.keyring.has_public_key(source.reply_key_fingerprint)
    # Running the job again finds nothing to do: nothing is deleted twice.
    assert jobs.delete_source(runtime, source.uuid) is False


def test_unknown_codename_and_client_budget(runtime: Runtime) -> None:
    codename = codenames.generate_codename()
    with runtime.session() as db:
        for _ in range(runtime.config.source_login_budget.burst):
            with pytest.raises(AuthenticationError):
                sources.authenticate_source(db, _budget(runtime), CLIENT, runtime.config, codename)
        with pytest.raises(LoginThrottledError):
            sources.authenticate_source(db, _budget(runtime), CLIENT, runtime.config, codename)
        # Another client is not concerned.
        with pytest.raises(AuthenticationError):
            sources.authenticate_source(db, _budget(runtime), "other", runtime.config, codename)


class TestDerivations:
    """What each answer costs in scrypt derivations, counted on the real call path."""

    @pytest.fixture
    def derivations(self, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
        calls: list[bytes] = []
        real = codenames.derive

        def counting(codename: str, pepper: bytes, params: ScryptParams) -> bytes:
            calls.append(pepper)
            return real(codename, pepper, params)

        monkeypatch.setattr(codenames, "derive", counting)
        return calls

    def test_failed_login_derives_the_lookup_id_only(
        self, runtime: Runtime, derivations: list[bytes]
    ) -> None:
        with runtime.session() as db, pytest.raises(AuthenticationError):
            sources.authenticate_source(
                db, _budget(runtime), CLIENT, runtime.config, codenames.generate_codename()
            )
        assert derivations == [runtime.config.secrets.for_source().lookup_pepper]

    def test_success_adds_the_reply_key_passphrase(
        self, runtime: Runtime, derivations: list[bytes]
    ) -> None:
        codename = codenames.generate_codename()
        with runtime.session() as db:
            sources.create_source(db, runtime.keyring, runtime.config, codename)
            derivations.clear()
            sources.authenticate_source(db, _budget(runtime), CLIENT, runtime.config, codename)
        peppers = runtime.config.secrets.for_source()
        assert derivations == [peppers.lookup_pepper, peppers.reply_key_pepper]

    def test_refused_and_malformed_attempts_derive_nothing(
        self, runtime: Runtime, derivations: list[bytes]
    ) -> None:
        budget = _budget(runtime)
        with runtime.session() as db:
            for _ in range(runtime.config.source_login_budget.burst):
                with pytest.raises(AuthenticationError):
                    sources.authenticate_source(
                        db, budget, CLIENT, runtime.config, codenames.generate_codename()
                    )
            spent = len(derivations)
            for _ in range(50):
                with pytest.raises(LoginThrottledError):
                    sources.authenticate_source(
                        db, budget, CLIENT, runtime.config, codenames.generate_codename()
                    )
                with pytest.raises(InvalidCodenameError):
                    sources.authenticate_source(db, budget, "x", runtime.config, "not a codename")
        assert spent == runtime.config.source_login_budget.burst
        assert len(derivations) == spent


class TestFirstSubmission:
    """The source, its reply key and its first submission are recorded together."""

    def test_a_failed_first_submission_leaves_no_row_and_no_key(self, runtime: Runtime) -> None:
        keys_before = _secret_keys(runtime)
        with runtime.session() as db:
            creds = sources.begin_source(db, runtime.config, codenames.generate_codename())
            with pytest.raises(EmptySubmissionError):
                sources.submit_first(
                    db,
                    runtime.keyring,
                    runtime.store,
                    creds,
                    runtime.submission_fingerprint,
                    "",
                    [],
                )
            # Sealing fails after the key and the row were made: both go again.
            with pytest.raises(StoreError):
                sources.submit_first(
                    db, runtime.keyring, runtime.store, creds, "0" * 40, "a message", []
                )
        assert _source_count(runtime) == 0
        assert _secret_keys(runtime) == keys_before
        assert not any(p.is_file() for p in runtime.store.root.rglob("*"))

    def test_a_second_first_submission_joins_the_recorded_source(self, runtime: Runtime) -> None:
        """The same session sending from two tabs: one source, one key, both messages."""
        with runtime.session() as db:
            creds = sources.begin_source(db, runtime.config, codenames.generate_codename())
        fpr = runtime.submission_fingerprint
        with runtime.session() as db:
            first, _ = sources.submit_first(db, runtime.keyring, runtime.store, creds, fpr, "a", [])
        keys = _secret_keys(runtime)
        with runtime.session() as db:
            second, _ = sources.submit_first(
                db, runtime.keyring, runtime.store, creds, fpr, "b", []
            )
            assert second.uuid == first.uuid and second.interaction_count == 2
        assert _source_count(runtime) == 1
        assert _secret_keys(runtime) == keys


def test_empty_submission_stores_nothing(runtime: Runtime) -> None:
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        with pytest.raises(EmptySubmissionError):
            sources.submit(db, runtime.store, source, runtime.submission_fingerprint, "  ", [])
        assert db.scalar(select(func.count()).select_from(Submission)) == 0
    assert not any(p.is_file() for p in runtime.store.root.rglob("*"))
