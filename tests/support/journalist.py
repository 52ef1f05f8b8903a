"""Helpers for the reviewer app's tests: accounts, login with a real TOTP code, CSRF
tokens taken from the rendered forms, and a source created through the vault services."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import os
import re
import time
from dataclasses import dataclass

import pyotp
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from composition.runtime import Runtime
from vault import codenames
from vault.models import Role, Source, Submission
from vault.services import reviewers, sources
from vault.store import DocumentSink

FAST_HASHER = reviewers.make_hasher(time_cost=1, memory_cost=8, parallelism=1)
SESSION_PREFIX = "journalist-session"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Account:
    uuid: str
    username: str
    passphrase: str
    otp_secret: str

    def code(self, offset_steps: int = 0) -> str:
        return pyotp.TOTP(self.otp_secret).at(time.time() + 30 * offset_steps)


def make_account(runtime: Runtime, username: str, role: Role = Role.ANALYST) -> Account:
    with runtime.session() as db:
        reviewer, passphrase = reviewers.create_reviewer(db, username, role, hasher=FAST_HASHER)
        secret = reviewers.totp_secret(db, reviewer)
        return Account(reviewer.uuid, reviewer.username, passphrase, secret)


def credentials_shown(page: str) -> tuple[str | None, str | None]:
    """The passphrase and TOTP secret an admin's credentials page shows once."""
    passphrase = re.search(r'class="secret passphrase">([^<]+)<', page)
    totp = re.search(r'class="secret totp-secret">([^<]+)<', page)
    return (
        html_lib.unescape(passphrase.group(1)) if passphrase else None,
        totp.group(1).replace(" ", "") if totp else None,
    )


def create_through_admin(admin: FlaskClient, username: str, role: Role) -> Account:
    """An account made as an admin makes it: the new-account form, credentials shown once."""
    page = post_form(
        admin,
        "/admin/reviewers/new",
        {"username": username, "role": role.value},
        page="/admin/reviewers/new",
    ).get_data(as_text=True)
    passphrase, otp_secret = credentials_shown(page)
    assert passphrase and otp_secret, "credentials page expected"
    uuid = re.search(r"/admin/reviewers/([0-9a-f-]{36})", page)
    assert uuid
    return Account(uuid.group(1), username, passphrase, otp_secret)


def csrf_token(client: FlaskClient, page: str = "/login") -> str:
    """The CSRF token from a page's form, as a browser would submit it (after following
    any redirect: a partner's "/" is their referrals page)."""
    response = client.get(page, follow_redirects=True)
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {page} ({response.status_code})"
    return match.group(1)


def post_form(
    client: FlaskClient, path: str, data: dict[str, str] | None = None, *, page: str = "/"
) -> TestResponse:
    """POST a form with the CSRF token that `page` carries."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, page)})


def login(
    client: FlaskClient,
    account: Account,
    *,
    username: str | None = None,
    passphrase: str | None = None,
    code: str | None = None,
) -> TestResponse:
    return post_form(
        client,
        "/login",
        {
            "username": account.username if username is None else username,
            "passphrase": account.passphrase if passphrase is None else passphrase,
            "code": account.code() if code is None else code,
        },
        page="/login",
    )


def session_keys(runtime: Runtime) -> set[bytes]:
    return set(runtime.redis.scan_iter(match=f"{SESSION_PREFIX}:*"))


@dataclass
class SubmittedSource:
    uuid: str
    designation: str
    reply_passphrase: str
    message_uuid: str
    message_filename: str
    document_uuid: str
    document_filename: str


def make_source(
    runtime: Runtime, message: str = "a message only the workstation reads"
) -> SubmittedSource:
    """A source that submitted a message and a document, through the vault services."""
    with runtime.session() as db:
        source, creds = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        pending = runtime.store.begin_unassigned([runtime.submission_fingerprint])
        sink = DocumentSink(pending, "report.bin")
        sink.write(os.urandom(20_000))
        msg, doc = sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, message, [sink]
        )
        return SubmittedSource(
            source.uuid,
            source.designation,
            creds.reply_passphrase,
            msg.uuid,
            msg.filename,
            doc.uuid,
            doc.filename,
        )


def submission_row(runtime: Runtime, submission_uuid: str) -> Submission | None:
    with runtime.session() as db:
        return db.scalar(select(Submission).where(Submission.uuid == submission_uuid))


def age_source(runtime: Runtime, source_uuid: str, days: int) -> None:
    """Make a source look inactive for `days` (its last activity moved back)."""
    with runtime.session() as db:
        db.execute(
            update(Source)
            .where(Source.uuid == source_uuid)
            .values(last_updated=dt.datetime.now(dt.UTC) - dt.timedelta(days=days))
        )
        db.commit()


def source_row(runtime: Runtime, source_uuid: str) -> Source | None:
    with runtime.session() as db:
        return db.scalar(select(Source).where(Source.uuid == source_uuid))
