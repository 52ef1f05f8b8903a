"""The source's own copy of its consent: sealed to its reply key only, beside the
submission it accompanies, all or nothing with it, newest only, swept and shredded with
it. Real gpg, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from composition.runtime import Runtime
from keys.errors import DecryptionError
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from vault import codenames, jobs
from vault.consent import consent_state_dumps
from vault.errors import QuotaExceededError
from vault.models import Source
from vault.services import reply_keys, source_consent, sources
from vault.services.sources import SourceCredentials

STATE = {"handle_case": True, "court": None}


def _source(rt: Runtime) -> tuple[Source, SourceCredentials]:
    with rt.session() as db:
        source, credentials = sources.create_source(
            db, rt.keyring, rt.config, codenames.generate_codename()
        )
        db.expunge(source)
    return source, credentials


def _send(rt: Runtime, source: Source, state: dict[str, bool | None] | None) -> str:
    with rt.session() as db:
        source = sources.get_active_source(db, source.uuid)
        [row] = sources.submit(
            db, rt.store, source, rt.submission_fingerprint, "a report", [], consent_state=state
        )
        return row.filename


def _read(rt: Runtime, source: Source, passphrase: str) -> dict[str, bool | None] | None:
    with rt.session() as db:
        row = sources.get_active_source(db, source.uuid)
        with reply_keys.opening(db, rt.keyring, row, passphrase) as opener:
            return source_consent.read_state(db, rt.store, opener, row, passphrase)


def _copies(rt: Runtime, source: Source) -> list[str]:
    return sorted(p.name for p in rt.store.source_dir(source.uuid).glob("*-consent.gpg"))


class TestSealed:
    def test_only_the_codename_opens_it(
        self, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        source, credentials = _source(runtime)
        filename = _send(runtime, source, STATE)
        assert _copies(runtime, source) == [source_consent.state_name(filename)]
        assert _read(runtime, source, credentials.reply_passphrase) == STATE
        assert _read(runtime, source, "not the passphrase") is None
        # Not sealed to the submission key: the copy is the source's, the document is WWoW's.
        copy = runtime.store.path_of(source.uuid, source_consent.state_name(filename))
        with pytest.raises(DecryptionError):
            workstation_keyring.open_bytes(copy.read_bytes(), SUBMISSION_PASSPHRASE)
        assert b"handle_case" not in copy.read_bytes()

    def test_newest_only(self, runtime: Runtime) -> None:
        source, credentials = _source(runtime)
        _send(runtime, source, STATE)
        _send(runtime, source, None)  # a plain message leaves the copy alone
        last = _send(runtime, source, {"court": True})
        assert _copies(runtime, source) == [source_consent.state_name(last)]
        assert _read(runtime, source, credentials.reply_passphrase) == {"court": True}

    def test_a_copy_without_its_submission_does_not_count(self, runtime: Runtime) -> None:
        """As a crash between the seal and the commit would leave it."""
        source, credentials = _source(runtime)
        _send(runtime, source, STATE)
        runtime.store.seal_bytes_to(
            source.uuid,
            f"99-{source.slug}-consent.gpg",
            consent_state_dumps({"court": True}),
            [source.reply_key_fingerprint],
        )
        assert _read(runtime, source, credentials.reply_passphrase) == STATE
        assert jobs.sweep_store(runtime, older_than_seconds=0) == 1  # the orphan, not the copy
        assert len(_copies(runtime, source)) == 1

    def test_a_refused_submission_leaves_no_copy(self, runtime: Runtime) -> None:
        source, credentials = _source(runtime)
        _send(runtime, source, STATE)
        with runtime.session() as db:
            merged = sources.get_active_source(db, source.uuid)
            with pytest.raises(QuotaExceededError):
                sources.submit(
                    db, runtime.store, merged, runtime.submission_fingerprint, "x" * 5000, [],
                    quota_bytes=100, consent_state={"court": True},
                )  # fmt: skip
        assert _read(runtime, source, credentials.reply_passphrase) == STATE

    def test_shredded_with_its_submission(self, runtime: Runtime) -> None:
        source, credentials = _source(runtime)
        filename = _send(runtime, source, STATE)
        with runtime.session() as db:
            merged = sources.get_active_source(db, source.uuid)
            [row] = merged.submissions
            uuid = row.uuid
        assert jobs.delete_submission(runtime, uuid)
        assert _copies(runtime, source) == []
        assert _read(runtime, source, credentials.reply_passphrase) is None
        assert filename.endswith("-msg.gpg")

    def test_a_damaged_copy_reads_as_unknown(self, runtime: Runtime) -> None:
        source, credentials = _source(runtime)
        filename = _send(runtime, source, STATE)
        copy = runtime.store.path_of(source.uuid, source_consent.state_name(filename))
        copy.write_bytes(b"\x00" * 200)
        assert _read(runtime, source, credentials.reply_passphrase) is None
