"""Re-sealing: notes and referral messages follow their current readers.

An account made later gains the older items once a reader who can open them logs in or
opens them; a deactivated account stops being a recipient; the submission key always
stays one. Checked on the ciphertext itself (the key ids its session key packets name)
and on the recorded recipients, with real gpg, on SQLite and PostgreSQL; the text never
reaches the database, Redis, files or logs, and the audit log names items by uuid only.
"""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from keys.errors import DecryptionError
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.consent import record_consent
from tests.support.journalist import Account, login, make_account, make_source, post_form
from tests.support.leaks import assert_no_leak
from vault.models import (
    AccountKey,
    AuditEvent,
    Case,
    CaseNote,
    PartnerOrg,
    Referral,
    ReferralMessage,
    ReferralStatus,
    Reviewer,
    Role,
)
from vault.models.note import canonical_recipients
from vault.services import notes, partners, referral_messages, resealing, reviewers

NOTE = "RESEAL-NOTE-4c1e the survivor was moved to a safe house"
MESSAGE = "RESEAL-MSG-9b2d please call before the visit"
HINT_NOTE = "becomes readable once a colleague who can read it logs in or opens this case"
HINT_MESSAGE = "becomes readable once a colleague who can read it logs in or opens this referral"


def _client(app: Flask, account: Account, step: int = 0) -> FlaskClient:
    client = app.test_client()
    assert login(client, account, code=account.code(step)).status_code == 302
    return client


def _key(runtime: Runtime, account: Account) -> AccountKey:
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        key = db.get(AccountKey, reviewer.id)
        assert key is not None
        return key


def _named_key_ids(keyring: GpgKeyring, ciphertext: bytes) -> set[str]:
    """The key ids the ciphertext's session key packets name, as gpg itself reads them."""
    return {key_id.upper() for key_id in keyring.gpg.get_recipients(ciphertext)}


def _sealed_to(runtime: Runtime, ciphertext: bytes, fingerprint: str) -> bool:
    return bool(_named_key_ids(runtime.keyring, ciphertext) & runtime.keyring.key_ids(fingerprint))


def _deactivate(runtime: Runtime, account: Account) -> None:
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        reviewers.set_active(db, None, reviewer, False)


def _opens(runtime: Runtime, account: Account, ciphertext: bytes) -> bool:
    key = _key(runtime, account)
    try:
        runtime.keyring.open_bytes(ciphertext, notes.key_passphrase(key.salt, account.passphrase))
    except DecryptionError:
        return False
    return True


def _events(runtime: Runtime, action: str) -> list[AuditEvent]:
    with runtime.session() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _assert_no_plaintext(runtime: Runtime, text: str, caplog: pytest.LogCaptureFixture) -> None:
    assert_no_leak(
        text,
        files=[runtime.config.instance_dir.parent],
        engine=runtime.engine,
        redis=runtime.redis,
        blobs={"captured logs": caplog.text.encode()},
    )


class TestNotes:
    """Case notes are re-sealed at a reader's login and when a reader opens the case."""

    def _case_with_note(self, app: Flask, runtime: Runtime, client: FlaskClient) -> str:
        source = make_source(runtime)
        page = f"/sources/{source.uuid}"
        post_form(client, "/cases/new", {"source": source.uuid, "priority": "normal"}, page=page)
        with runtime.session() as db:
            case = db.scalars(select(Case)).one()
        notes_page = f"/cases/{case.uuid}/notes"
        assert post_form(client, notes_page, {"text": NOTE}, page=notes_page).status_code == 302
        return notes_page

    def test_late_account_gains_and_deactivated_account_loses_at_login(
        self,
        app: Flask,
        runtime: Runtime,
        workstation_keyring: GpgKeyring,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A reader's next login re-seals: the late analyst reads, the deactivated one not."""
        caplog.set_level(logging.DEBUG)
        first, gone = make_account(runtime, "analyst1"), make_account(runtime, "analyst2")
        a = _client(app, first)
        _client(app, gone)
        notes_page = self._case_with_note(app, runtime, a)
        sub = runtime.submission_fingerprint
        fp_first, fp_gone = _key(runtime, first).fingerprint, _key(runtime, gone).fingerprint
        with runtime.session() as db:
            note = db.scalars(select(CaseNote)).one()
        assert note.recipients == canonical_recipients([fp_first, fp_gone, sub])

        # A new analyst logs in (its key is made then): the note is not sealed to it, and
        # its own login re-seals nothing (it cannot open the note).
        late = make_account(runtime, "analyst3")
        c = _client(app, late)
        html = c.get(notes_page).get_data(as_text=True)
        assert NOTE not in html
        assert "not encrypted to your key" in html and HINT_NOTE in html
        with runtime.session() as db:
            assert db.scalars(select(CaseNote)).one().ciphertext == note.ciphertext
        assert _events(runtime, "case_note_resealed") == []

        # One analyst is deactivated; the first analyst logs in again.
        _deactivate(runtime, gone)
        _client(app, first, step=1)
        fp_late = _key(runtime, late).fingerprint
        with runtime.session() as db:
            resealed = db.scalars(select(CaseNote)).one()
        assert resealed.recipients == canonical_recipients([fp_first, fp_late, sub])
        assert resealed.size == len(resealed.ciphertext)
        assert resealed.ciphertext != note.ciphertext
        # The ciphertext itself, not only the column: sealed to exactly these three keys.
        assert _sealed_to(runtime, resealed.ciphertext, fp_late)
        assert _sealed_to(runtime, resealed.ciphertext, sub)
        assert not _sealed_to(runtime, resealed.ciphertext, fp_gone)
        assert len(_named_key_ids(runtime.keyring, resealed.ciphertext)) == 3
        assert not _opens(runtime, gone, resealed.ciphertext)
        assert _opens(runtime, late, resealed.ciphertext)

        html = c.get(notes_page).get_data(as_text=True)
        assert NOTE in html and HINT_NOTE not in html
        assert workstation_keyring.open_bytes(resealed.ciphertext, SUBMISSION_PASSPHRASE) == (
            NOTE.encode()
        )
        events = _events(runtime, "case_note_resealed")
        assert [(e.object_type, e.object_uuid, e.actor_uuid) for e in events] == [
            ("note", note.uuid, first.uuid)
        ]
        # Nothing is left to do: the next login and read leave the note as it is.
        _client(app, late, step=1)
        c.get(notes_page)
        assert len(_events(runtime, "case_note_resealed")) == 1
        _assert_no_plaintext(runtime, NOTE, caplog)

    def test_opening_the_case_reseals_its_notes(
        self, app: Flask, runtime: Runtime, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A reader's view of the notes re-seals them for the late analyst, at once."""
        caplog.set_level(logging.DEBUG)
        first = make_account(runtime, "analyst1")
        a = _client(app, first)
        notes_page = self._case_with_note(app, runtime, a)
        late = make_account(runtime, "analyst3")
        c = _client(app, late)
        assert NOTE not in c.get(notes_page).get_data(as_text=True)
        assert NOTE in a.get(notes_page).get_data(as_text=True)  # the same session as before
        assert NOTE in c.get(notes_page).get_data(as_text=True)
        with runtime.session() as db:
            note = db.scalars(select(CaseNote)).one()
        assert note.recipients is not None
        assert _key(runtime, late).fingerprint in note.recipients.split(",")
        assert len(_events(runtime, "case_note_resealed")) == 1
        _assert_no_plaintext(runtime, NOTE, caplog)

    def test_notes_without_recorded_recipients(
        self, app: Flask, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        """Notes from before migration 0005 (recipients NULL) are re-sealed and recorded
        by a login that can open them, left alone by one that cannot."""
        first = make_account(runtime, "analyst1")
        a = _client(app, first)
        notes_page = self._case_with_note(app, runtime, a)
        with runtime.session() as db:
            db.execute(update(CaseNote).values(recipients=None))
            db.commit()
        late = make_account(runtime, "analyst3")
        c = _client(app, late)  # cannot open it: stays NULL
        with runtime.session() as db:
            assert db.scalars(select(CaseNote)).one().recipients is None
        _client(app, first, step=1)
        with runtime.session() as db:
            note = db.scalars(select(CaseNote)).one()
        expected = [_key(runtime, x).fingerprint for x in (first, late)]
        assert note.recipients == canonical_recipients([*expected, runtime.submission_fingerprint])
        assert NOTE in c.get(notes_page).get_data(as_text=True)
        assert workstation_keyring.open_bytes(note.ciphertext, SUBMISSION_PASSPHRASE) == (
            NOTE.encode()
        )

    def test_login_batch_is_bounded(self, app: Flask, runtime: Runtime) -> None:
        """At most `limit` notes per call, oldest first; the rest at the next call."""
        first = make_account(runtime, "analyst1")
        a = _client(app, first)
        notes_page = self._case_with_note(app, runtime, a)
        for n in range(2):
            post_form(a, notes_page, {"text": f"note {n}"}, page=notes_page)
        late = make_account(runtime, "analyst3")
        _client(app, late)
        key = _key(runtime, first)
        passphrase = notes.key_passphrase(key.salt, first.passphrase)
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.uuid == first.uuid)).one()
            args = (db, runtime.keyring, actor, passphrase, runtime.submission_fingerprint)
            assert notes.reseal_pending_notes(*args, limit=2) == 2
            db.commit()  # as the login's request does
            ids = [e.object_uuid for e in _events(runtime, "case_note_resealed")]
            oldest = list(db.scalars(select(CaseNote.uuid).order_by(CaseNote.id)))
            assert ids == oldest[:2]
            assert notes.reseal_pending_notes(*args, limit=2) == 1
            assert notes.reseal_pending_notes(*args, limit=2) == 0

    def test_a_failing_batch_never_costs_the_login(
        self, app: Flask, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Fault injection: the database fails in the middle of the login batch."""
        first = make_account(runtime, "analyst1")
        a = _client(app, first)
        self._case_with_note(app, runtime, a)
        make_account(runtime, "analyst3")

        def broken(*_args: object, **_kwargs: object) -> int:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

        monkeypatch.setattr(notes, "reseal_pending_notes", broken)
        again = app.test_client()
        response = login(again, first, code=first.code(1))
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/")
        assert again.get("/").status_code == 200

    def test_partner_login_touches_no_note(self, app: Flask, runtime: Runtime) -> None:
        first = make_account(runtime, "analyst1")
        a = _client(app, first)
        self._case_with_note(app, runtime, a)
        _client(app, make_account(runtime, "partner1", Role.PARTNER))
        with runtime.session() as db:
            note = db.scalars(select(CaseNote)).one()
        assert note.recipients == canonical_recipients(
            [_key(runtime, first).fingerprint, runtime.submission_fingerprint]
        )


class _Referral:
    """An analyst, Clinic A (partner_a) and Lawyers B (partner_b), a referral to Clinic A
    with one message from the analyst."""

    def __init__(self, app: Flask, runtime: Runtime) -> None:
        self.app, self.runtime = app, runtime
        self.admin = make_account(runtime, "admin1", Role.ADMIN)
        self.partner_a = make_account(runtime, "partner-a", Role.PARTNER)
        self.partner_b = make_account(runtime, "partner-b", Role.PARTNER)
        self.partner_c = make_account(runtime, "partner-c", Role.PARTNER)
        with runtime.session() as db:
            actor = self.admin_row(db)
            clinic = partners.create_org(db, actor, "Clinic A", [partners.PartnerService.MEDICAL])
            lawyers = partners.create_org(db, actor, "Lawyers B", [partners.PartnerService.LEGAL])
            partners.add_member(db, actor, clinic.uuid, self.partner_a.uuid)
            partners.add_member(db, actor, lawyers.uuid, self.partner_b.uuid)
            self.clinic_uuid = clinic.uuid
        self.a = _client(app, self.partner_a)
        self.b = _client(app, self.partner_b)
        self.analyst_account = make_account(runtime, "analyst1")
        self.analyst = _client(app, self.analyst_account)
        source = make_source(runtime)
        post_form(
            self.analyst, "/cases/new", {"source": source.uuid}, page=f"/sources/{source.uuid}"
        )
        with runtime.session() as db:
            case = db.scalars(select(Case)).one()
        record_consent(runtime, self.analyst_account.uuid, case.uuid, source.uuid, "refer_partner")
        refer = f"/cases/{case.uuid}/referrals"
        data = {"org": self.clinic_uuid, "source": source.uuid}
        post_form(self.analyst, refer, data, page=refer)
        with runtime.session() as db:
            self.referral_uuid = db.scalars(select(Referral.uuid)).one()
        self.page = f"/referrals/{self.referral_uuid}"
        post_form(self.analyst, f"{self.page}/messages", {"text": MESSAGE}, page=self.page)

    def admin_row(self, db: Session) -> Reviewer:
        return db.scalars(select(Reviewer).where(Reviewer.uuid == self.admin.uuid)).one()

    def join_clinic(self, account: Account) -> None:
        with self.runtime.session() as db:
            partners.add_member(db, self.admin_row(db), self.clinic_uuid, account.uuid)

    def message(self) -> ReferralMessage:
        with self.runtime.session() as db:
            return db.scalars(select(ReferralMessage)).one()


class TestReferralMessages:
    """Referral messages follow the referral's readers: analysts/admins, the referred
    organisation's partner members, the submission key; never another organisation."""

    def test_partner_added_later_and_partner_deactivated(
        self,
        app: Flask,
        runtime: Runtime,
        workstation_keyring: GpgKeyring,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        w = _Referral(app, runtime)
        sub = runtime.submission_fingerprint
        fp = {x.username: _key(runtime, x).fingerprint for x in (w.partner_a, w.partner_b)}
        fp["analyst1"] = _key(runtime, w.analyst_account).fingerprint
        first = w.message()
        assert first.recipients == canonical_recipients([fp["partner-a"], fp["analyst1"], sub])

        # A partner joins the clinic later and logs in: the message is not sealed to it.
        w.join_clinic(w.partner_c)
        c = _client(app, w.partner_c)
        fp["partner-c"] = _key(runtime, w.partner_c).fingerprint
        html = c.get(w.page).get_data(as_text=True)
        assert MESSAGE not in html and HINT_MESSAGE in html
        # Another organisation's partner logging in again changes nothing.
        _client(app, w.partner_b, step=1)
        assert w.message().ciphertext == first.ciphertext

        # The clinic's first partner logs in again: the message is re-sealed at login.
        _client(app, w.partner_a, step=1)
        second = w.message()
        readers = [fp["partner-a"], fp["partner-c"], fp["analyst1"], sub]
        assert second.recipients == canonical_recipients(readers)
        assert _sealed_to(runtime, second.ciphertext, fp["partner-c"])
        assert not _sealed_to(runtime, second.ciphertext, fp["partner-b"])
        assert len(_named_key_ids(runtime.keyring, second.ciphertext)) == 4
        assert MESSAGE in c.get(w.page).get_data(as_text=True)
        assert not _opens(runtime, w.partner_b, second.ciphertext)

        # The first partner is deactivated; the analyst opens the referral: it shrinks.
        _deactivate(runtime, w.partner_a)
        assert MESSAGE in w.analyst.get(w.page).get_data(as_text=True)
        third = w.message()
        assert third.recipients == canonical_recipients([fp["partner-c"], fp["analyst1"], sub])
        assert not _sealed_to(runtime, third.ciphertext, fp["partner-a"])
        assert not _opens(runtime, w.partner_a, third.ciphertext)
        assert len(_named_key_ids(runtime.keyring, third.ciphertext)) == 3
        assert workstation_keyring.open_bytes(third.ciphertext, SUBMISSION_PASSPHRASE) == (
            MESSAGE.encode()
        )
        events = _events(runtime, "referral_message_resealed")
        assert [(e.object_type, e.object_uuid) for e in events] == [
            ("referral_message", first.uuid)
        ] * 2
        assert [e.actor_uuid for e in events] == [w.partner_a.uuid, w.analyst_account.uuid]
        _assert_no_plaintext(runtime, MESSAGE, caplog)

    def test_each_organisation_s_messages_reach_its_own_new_readers(
        self, app: Flask, runtime: Runtime
    ) -> None:
        """Two organisations' referrals, each with a new member: the service re-seals
        each message to its own organisation's readers (never the other's), an
        organisation's messages alone with `org_uuid`, and nothing twice."""
        w = _Referral(app, runtime)
        with runtime.session() as db:
            lawyers_uuid = db.scalars(
                select(PartnerOrg.uuid).where(PartnerOrg.name == "Lawyers B")
            ).one()
            case = db.scalars(select(Case)).one()
            case_uuid, source_uuid = case.uuid, case.sources[0].uuid
        refer = f"/cases/{case_uuid}/referrals"
        post_form(w.analyst, refer, {"org": lawyers_uuid, "source": source_uuid}, page=refer)
        with runtime.session() as db:
            to_lawyers = db.scalars(
                select(Referral.uuid).where(Referral.uuid != w.referral_uuid)
            ).one()
        page = f"/referrals/{to_lawyers}"
        post_form(w.analyst, f"{page}/messages", {"text": MESSAGE}, page=page)
        partner_d = make_account(runtime, "partner-d", Role.PARTNER)
        w.join_clinic(w.partner_c)
        with runtime.session() as db:
            partners.add_member(db, w.admin_row(db), lawyers_uuid, partner_d.uuid)
        _client(app, w.partner_c)  # their account keys exist from their first login
        _client(app, partner_d)
        fp = {x.username: _key(runtime, x).fingerprint for x in (w.partner_c, partner_d)}

        def message_of(referral_uuid: str) -> ReferralMessage:
            with runtime.session() as db:
                return db.scalars(
                    select(ReferralMessage)
                    .join(Referral, Referral.id == ReferralMessage.referral_id)
                    .where(Referral.uuid == referral_uuid)
                ).one()

        before = {r: message_of(r) for r in (w.referral_uuid, to_lawyers)}
        key = _key(runtime, w.analyst_account)
        passphrase = notes.key_passphrase(key.salt, w.analyst_account.passphrase)

        def reseal(org_uuid: str | None = None) -> int:
            with runtime.session() as db:
                actor = db.scalars(
                    select(Reviewer).where(Reviewer.uuid == w.analyst_account.uuid)
                ).one()
                return referral_messages.reseal_pending_messages(
                    db,
                    runtime.keyring,
                    actor,
                    passphrase,
                    runtime.submission_fingerprint,
                    org_uuid=org_uuid,
                )

        # One pass: each message sealed to its own organisation's new member only.
        assert reseal() == 2
        clinic_message, lawyers_message = message_of(w.referral_uuid), message_of(to_lawyers)
        assert _opens(runtime, w.partner_c, clinic_message.ciphertext)
        assert not _opens(runtime, partner_d, clinic_message.ciphertext)
        assert not _opens(runtime, w.partner_b, clinic_message.ciphertext)
        assert _opens(runtime, partner_d, lawyers_message.ciphertext)
        assert not _opens(runtime, w.partner_c, lawyers_message.ciphertext)
        assert fp["partner-d"] not in (clinic_message.recipients or "")
        assert fp["partner-c"] not in (lawyers_message.recipients or "")
        assert reseal() == 0

        # Both new members leave; with org_uuid, only that organisation's message follows.
        _deactivate(runtime, w.partner_c)
        _deactivate(runtime, partner_d)
        assert reseal(org_uuid=lawyers_uuid) == 1
        assert message_of(w.referral_uuid).ciphertext == clinic_message.ciphertext
        assert fp["partner-d"] not in (message_of(to_lawyers).recipients or "")
        assert reseal() == 1
        assert fp["partner-c"] not in (message_of(w.referral_uuid).recipients or "")
        assert reseal() == 0
        events = _events(runtime, "referral_message_resealed")
        assert sorted(e.object_uuid or "" for e in events) == sorted(
            [before[w.referral_uuid].uuid, before[to_lawyers].uuid] * 2
        )

    def test_partner_does_not_reseal_a_declined_referral(
        self, app: Flask, runtime: Runtime
    ) -> None:
        """A partner re-seals only what it may see now: never a declined referral."""
        w = _Referral(app, runtime)
        with runtime.session() as db:
            referral = db.scalars(select(Referral)).one()
            referral.status = ReferralStatus.DECLINED
            db.commit()
        w.join_clinic(w.partner_c)
        _client(app, w.partner_c)
        before = w.message()
        _client(app, w.partner_a, step=1)
        assert w.message().ciphertext == before.ciphertext
        # An analyst may still see it, and re-seals it at the next login.
        _client(app, w.analyst_account, step=1)
        assert _key(runtime, w.partner_c).fingerprint in (w.message().recipients or "")

    def test_read_path_keeps_the_visibility_rules(self, app: Flask, runtime: Runtime) -> None:
        """Reading through the service re-seals to the referral's readers, no one else."""
        w = _Referral(app, runtime)
        w.join_clinic(w.partner_c)
        _client(app, w.partner_c)
        key = _key(runtime, w.analyst_account)
        with runtime.session() as db:
            actor = db.scalars(
                select(Reviewer).where(Reviewer.uuid == w.analyst_account.uuid)
            ).one()
            opened = referral_messages.read_messages(
                db,
                runtime.keyring,
                actor,
                w.referral_uuid,
                notes.key_passphrase(key.salt, w.analyst_account.passphrase),
                submission_fingerprint=runtime.submission_fingerprint,
            )
        assert [text for _, text in opened] == [MESSAGE]
        recipients = (w.message().recipients or "").split(",")
        assert _key(runtime, w.partner_c).fingerprint in recipients
        assert _key(runtime, w.partner_b).fingerprint not in recipients


class TestHelpers:
    """The recorded form of a recipient set, and the packet reader for unrecorded ones."""

    def test_canonical_recipients(self) -> None:
        assert canonical_recipients(["bb", "AA", "BB"]) == "AA,BB"

    def test_session_key_packets_of_garbage(self) -> None:
        """Not OpenPGP, truncated or empty: no key id, and no exception."""
        for data in (b"", b"\x00\x01", b"\xc1", b"\x85\x01", b"\xc1\xff\x00", b"not pgp"):
            assert resealing.pkesk_key_ids(data) == set()
