"""Account management in the admin pages; everyone else gets 403."""

from __future__ import annotations

import html
import re
import urllib.parse

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from composition.runtime import Runtime
from tests.support.journalist import Account, login, post_form, session_keys
from vault.codenames import codename_words
from vault.models import AuditEvent, Reviewer, Role
from vault.services import reviewers

_PASSPHRASE = re.compile(r'<p class="secret passphrase">([^<]+)</p>')
_SECRET = re.compile(r'<p class="secret totp-secret">([^<]+)</p>')
_QR = re.compile(r'<img class="qr" src="(data:image/svg\+xml[^"]+)"')


def _reviewer(runtime: Runtime, username: str) -> Reviewer | None:
    with runtime.session() as db:
        return db.scalar(select(Reviewer).where(Reviewer.username == username))


def _secret(runtime: Runtime, reviewer: Reviewer) -> str:
    with runtime.session() as db:
        return reviewers.totp_secret(db, reviewer)


def _credentials(page: str) -> tuple[str | None, str | None]:
    passphrase = _PASSPHRASE.search(page)
    secret = _SECRET.search(page)
    return (
        passphrase.group(1) if passphrase else None,
        secret.group(1).replace(" ", "") if secret else None,
    )


def _add(client: FlaskClient, username: str, role: str = "analyst") -> str:
    response = post_form(
        client,
        "/admin/reviewers/new",
        {"username": username, "role": role},
        page="/admin/reviewers/new",
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_admin_creates_reviewer_with_qr(
    admin_client: FlaskClient, app: Flask, runtime: Runtime
) -> None:
    """The new account's passphrase and TOTP QR are shown once, and they work."""
    page = _add(admin_client, "Nadia", "partner")
    passphrase, secret = _credentials(page)
    assert passphrase is not None and secret is not None
    assert len(passphrase.split()) == 7 and set(passphrase.split()) <= set(codename_words())
    qr = _QR.search(page)
    assert qr is not None
    svg = urllib.parse.unquote(html.unescape(qr.group(1)))
    assert "<svg" in svg and "<path" in svg
    row = _reviewer(runtime, "nadia")
    assert row is not None and row.role is Role.PARTNER and _secret(runtime, row) == secret
    assert passphrase not in row.passphrase_hash
    # Shown once: the reviewer's page does not show them again.
    again = admin_client.get(f"/admin/reviewers/{row.uuid}").get_data(as_text=True)
    assert passphrase not in again and secret not in again.replace(" ", "")
    # The credentials log in.
    newcomer = Account(row.uuid, "nadia", passphrase, secret)
    assert login(app.test_client(), newcomer).status_code == 302
    with runtime.session() as db:
        assert db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "reviewer_created", AuditEvent.object_uuid == row.uuid)
        )
    listing = admin_client.get("/admin/").get_data(as_text=True)
    assert "nadia" in listing and "admin1" in listing


def test_duplicate_or_bad_username_refused(admin_client: FlaskClient, runtime: Runtime) -> None:
    """Taken or malformed usernames are refused on the form; nothing is created."""
    page = _add(admin_client, "admin1")
    assert "This username is already taken." in page
    assert _credentials(page) == (None, None)
    page = _add(admin_client, "no spaces")
    assert _credentials(page) == (None, None)
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Reviewer)) == 1


def test_change_role_deactivate_reactivate(
    admin_client: FlaskClient, app: Flask, runtime: Runtime
) -> None:
    """Role changes and deactivation apply at the target's next request."""
    passphrase, secret = _credentials(_add(admin_client, "ana"))
    assert passphrase and secret
    row = _reviewer(runtime, "ana")
    assert row is not None
    other = app.test_client()
    assert login(other, Account(row.uuid, "ana", passphrase, secret)).status_code == 302
    assert other.get("/admin/").status_code == 403

    base = f"/admin/reviewers/{row.uuid}"
    post_form(admin_client, f"{base}/role", {"role": "admin"}, page=base)
    assert (_reviewer(runtime, "ana") or row).role is Role.ADMIN
    assert other.get("/admin/").status_code == 200

    keys = session_keys(runtime)
    post_form(admin_client, f"{base}/deactivate", page=base)
    assert not (_reviewer(runtime, "ana") or row).is_active
    assert other.get("/").status_code == 302
    assert len(session_keys(runtime)) == len(keys) - 1  # ana's session went

    post_form(admin_client, f"{base}/activate", page=base)
    assert (_reviewer(runtime, "ana") or row).is_active
    again = Account(row.uuid, "ana", passphrase, secret)
    assert login(other, again, code=again.code(1)).status_code == 302


def test_reactivation_does_not_revive_sessions(
    admin_client: FlaskClient, app: Flask, runtime: Runtime
) -> None:
    """A session not used while its account was deactivated stays ended afterwards."""
    passphrase, secret = _credentials(_add(admin_client, "ana"))
    row = _reviewer(runtime, "ana")
    assert row is not None and passphrase and secret
    ana = Account(row.uuid, "ana", passphrase, secret)
    other = app.test_client()
    assert login(other, ana).status_code == 302
    assert other.get("/").status_code == 200
    keys = session_keys(runtime)

    base = f"/admin/reviewers/{row.uuid}"
    post_form(admin_client, f"{base}/deactivate", page=base)
    post_form(admin_client, f"{base}/activate", page=base)
    assert (_reviewer(runtime, "ana") or row).is_active

    response = other.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert len(session_keys(runtime)) == len(keys) - 1  # ana's old session went
    assert login(other, ana, code=ana.code(1)).status_code == 302
    assert other.get("/").status_code == 200


def test_reset_totp_and_passphrase(admin_client: FlaskClient, app: Flask, runtime: Runtime) -> None:
    """Resets show the new credential once (QR for 2FA); the old one stops working."""
    passphrase, secret = _credentials(_add(admin_client, "ana"))
    assert passphrase and secret
    row = _reviewer(runtime, "ana")
    assert row is not None
    base = f"/admin/reviewers/{row.uuid}"

    page = post_form(admin_client, f"{base}/reset-totp", page=base).get_data(as_text=True)
    assert _QR.search(page)
    _, new_secret = _credentials(page)
    assert new_secret and new_secret != secret
    old = Account(row.uuid, "ana", passphrase, secret)
    if old.code() != pyotp.TOTP(new_secret).now():
        assert login(app.test_client(), old).status_code == 401

    page = post_form(admin_client, f"{base}/reset-passphrase", page=base).get_data(as_text=True)
    new_passphrase, shown_secret = _credentials(page)
    assert new_passphrase and new_passphrase != passphrase and shown_secret is None
    assert (
        login(app.test_client(), Account(row.uuid, "ana", passphrase, new_secret)).status_code
        == 401
    )
    fresh = Account(row.uuid, "ana", new_passphrase, new_secret)
    assert login(app.test_client(), fresh, code=fresh.code(1)).status_code == 302


def test_last_admin_cannot_deactivate_self(
    admin_client: FlaskClient, runtime: Runtime, admin: Account
) -> None:
    """Removing the only admin is refused with a message."""
    base = f"/admin/reviewers/{admin.uuid}"
    response = post_form(admin_client, f"{base}/deactivate", page=base)
    assert response.status_code == 302
    assert "at least one active admin" in admin_client.get(base).get_data(as_text=True)
    row = _reviewer(runtime, "admin1")
    assert row is not None and row.is_active and row.role is Role.ADMIN


@pytest.mark.parametrize("who", ["analyst_client", "partner_client"])
def test_non_admins_get_403(
    who: str, request: pytest.FixtureRequest, runtime: Runtime, admin: Account
) -> None:
    """Every admin page and action is 403 for analysts and partners; nothing changes."""
    client: FlaskClient = request.getfixturevalue(who)
    base = f"/admin/reviewers/{admin.uuid}"
    for path in ("/admin/", "/admin/reviewers/new", base):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "You are not allowed to do this." in response.get_data(as_text=True)
    for path, data in (
        ("/admin/reviewers/new", {"username": "intruder", "role": "admin"}),
        (f"{base}/role", {"role": "analyst"}),
        (f"{base}/deactivate", {}),
        (f"{base}/reset-totp", {}),
        (f"{base}/reset-passphrase", {}),
    ):
        assert post_form(client, path, data).status_code == 403, path
    row = _reviewer(runtime, "admin1")
    assert row is not None and row.is_active and row.role is Role.ADMIN
    assert _secret(runtime, row) == admin.otp_secret
    assert _reviewer(runtime, "intruder") is None
    assert "/admin/" not in client.get("/").get_data(as_text=True)
