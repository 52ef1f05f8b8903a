"""Replies the team can read: each reply the server seals also gets a team copy, sealed
to the analysts' account keys and the submission key, opened in memory on the source
page; the source's copy is what it always was; copies follow new readers as notes do.
Real gpg, Redis, SQLite and PostgreSQL; the text is nowhere on the server at rest."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.cases.test_referrals import _World as _ReferralWorld
from tests.support.journalist import (
    Account,
    SubmittedSource,
    create_through_admin,
    login,
    make_account,
    make_source,
    post_form,
)
from tests.support.leaks import assert_no_leak
from tests.support.sealing import encrypt_to
from vault.models import (
    AccountKey,
    AuditEvent,
    Referral,
    Reply,
    ReplyCopy,
    ReplySealer,
    Reviewer,
    Role,
)
from vault.models.note import canonical_recipients
from vault.services import notes, replies, reply_keys, reviewers, sources, team_replies
from vault.services.replies import MAX_REPLY_CHARS

MARKER = "REPLY-MARKER-51c9 we will call you on Tuesday at the clinic"
LATER = "REPLY-MARKER-7e02 the appointment moved to Thursday"
BEFORE_COPIES = "Sealed before team copies existed — read it on the workstation."
NOT_YOURS = "This reply was not encrypted to your key."


def _client(app: Flask, account: Account, step: int = 0) -> FlaskClient:
    client = app.test_client()
    assert login(client, account, code=account.code(step)).status_code == 302
    return client


def _page(source: SubmittedSource) -> str:
    return f"/sources/{source.uuid}"


def _reply(client: FlaskClient, source: SubmittedSource, text: str) -> None:
    response = post_form(client, f"{_page(source)}/reply", {"message": text}, page=_page(source))
    assert response.status_code == 302


def _html(client: FlaskClient, source: SubmittedSource) -> str:
    response = client.get(_page(source))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _fingerprint(runtime: Runtime, account: Account) -> str:
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        key = db.get(AccountKey, reviewer.id)
        assert key is not None
        return key.fingerprint


def _copy(runtime: Runtime, reply_uuid: str) -> ReplyCopy:
    with runtime.session() as db:
        return db.scalars(select(ReplyCopy).join(Reply).where(Reply.uuid == reply_uuid)).one()


def _named(keyring: GpgKeyring, ciphertext: bytes) -> set[str]:
    """The key ids the ciphertext's session key packets name, as gpg reads them."""
    return {key_id.upper() for key_id in keyring.gpg.get_recipients(ciphertext)}


def _events(runtime: Runtime, action: str) -> list[AuditEvent]:
    with runtime.session() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _text_of(html: str, reply_uuid: str) -> str:
    """The article a reply is shown in (the whole block, with its meta line)."""
    match = re.search(
        rf'<article class="reply" id="reply-{reply_uuid}">(.*?)</article>', html, re.S
    )
    assert match, "reply block expected"
    return match.group(1)


def test_a_colleague_reads_the_reply_the_source_copy_is_unchanged_and_nothing_leaks(
    app: Flask,
    runtime: Runtime,
    workstation_keyring: GpgKeyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    first, second = make_account(runtime, "analyst1"), make_account(runtime, "analyst2")
    a, b = _client(app, first), _client(app, second)
    source = make_source(runtime)
    _reply(a, source, MARKER)
    with runtime.session() as db:
        reply = db.scalars(select(Reply)).one()
        assert reply.sealed_by is ReplySealer.SERVER
        source_row = reply.source
        # The source's listing and reading, as the source app does them: unchanged.
        listed = sources.replies_for_source(db, source_row)
        assert [r.uuid for r in listed] == [reply.uuid]
        with reply_keys.opening(db, runtime.keyring, source_row, source.reply_passphrase) as key:
            assert (
                sources.read_reply(
                    runtime.store, key, source_row, listed[0], source.reply_passphrase
                )
                == MARKER
            )
        source_key = source_row.reply_key_fingerprint

    # The source's copy is sealed to the source's key and the submission key only.
    stored = runtime.store.path_of(source.uuid, reply.filename).read_bytes()
    keyring = runtime.keyring
    named = _named(keyring, stored)
    source_ids = keyring.key_ids(source_key)
    submission_ids = keyring.key_ids(runtime.submission_fingerprint)
    assert named & source_ids and named & submission_ids
    assert named <= source_ids | submission_ids
    for account in (first, second):
        assert not _named(keyring, stored) & keyring.key_ids(_fingerprint(runtime, account))

    # The team copy: both analysts and the submission key, recorded and in the packets.
    copy = _copy(runtime, reply.uuid)
    team = [_fingerprint(runtime, first), _fingerprint(runtime, second)]
    assert copy.recipients == canonical_recipients([*team, runtime.submission_fingerprint])
    for fingerprint in [*team, runtime.submission_fingerprint]:
        assert _named(keyring, copy.ciphertext) & keyring.key_ids(fingerprint)
    assert not _named(keyring, copy.ciphertext) & keyring.key_ids(source_key)
    assert workstation_keyring.open_bytes(copy.ciphertext, SUBMISSION_PASSPHRASE).decode() == (
        MARKER
    )

    # The colleague reads it on the source page, with its author and time.
    block = _text_of(_html(b, source), reply.uuid)
    assert MARKER in block and "analyst1" in block and "UTC" in block
    [read] = _events(runtime, "replies_read")
    assert read.object_type == "source" and read.object_uuid == source.uuid
    assert json.loads(read.detail or "{}") == {"opened": 1}

    # The download link hands over the source's copy as ciphertext, audited.
    link = f"{_page(source)}/replies/{reply.uuid}/download"
    assert link in block
    response = b.get(link)
    assert response.status_code == 200
    assert response.mimetype == "application/pgp-encrypted"
    assert response.data == stored
    assert workstation_keyring.open_bytes(response.data, SUBMISSION_PASSPHRASE).decode() == MARKER
    [downloaded] = _events(runtime, "reply_downloaded")
    assert (downloaded.object_type, downloaded.object_uuid) == ("reply", reply.uuid)
    assert json.loads(downloaded.detail or "{}") == {"source": source.uuid}
    assert downloaded.actor_uuid == second.uuid

    # The marker search: store, keyring, SQLite files, every Redis key, the logs.
    assert_no_leak(
        MARKER,
        files=[runtime.config.instance_dir.parent],
        engine=runtime.engine,
        redis=runtime.redis,
        blobs={"captured logs": caplog.text.encode()},
    )


def test_reply_download_is_confined_to_its_source_and_to_readers(
    app: Flask, runtime: Runtime
) -> None:
    """Another source's reply, a missing one or a partner's request gets nothing."""
    analyst = _client(app, make_account(runtime, "analyst1"))
    one, other = make_source(runtime), make_source(runtime)
    _reply(analyst, one, "see you soon")
    with runtime.session() as db:
        reply_uuid = db.scalars(select(Reply.uuid)).one()
    assert analyst.get(f"{_page(other)}/replies/{reply_uuid}/download").status_code == 404
    assert analyst.get(f"{_page(one)}/replies/no-such-uuid/download").status_code == 404
    partner = _client(app, make_account(runtime, "partner1", Role.PARTNER))
    assert partner.get(f"{_page(one)}/replies/{reply_uuid}/download").status_code == 403
    assert _events(runtime, "reply_downloaded") == []


def test_copies_follow_new_readers_when_opened_and_at_login(app: Flask, runtime: Runtime) -> None:
    """An account made after a reply gains it once a reader opens the source page (or
    logs in); a deactivated account stops being a recipient; re-sealing is audited by
    the reply's uuid."""
    first = make_account(runtime, "analyst1")
    a = _client(app, first)
    source = make_source(runtime)
    _reply(a, source, MARKER)

    late = make_account(runtime, "analyst2")
    c = _client(app, late)  # its key is made at this login: nothing is sealed to it yet
    with runtime.session() as db:
        reply_uuid = db.scalars(select(Reply.uuid)).one()
    html = _html(c, source)
    assert MARKER not in html and NOT_YOURS in html
    assert "becomes readable once a colleague who can read it logs in or opens this source" in html

    # When opened: the author's page view re-seals the copy to today's readers.
    assert MARKER in _html(a, source)
    copy = _copy(runtime, reply_uuid)
    assert copy.recipients is not None and _fingerprint(runtime, late) in copy.recipients
    assert MARKER in _text_of(_html(c, source), reply_uuid)
    resealed = _events(runtime, "reply_copy_resealed")
    assert [(e.object_type, e.object_uuid) for e in resealed] == [("reply", reply_uuid)]

    # At login: a reply sent now, an account made after it, a reader who logs in again.
    _reply(a, source, LATER)
    with runtime.session() as db:
        later_uuid = db.scalars(select(Reply.uuid).order_by(Reply.id.desc())).first()
    assert later_uuid is not None
    third = make_account(runtime, "analyst3")
    d = _client(app, third)
    assert LATER not in _html(d, source)
    _client(app, first, step=1)  # the login re-seals a batch
    assert _fingerprint(runtime, third) in (_copy(runtime, later_uuid).recipients or "")
    assert LATER in _html(d, source) and MARKER in _html(d, source)

    # A deactivated account is left out at the next re-sealing.
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == late.uuid)).one()
        reviewers.set_active(db, None, reviewer, False)
    _html(a, source)
    for uuid in (reply_uuid, later_uuid):
        assert _fingerprint(runtime, late) not in (_copy(runtime, uuid).recipients or "")
        assert runtime.submission_fingerprint.upper() in (_copy(runtime, uuid).recipients or "")


def test_replies_without_a_team_copy_say_where_to_read_them(app: Flask, runtime: Runtime) -> None:
    """A reply from before team copies and a client-encrypted one are named, not opened."""
    account = make_account(runtime, "analyst1")
    client = _client(app, account)
    source = make_source(runtime)
    _reply(client, source, MARKER)
    with runtime.session() as db:
        old = db.scalars(select(Reply)).one()
        # As a reply sent before migration 0011: no sealer recorded, no team copy.
        old.sealed_by = None
        db.delete(db.scalars(select(ReplyCopy)).one())
        db.commit()
        old_uuid, row = old.uuid, old.source
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        armored = encrypt_to(
            runtime.keyring,
            b"a client-encrypted reply",
            [row.reply_key_fingerprint, runtime.submission_fingerprint],
        ).decode()
        client_reply = replies.store_encrypted_reply(
            db,
            runtime.store,
            runtime.keyring,
            reviewer,
            row,
            armored,
            runtime.submission_fingerprint,
        )
        assert client_reply.sealed_by is ReplySealer.CLIENT and client_reply.team_copy is None
        client_uuid = client_reply.uuid
    html = _html(client, source)
    assert MARKER not in html
    assert BEFORE_COPIES in _text_of(html, old_uuid)
    assert "the server never saw it" in _text_of(html, client_uuid)
    # Both can still be taken to the workstation.
    for uuid in (old_uuid, client_uuid):
        assert client.get(f"{_page(source)}/replies/{uuid}/download").status_code == 200
    assert _events(runtime, "replies_read") == []


def test_a_session_without_a_key_reads_no_reply(app: Flask, runtime: Runtime) -> None:
    """Without the session's key passphrase nothing is opened (the page says how to get
    it back); with the wrong one, nothing either."""
    account = make_account(runtime, "analyst1")
    client = _client(app, account)
    source = make_source(runtime)
    _reply(client, source, MARKER)
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        locked = team_replies.read_replies(db, runtime.keyring, reviewer, source.uuid, None)
        assert [v.state for v in locked] == [team_replies.ReplyState.LOCKED]
        wrong = team_replies.read_replies(
            db, runtime.keyring, reviewer, source.uuid, notes.key_passphrase("00" * 32, "x")
        )
        assert [(v.state, v.text) for v in wrong] == [(team_replies.ReplyState.NOT_YOURS, None)]
    assert _events(runtime, "replies_read") == []


def test_an_account_an_admin_creates_reads_earlier_replies_at_its_first_login(
    app: Flask, runtime: Runtime
) -> None:
    """The admin's session re-seals at once what it can read to the new account's key
    (made with its passphrase), so the newcomer reads the handed-over source at once."""
    admin = _client(app, make_account(runtime, "admin1", Role.ADMIN))
    analyst = _client(app, make_account(runtime, "analyst1"))
    source = make_source(runtime)
    _reply(analyst, source, MARKER)
    newcomer = create_through_admin(admin, "analyst2", Role.ANALYST)
    with runtime.session() as db:
        reply_uuid = db.scalars(select(Reply.uuid)).one()
    assert _fingerprint(runtime, newcomer) in (_copy(runtime, reply_uuid).recipients or "")
    assert MARKER in _text_of(_html(_client(app, newcomer), source), reply_uuid)


def test_a_partners_reply_is_read_by_the_analysts_with_its_organisation(
    app: Flask, runtime: Runtime
) -> None:
    """What a partner promised over a referral reaches the team copy too: the analysts
    read it on the source's page, named by the partner and its organisation."""
    world = _ReferralWorld(app, runtime)
    world.refer(consent=True)
    with runtime.session() as db:
        referral_uuid = db.scalars(select(Referral.uuid)).one()
    page = f"/referrals/{referral_uuid}"
    post_form(world.a, f"{page}/status", {"status": "accepted"}, page=page)
    promised = "PARTNER-PROMISE-0c6d come to the clinic on Monday"
    assert post_form(world.a, f"{page}/reply", {"message": promised}, page=page).status_code == 302
    with runtime.session() as db:
        reply = db.scalars(select(Reply)).one()
        assert reply.referral_id is not None and reply.team_copy is not None
        reply_uuid = reply.uuid
    block = _text_of(_html(world.analyst, world.source), reply_uuid)
    assert promised in block and "partner-a" in block and "Clinic A" in block


def test_a_team_copy_that_cannot_be_sealed_never_holds_the_reply_back(
    app: Flask, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """A reader's key missing from the keyring (and from the database, as for a key made
    before account keys kept their public half) fails the team copy only: the source
    still gets the reply, the page says there is no team copy, the log names the error
    type."""
    caplog.set_level(logging.DEBUG)
    gone = make_account(runtime, "analyst2")
    _client(app, gone)  # its key is made at login...
    fingerprint = _fingerprint(runtime, gone)
    runtime.keyring.delete_key(fingerprint)  # ...and then lost
    with runtime.session_factory() as db:
        db.execute(
            update(AccountKey).where(AccountKey.fingerprint == fingerprint).values(public_key=None)
        )
        db.commit()
    author = _client(app, make_account(runtime, "analyst1"))
    source = make_source(runtime)
    _reply(author, source, MARKER)
    with runtime.session() as db:
        reply = db.scalars(select(Reply)).one()
        assert reply.sealed_by is ReplySealer.SERVER and reply.team_copy is None
        with reply_keys.opening(db, runtime.keyring, reply.source, source.reply_passphrase) as key:
            assert (
                sources.read_reply(runtime.store, key, reply.source, reply, source.reply_passphrase)
                == MARKER
            )
        reply_uuid = reply.uuid
    block = _text_of(_html(author, source), reply_uuid)
    assert "No team copy was made when it was sent" in block and MARKER not in block
    assert "reply team copy not sealed: SealError" in caplog.text
    assert MARKER not in caplog.text


def test_the_longest_reply_opens_from_its_team_copy(app: Flask, runtime: Runtime) -> None:
    """A team copy is bounded by the reply limit (200,000 bytes), not the notes' one."""
    account = make_account(runtime, "analyst1")
    _client(app, account)
    source = make_source(runtime)
    longest = "é" * MAX_REPLY_CHARS  # 100,000 bytes in UTF-8: over a note's 80,000
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        replies.reply_to_source(
            db,
            runtime.store,
            runtime.keyring,
            reviewer,
            source.uuid,
            longest,
            runtime.submission_fingerprint,
        )
        key = db.get(AccountKey, reviewer.id)
        assert key is not None
        [view] = team_replies.read_replies(
            db,
            runtime.keyring,
            reviewer,
            source.uuid,
            notes.key_passphrase(key.salt, account.passphrase),
        )
    assert view.state is team_replies.ReplyState.OPENED and view.text == longest
