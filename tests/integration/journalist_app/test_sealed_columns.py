"""Sealed columns (vault.column_key): TOTP secrets and the partner directory's regions,
languages and contact are never in clear in the database, and the reviewer app still
logs in with TOTP and shows the directory."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from tests.support.journalist import (
    Account,
    create_through_admin,
    credentials_shown,
    login,
    post_form,
)
from tests.support.leaks import assert_no_leak
from vault.column_key import (
    COLUMN_KEY_FILE,
    PARTNER_DETAILS,
    TOTP_SECRET,
    ColumnKey,
    SealedColumnError,
)
from vault.errors import ConfigError
from vault.models import PartnerOrg, Reviewer, Role
from vault.services import reviewers

_FAST = reviewers.make_hasher(time_cost=1, memory_cost=8, parallelism=1)


def _reviewer(runtime: Runtime, uuid: str) -> Reviewer:
    with runtime.session() as db:
        return db.scalars(select(Reviewer).where(Reviewer.uuid == uuid)).one()


def _key(runtime: Runtime) -> ColumnKey:
    return ColumnKey.load(runtime.config.instance_dir / COLUMN_KEY_FILE)


def _scan(runtime: Runtime, *markers: str) -> None:
    """Nowhere the server writes: rows, the SQLite file and WAL or a pg_dump, Redis, the
    instance directory (store, keyring, logs)."""
    assert_no_leak(
        markers, files=[runtime.config.instance_dir], engine=runtime.engine, redis=runtime.redis
    )


def test_enrolled_secret_is_sealed_and_logs_in(
    admin_client: FlaskClient, app: Flask, runtime: Runtime
) -> None:
    """An account made through the admin pages: its TOTP secret, as the credentials page
    shows it for enrolment, is stored sealed only, and its code logs in through the app."""
    account = create_through_admin(admin_client, "Imani", Role.ANALYST)
    row = _reviewer(runtime, account.uuid)
    assert row.otp_secret_sealed.startswith("v1:")
    assert _key(runtime).open(row.otp_secret_sealed, TOTP_SECRET, row.uuid) == account.otp_secret

    assert login(app.test_client(), account).status_code == 302
    _scan(runtime, account.otp_secret)


def test_reset_secret_is_sealed_and_logs_in(
    admin_client: FlaskClient, app: Flask, runtime: Runtime
) -> None:
    """A 2FA reset seals the new secret too; the old one's codes stop working."""
    account = create_through_admin(admin_client, "Baraka", Role.PARTNER)
    base = f"/admin/reviewers/{account.uuid}"
    page = post_form(admin_client, f"{base}/reset-totp", page=base).get_data(as_text=True)
    _, new_secret = credentials_shown(page)
    assert new_secret and new_secret != account.otp_secret
    renewed = Account(account.uuid, account.username, account.passphrase, new_secret)

    if account.code() != renewed.code():  # 1 in a million: both give the same code
        assert login(app.test_client(), account).status_code != 302
    assert login(app.test_client(), renewed).status_code == 302
    _scan(runtime, account.otp_secret, new_secret)


def test_partner_details_are_sealed_and_shown(
    admin_client: FlaskClient, analyst_client: FlaskClient, runtime: Runtime
) -> None:
    """An organisation added through the directory page: its regions, languages and
    contact are stored sealed only, and analysts see them on the directory page."""
    details = {
        "regions": "Sud-Kivu, Uvira and Fizi territories",
        "languages": "Kiswahili, Kirundi, Mashi",
        "contact": "Dr Byamungu, ask for the night nurse at gate four",
    }
    data = {"name": "Clinique Tumaini", "services": "medical", **details}
    post_form(admin_client, "/partners/new", data, page="/partners/")
    with runtime.session() as db:
        org = db.scalars(select(PartnerOrg)).one()
    assert org.name == "Clinique Tumaini"  # the name stays in clear (sorted, joined on)
    assert org.details_sealed is not None
    opened = _key(runtime).open(org.details_sealed, PARTNER_DETAILS, org.uuid)
    assert all(value in opened for value in details.values())

    page = analyst_client.get("/partners/").get_data(as_text=True)
    assert all(value in page for value in details.values())
    _scan(runtime, *details.values())


def test_sealed_value_opens_only_on_its_own_row(runtime: Runtime) -> None:
    """Another account's sealed secret copied onto a row does not open there (the uuid
    and the purpose are the associated data), and another instance's key opens nothing."""
    with runtime.session() as db:
        first, _ = reviewers.create_reviewer(db, "first", Role.ANALYST, hasher=_FAST)
        second, _ = reviewers.create_reviewer(db, "second", Role.ANALYST, hasher=_FAST)
        sealed = first.otp_secret_sealed
        second.otp_secret_sealed = sealed
        with pytest.raises(SealedColumnError):
            reviewers.totp_secret(db, second)
        with pytest.raises(SealedColumnError):
            _key(runtime).open(sealed, PARTNER_DETAILS, first.uuid)
        with pytest.raises(SealedColumnError):
            ColumnKey(b"k" * 32).open(sealed, TOTP_SECRET, first.uuid)
        db.rollback()


def test_key_file_is_private_and_refused_when_readable(runtime: Runtime) -> None:
    """The key file is made 0600 at first use; a key file others can read is refused."""
    path = runtime.config.instance_dir / COLUMN_KEY_FILE
    assert not path.exists()  # the runtime alone reads nothing: made when first needed
    with runtime.session() as db:
        reviewers.create_reviewer(db, "third", Role.ANALYST, hasher=_FAST)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    with pytest.raises(ConfigError):
        ColumnKey.load(path)
