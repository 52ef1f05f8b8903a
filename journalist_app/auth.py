"""Login (passphrase + TOTP) and logout."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app.context import current_reviewer, db, hasher, runtime, server_session
from journalist_app.forms import LoginForm
from vault.errors import AuthenticationError, LoginThrottledError, TotpReplayError
from vault.services import reviewers

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if g.get("reviewer") is not None:
        return redirect(url_for("inbox.index"))
    form = LoginForm()
    error: str | None = None
    status = 200
    if form.validate_on_submit():
        rt = runtime()
        try:
            reviewer = reviewers.authenticate(
                db(),
                reviewers.login_throttle(rt.redis, rt.config),
                form.username.data or "",
                form.passphrase.data or "",
                form.code.data or "",
                hasher=hasher(),
            )
        except LoginThrottledError:
            error, status = _("Too many attempts. Wait a few minutes and try again."), 429
        except TotpReplayError:
            error, status = _("This code was already used. Wait for the next one."), 401
        except AuthenticationError:
            error, status = _("Login failed. Check your username, passphrase and code."), 401
        else:
            session = server_session()
            session.clear()
            # A new session id at login: one planted before it is worthless afterwards.
            session.regenerate()
            session["reviewer"] = reviewer.uuid
            session["stamp"] = reviewers.credential_stamp(reviewer)
            return redirect(url_for("inbox.index"))
    elif request.method == "POST":
        error, status = _("Login failed. Check your username, passphrase and code."), 401
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    reviewers.record_logout(db(), current_reviewer())
    server_session().destroy()  # the Redis entry and the cookie go
    return redirect(url_for("auth.login"))
