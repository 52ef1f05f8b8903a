"""Landing, codename generation, login, logout and the quick exit."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import TooManyRequests

from source_app.auth import NEW_CODENAME, is_logged_in, log_in, log_out
from source_app.context import get_config, get_db, get_runtime
from vault import codenames
from vault.errors import AuthenticationError, InvalidCodenameError, LoginThrottledError
from vault.services import sources
from vault.throttle import ClientBudget
from web_shared.client import client_key
from web_shared.csrf_tokens import generate_csrf
from web_shared.rendering import render_page

bp = Blueprint("main", __name__)

# Budget scopes in Redis (vault.throttle): each is counted per client.
LOGIN_SCOPE = "source-login"
CREATE_SCOPE = "source-create"


@bp.get("/")
def index() -> ResponseReturnValue:
    if is_logged_in():
        return redirect(url_for("lookup.lookup"))
    return render_page("index.html")


@bp.get("/generate")
def generate() -> ResponseReturnValue:
    """A fresh codename, shown once. Reloading the page gives another one."""
    if is_logged_in():
        return redirect(url_for("lookup.lookup"))
    codename = codenames.generate_codename(get_config().codename_words)
    # Held only in the sealed anonymous cookie (web_shared.sessions: unreadable, unforgeable,
    # never on the server) until the POST below creates the source.
    session[NEW_CODENAME] = codename
    return render_page("generate.html", codename=codename, csrf_token=generate_csrf)


@bp.post("/create")
def create() -> ResponseReturnValue:
    if is_logged_in():
        return redirect(url_for("lookup.lookup"))
    codename = session.pop(NEW_CODENAME, None)
    if not isinstance(codename, str):
        flash(_("That codename was not created. Here is a new one: keep it safe."), "error")
        return redirect(url_for(".generate"))
    # This client's budget first: a refused attempt costs one Redis round trip.
    budget = ClientBudget(get_runtime().redis, CREATE_SCOPE, get_config().source_create_budget)
    try:
        budget.spend(client_key())
    except LoginThrottledError as exc:
        session[NEW_CODENAME] = codename  # keep it: the source may try again shortly
        raise TooManyRequests(retry_after=exc.retry_after) from exc
    try:
        # Nothing is recorded yet: the row and the reply key come with the first submission.
        credentials = sources.begin_source(get_db(), get_config(), codename)
    except sources.CodenameCollisionError:
        flash(_("That codename was not created. Here is a new one: keep it safe."), "error")
        return redirect(url_for(".generate"))
    log_in(credentials)
    flash(_("Welcome. You can now send us a message or files."), "ok")
    return redirect(url_for("lookup.lookup"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if is_logged_in():
        return redirect(url_for("lookup.lookup"))
    if request.method == "GET":
        return render_template("login.html")
    config = get_config()
    budget = ClientBudget(get_runtime().redis, LOGIN_SCOPE, config.source_login_budget)
    try:
        _source, credentials = sources.authenticate_source(
            get_db(), budget, client_key(), config, request.form.get("codename", "")
        )
    except InvalidCodenameError:
        error = _(
            "This is not a codename. A codename is %(words)s or more words from our list, "
            "with spaces between them. Check the spelling of each word.",
            words=codenames.MIN_WORDS,
        )
        return render_template("login.html", error=error), 400
    except LoginThrottledError as exc:
        raise TooManyRequests(retry_after=exc.retry_after) from exc
    except AuthenticationError:
        # The same answer whether the codename never existed or was deleted.
        error = _("This codename was not recognised. Check it and try again.")
        return render_template("login.html", error=error), 403
    log_in(credentials)
    return redirect(url_for("lookup.lookup"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    get_locale()  # read (and kept for this page) before the session that holds it goes
    log_out()
    return render_template("logged_out.html")


@bp.get("/exit")
def quick_exit() -> ResponseReturnValue:
    """Quick exit: end the session and show a dull page that names nothing.

    Why a same-origin page rather than another site or `about:blank`: a link to another
    site would load it (and its third parties) from this Tor Browser tab, and browsers
    refuse or mishandle links and redirects to `about:` pages. Ending the session here
    also means the Back button cannot bring the source's replies back: pages are
    `no-store`, so going back asks the server again and finds no session.
    """
    get_locale()  # the page below speaks the source's language, then forgets it
    log_out()
    return render_template("exit.html")
