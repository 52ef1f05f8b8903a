"""The reviewer app's side of account keys: a key failure or a re-sealing failure never
costs the admin the credentials just made (see vault.services.accounts)."""

from __future__ import annotations

from flask import current_app, flash
from flask_babel import gettext as _

from journalist_app.auth import session_notes_key
from journalist_app.context import current_reviewer, db, runtime
from vault.errors import VaultError
from vault.services import accounts
from vault.transaction import savepoint


def key_failed(exc: VaultError) -> None:
    """The account exists without a key: it gets one at its first login. Logged by type.
    (The key is made in a savepoint, so its failure undid the key's making only.)"""
    current_app.logger.error("account key creation failed: %s", type(exc).__name__)
    flash(_("The account's key could not be made now: it will be made at its first login."))


def reseal_for_new_readers(org_uuid: str | None = None) -> None:
    """Re-seal a batch of what this admin can read to today's readers (a new key, a new
    member): best effort, the next logins and reads do the rest. Logged by type only."""
    key = session_notes_key()
    if key is None:
        return  # this session holds no unlocked key: the next logins and reads do it
    rt = runtime()
    try:
        with savepoint(db()):  # a failure undoes the re-sealing only
            accounts.reseal_for_new_readers(
                db(),
                rt.keyring,
                current_reviewer(),
                key,
                rt.submission_fingerprint,
                org_uuid=org_uuid,
            )
    except Exception as exc:  # a failure here must not hide the credentials just made
        current_app.logger.error("re-sealing failed: %s", type(exc).__name__)
