"""Encrypted notes: sealed to each analyst's own key and to the submission key, opened
with the key passphrase held in the sealed session; the text is nowhere on the server."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import Account, login, make_account, make_source, post_form
from tests.support.leaks import assert_no_leak
from vault.models import AccountKey, AuditEvent, Case, CaseNote, Role
from vault.services import reviewers

MARKER = "NOTE-MARKER-7f3a the survivor needs PEP within 72h"


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


def test_note_end_to_end_and_no_plaintext_anywhere(
    app: Flask,
    runtime: Runtime,
    workstation_keyring: GpgKeyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    first = make_account(runtime, "analyst1")
    second = make_account(runtime, "analyst2")
    partner = make_account(runtime, "partner1", Role.PARTNER)
    a, b = _client(app, first), _client(app, second)
    source = make_source(runtime)
    page = f"/sources/{source.uuid}"
    post_form(a, "/cases/new", {"source": source.uuid, "priority": "normal"}, page=page)
    with runtime.session() as db:
        case = db.scalars(select(Case)).one()
        assert len(db.scalars(select(AccountKey)).all()) == 2
    notes_page = f"/cases/{case.uuid}/notes"
    response = post_form(a, notes_page, {"text": MARKER}, page=notes_page)
    assert response.status_code == 302
    assert MARKER in a.get(notes_page).get_data(as_text=True)
    seen_by_b = b.get(notes_page).get_data(as_text=True)
    assert MARKER in seen_by_b
    # Each note names its author and time (the meta line above its text).
    meta = re.search(r'<article class="note">\s*<p class="meta">([^<]*)</p>', seen_by_b)
    assert meta and "analyst1" in meta.group(1) and "UTC" in meta.group(1)

    # An account that had no key when the note was written cannot open it on the server.
    late = _client(app, make_account(runtime, "analyst3"))
    late_html = late.get(notes_page).get_data(as_text=True)
    assert MARKER not in late_html and "not encrypted to your key" in late_html

    # A partner is refused, and the refusal is audited.
    p = _client(app, partner)
    assert p.get(notes_page).status_code == 403
    assert p.post(notes_page, data={"text": "x"}).status_code in (400, 403)

    # The workstation opens every note with the submission key.
    with runtime.session() as db:
        note = db.scalars(select(CaseNote)).one()
        denied = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "case_access_denied")
        ).all()
        assert denied
        assert {"case_note_added", "case_notes_viewed"} <= set(
            db.scalars(select(AuditEvent.action))
        )
    assert workstation_keyring.open_bytes(note.ciphertext, SUBMISSION_PASSPHRASE).decode() == MARKER

    # The marker search: database rows and files, Redis, logs.
    # The test directory holds the instance (store, keyring) and the SQLite files.
    assert_no_leak(
        MARKER,
        files=[runtime.config.instance_dir.parent],
        engine=runtime.engine,
        redis=runtime.redis,
        blobs={"captured logs": caplog.text.encode()},
    )


def test_passphrase_reset_replaces_the_key(app: Flask, runtime: Runtime) -> None:
    """After a reset the old key cannot be opened: a new one is made at the next login."""
    account = make_account(runtime, "analyst1")
    _client(app, account)
    with runtime.session() as db:
        old = db.scalars(select(AccountKey)).one().fingerprint
        reviewer = reviewers.get_reviewer(db, None, account.uuid)
        from tests.support.journalist import FAST_HASHER

        account.passphrase = reviewers.reset_passphrase(db, None, reviewer, hasher=FAST_HASHER)
    client = app.test_client()
    assert login(client, account, code=account.code(1)).status_code == 302
    with runtime.session() as db:
        new = db.scalars(select(AccountKey)).one().fingerprint
    assert new != old
    assert not runtime.keyring.has_secret_key(old)
