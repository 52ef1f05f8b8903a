"""One neutral, translated error page for every HTTP error.

The page never echoes the error's description or anything the visitor sent: only a
title and a message chosen here, plus the quick-exit link from the base template.
"""

from __future__ import annotations

import math

from flask import Flask, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import format_number
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    TooManyRequests,
)

from source_app.context import get_config
from source_app.uploads import MalformedFormError, QuotaExceeded, StorageFull, quota_left
from vault.errors import QuotaExceededError, StorageFullError
from vault.services.sources import MAX_MESSAGE_CHARS
from web_shared.upload_slots import UploadsBusy

DEFAULT_RETRY_AFTER = 60


def human_size(size: int) -> str:
    """500 MB, 2 MB, 300 KB: limits shown to sources, rounded down."""
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MB"
    return f"{max(size // 1024, 1)} KB"


def storage_full_text() -> tuple[str, str]:
    """Title and message of a refusal at the disk reserve (every path to it comes here,
    so this is also where the admins' monitoring hears of it: no request data logged)."""
    current_app.logger.warning("refused: the disk space reserve is reached")
    return _("Sending is paused"), _(
        "Our server is running out of space, so it cannot accept anything new right now. "
        "Nothing was sent in this step; what you sent before is safe. Please try again "
        "later: your codename still works."
    )


def quota_text(quota: int, remaining: int) -> tuple[str, str]:
    if remaining <= 0:
        return _("This codename is full"), _(
            "Nothing was sent. One codename can store up to %(quota)s in total, and "
            "yours has reached it.",
            quota=human_size(quota),
        )
    return _("Too much for this codename"), _(
        "Nothing was sent. One codename can store up to %(quota)s in total: you can "
        "still send %(remaining)s. Send fewer or smaller files.",
        quota=human_size(quota),
        remaining=human_size(remaining),
    )


def quota_hint() -> str | None:
    """For the upload forms: what the logged-in source may still store, once that is less
    than one upload may carry; None otherwise."""
    left = quota_left()
    if left is None:
        return None
    if left == 0:
        return _("This codename is full") + "."
    return _("This codename can still store %(size)s.", size=human_size(left))


def refusal_text(error: StorageFullError | QuotaExceededError) -> str:
    """What to tell a source when the service refused to store what they sent."""
    if isinstance(error, QuotaExceededError):
        return quota_text(error.quota, error.remaining)[1]
    return storage_full_text()[1]


def _describe(error: HTTPException) -> tuple[str, str]:
    """Title and message for an error; the order matters (subclasses first)."""
    if isinstance(error, StorageFull):
        return storage_full_text()
    if isinstance(error, QuotaExceeded):
        return quota_text(error.quota, error.remaining)
    if isinstance(error, CSRFError):
        return _("This page has expired"), _(
            "For your safety, pages expire. Nothing was sent or saved. Go back to the "
            "start and try again. If you were getting a new codename, it was not "
            "created: you will get another one."
        )
    if isinstance(error, MalformedFormError):
        return _("The form could not be read"), _(
            "What your browser sent was incomplete or damaged, so nothing was saved. "
            "Go back and try again."
        )
    if isinstance(error, BadRequest):
        return _("Something went wrong"), _(
            "Your request could not be understood, so nothing was saved. Go back and try again."
        )
    if isinstance(error, Forbidden) and error.description == "tor2web":
        return _("Please use Tor Browser"), _(
            "This site must be opened in Tor Browser, not through a tor2web proxy: "
            "a proxy can see everything you send."
        )
    if isinstance(error, Forbidden):
        return _("Not allowed"), _("You cannot open this page.")
    if isinstance(error, NotFound):
        return _("Page not found"), _("This page does not exist.")
    if isinstance(error, MethodNotAllowed):
        return _("Something went wrong"), _(
            "This page cannot be used that way. Go back to the start and try again."
        )
    if isinstance(error, RequestEntityTooLarge):
        config = get_config()
        return _("Too large"), _(
            "Nothing was sent. Files sent together can be up to %(size)s, and a message up "
            "to %(chars)s characters. Send fewer or smaller files at a time, or split your "
            "message.",
            size=human_size(config.max_upload_bytes),
            chars=format_number(MAX_MESSAGE_CHARS),
        )
    if isinstance(error, TooManyRequests):
        minutes = max(math.ceil(_retry_after(error) / 60), 1)
        return _("Too many attempts"), _(
            "There were too many attempts to log in. For everyone's safety, wait "
            "%(minutes)s minutes and try again.",
            minutes=minutes,
        )
    if isinstance(error, UploadsBusy):
        return _("Busy receiving other files"), _(
            "Many files are arriving right now, so this one was not accepted: nothing you "
            "sent in this step was saved. Wait a minute, then send it again."
        )
    if error.code is not None and error.code >= 500:
        return _("Something went wrong"), _(
            "An error happened on our side. Nothing you sent in this step was saved. "
            "Please try again later."
        )
    return _("Something went wrong"), _("Go back to the start and try again.")


def _render_error(error: HTTPException) -> ResponseReturnValue:
    if error.code is None or error.code < 400:
        return error  # routing redirects (e.g. a missing trailing slash) are not errors
    title, message = _describe(error)
    html = render_template("error.html", title=title, message=message, files_note=_files_note())
    response = make_response(html)
    response.status_code = error.code
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(_retry_after(error))
    return response


def _files_note() -> str | None:
    """For a refused upload form (whatever refused it: an expired page, a size, a full
    disk): the browser forgets the chosen files, so the source must be told."""
    if request.method == "POST" and request.mimetype == "multipart/form-data":
        return _("If you chose files, they were not sent: choose them again.")
    return None


def _storage_full(_error: StorageFullError) -> ResponseReturnValue:
    return _render_error(StorageFull())


def _quota_exceeded(error: QuotaExceededError) -> ResponseReturnValue:
    return _render_error(QuotaExceeded(error.quota, error.remaining))


def _retry_after(error: TooManyRequests) -> int:
    """Seconds until this client may try again (set by the view from its budget)."""
    value = error.retry_after
    return value if isinstance(value, int) and value > 0 else DEFAULT_RETRY_AFTER


def register(app: Flask) -> None:
    # One handler for HTTPException also receives unhandled exceptions, which Flask wraps
    # in InternalServerError after logging the traceback (no request data in it).
    app.register_error_handler(HTTPException, _render_error)
    # Refusals of the domain that a view did not answer itself.
    app.register_error_handler(StorageFullError, _storage_full)
    app.register_error_handler(QuotaExceededError, _quota_exceeded)


__all__ = ["human_size", "quota_hint", "refusal_text", "register"]
