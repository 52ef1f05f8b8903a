"""Login (passphrase + TOTP) and logout."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app import language
from journalist_app.context import current_reviewer, db, hasher, runtime, server_session
from journalist_app.forms import LoginForm
from vault.errors import AuthenticationError, LoginThrottledError, TotpReplayError, VaultError
from vault.models import Reviewer, Role
from vault.services import (
    care,
    care_queue,
    guidance,
    notes,
    referral_messages,
    reviewer_login,
    reviewers,
    team_replies,
)
from vault.transaction import savepoint
from web_shared.client import client_key

bp = Blueprint("auth", __name__)

# The session key holding the unlocked account-key passphrase (see vault.services.notes).
NOTES_KEY = "notes_key"


def session_notes_key() -> str | None:
    """The account-key passphrase this reviewer's session unlocked at login, if any."""
    value = server_session().get(NOTES_KEY)
    return value if isinstance(value, str) else None


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "POST" and "language" in request.form:
        # The layout's language form, on the one public page (CSRFProtect checked the
        # token): no login attempt, nothing counted by the throttle.
        language.remember(request.form["language"])
        return redirect(url_for("auth.login"))
    if g.get("reviewer") is not None:
        return redirect(landing_url(g.reviewer))
    form = LoginForm()
    error: str | None = None
    status = 200
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        rt = runtime()
        try:
            reviewer = reviewer_login.authenticate(
                db(),
                reviewer_login.login_budget(rt.redis, rt.config),
                client_key(),
                form.username.data or "",
                form.passphrase.data or "",
                form.code.data or "",
                hasher=hasher(),
            )
        except LoginThrottledError as exc:
            # Only this client waits: the account itself is never locked.
            error, status = _("Too many attempts. Wait a few minutes and try again."), 429
            headers["Retry-After"] = str(exc.retry_after)
        except TotpReplayError:
            error, status = _("This code was already used. Wait for the next one."), 401
        except AuthenticationError:
            error, status = _("Login failed. Check your username, passphrase and code."), 401
        else:
            session = server_session()
            chosen = session.get(language.SESSION_KEY)
            session.clear()  # drops the anonymous CSRF token with everything else
            # A new session id at login: one planted before it is worthless afterwards.
            session.regenerate()
            session["reviewer"] = reviewer.uuid
            session["stamp"] = reviewers.credential_stamp(reviewer)
            if isinstance(chosen, str):
                session[language.SESSION_KEY] = chosen  # the language chosen before stays
            _unlock_notes_key(reviewer, form.passphrase.data or "")
            return redirect(landing_url(reviewer))
    elif request.method == "POST":
        error, status = _("Login failed. Check your username, passphrase and code."), 401
    return render_template("auth/login.html", form=form, error=error), status, headers


def landing_url(reviewer: Reviewer) -> str:
    """Where a reviewer lands after login: the page their day's work starts from.

    A care member with a request waiting untaken lands on the care queue (one click less
    between login and an urgent answer); a partner on their organisation's referrals
    (the only pages they use); analysts and admins on the dashboard.
    """
    if care_queue.has_untaken(db(), reviewer):
        return url_for("care.index")
    if reviewer.role is Role.PARTNER:
        return url_for("partners.my_referrals")
    return url_for("dashboard.index")


def _unlock_notes_key(reviewer: Reviewer, passphrase: str) -> None:
    """Keep the account's key passphrase in the sealed server-side session (only there).

    A failure costs note access for this session, never the login itself.
    """
    try:
        with savepoint(db()):  # a failure undoes the key's making only, never the login
            key = notes.unlock_account_key(
                db(), runtime().keyring, reviewer, passphrase[: reviewers.MAX_PASSPHRASE_CHARS]
            )
        server_session()[NOTES_KEY] = key
    except VaultError as exc:
        current_app.logger.error("account key unlock failed: %s", type(exc).__name__)
        return
    _reseal(reviewer, key)


# One batch at login, shared in this order: care requests first, since someone may be
# waiting on one.
_RESEALERS = (
    care.reseal_pending_care,
    notes.reseal_pending_notes,
    team_replies.reseal_pending_copies,
    referral_messages.reseal_pending_messages,
    guidance.reseal_pending,
)


def _reseal(reviewer: Reviewer, key: str) -> None:
    """Re-seal a bounded batch of what this account can open (care requests, notes,
    replies' team copies, referral messages, legal guidance) to today's readers; a
    failure never costs the login."""
    rt = runtime()
    try:
        with savepoint(db()):  # a failure undoes the re-sealing only, never the login
            done = 0
            for reseal in _RESEALERS:
                done += reseal(
                    db(),
                    rt.keyring,
                    reviewer,
                    key,
                    rt.submission_fingerprint,
                    limit=notes.RESEAL_BATCH - done,
                )
    except Exception as exc:
        # Best effort: a database or gpg failure here must not turn a verified login
        # into an error page; the next login or read tries again. Logged by type only.
        current_app.logger.error("re-sealing failed: %s", type(exc).__name__)


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    reviewer_login.record_logout(db(), current_reviewer())
    server_session().destroy()  # the Redis entry and the cookie go
    return redirect(url_for("auth.login"))
