"""JSON error bodies, shaped as SecureDrop's: `{"error": <HTTP name>, "message": <text>}`.

Messages are fixed strings chosen here, never an exception's text: nothing a request
carried (a passphrase typed in the wrong field, a reply) can be echoed back or logged.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from journalist_app.refusals import record_refusal
from vault.errors import NotFoundError, StorageFullError, StoreError
from vault.services.api_tokens import InvalidTokenError
from vault.services.audit_log import RefusalRecordedError
from vault.services.inbox import is_uuid
from vault.services.replies import (
    NotEncryptedError,
    ReplyTooLargeError,
    ReplyUuidTakenError,
)
from vault.services.reviewers import AccessDeniedError
from vault.services.submissions import ItemNotFoundError

__all__ = ["ApiError", "json_error", "register"]

_DEFAULT_MESSAGES = {
    400: "malformed request",
    401: "Authentication required.",
    403: "You are not allowed to do this.",
    404: "Not found.",
    405: "This method is not allowed on this resource.",
    409: "Conflict.",
    413: "The request is too large.",
    415: "Unsupported media type.",
    429: "Too many attempts. Wait a few minutes and try again.",
    500: "Something went wrong. Try again later.",
    507: "The server is running out of disk space: nothing was stored. Try again later.",
}


class ApiError(Exception):
    """Raised by the views: answered with `code` and this fixed message."""

    def __init__(
        self, code: int, message: str | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or _DEFAULT_MESSAGES.get(code, _DEFAULT_MESSAGES[500])
        self.retry_after = retry_after


def json_error(
    code: int,
    message: str | None = None,
    *,
    name: str | None = None,
    retry_after: int | None = None,
) -> ResponseReturnValue:
    # Werkzeug's names, as SecureDrop sends them ("Not Found", "Bad Request").
    if code not in HTTP_STATUS_CODES:
        code, name = 500, None
    name = name or HTTP_STATUS_CODES[code]
    text = message or _DEFAULT_MESSAGES.get(code, _DEFAULT_MESSAGES[500])
    response = jsonify({"error": name, "message": text})
    response.status_code = code
    if code == 429:
        # This client's own wait (vault.throttle); a fixed minute where none is known.
        response.headers["Retry-After"] = str(retry_after or 60)
    return response


def register(bp: Blueprint) -> None:
    """Error handlers for the API's views (routing errors go through the app's handler,
    which asks `journalist_app.api.is_api_request`)."""

    def api_error(exc: ApiError) -> ResponseReturnValue:
        return json_error(exc.code, exc.message, retry_after=exc.retry_after)

    def http_error(exc: HTTPException) -> ResponseReturnValue:
        return json_error(exc.code or 500, name=exc.name)

    def item_not_found(exc: ItemNotFoundError) -> ResponseReturnValue:
        # SecureDrop names the missing item. Only a well-formed uuid is echoed back (it
        # came from this same request); anything else could be any size or content.
        if is_uuid(exc.item_uuid):
            return json_error(404, f"{exc.kind} not found: {exc.item_uuid}")
        return json_error(404, f"{exc.kind} not found")

    def not_found(_exc: NotFoundError) -> ResponseReturnValue:
        return json_error(404)

    def denied(exc: AccessDeniedError) -> ResponseReturnValue:
        if not isinstance(exc, RefusalRecordedError):
            record_refusal()
        return json_error(403)

    def bad_token(_exc: InvalidTokenError) -> ResponseReturnValue:
        record_refusal("api_token_refused")
        return json_error(403, "Token authentication failed.")

    def not_encrypted(_exc: NotEncryptedError) -> ResponseReturnValue:
        return json_error(400, "You must encrypt replies client side")

    def too_large(_exc: ReplyTooLargeError) -> ResponseReturnValue:
        return json_error(413, "The reply is too large.")

    def uuid_taken(_exc: ReplyUuidTakenError) -> ResponseReturnValue:
        return json_error(409, "That UUID is already in use.")

    def storage_full(_exc: StorageFullError) -> ResponseReturnValue:
        current_app.logger.warning("refused: the disk space reserve is reached")
        return json_error(507)

    def store_error(_exc: StoreError) -> ResponseReturnValue:
        # A uuid the store refuses as a directory name is a uuid no source has.
        return json_error(404)

    def unexpected(exc: Exception) -> ResponseReturnValue:
        # The class name only: an exception's message or traceback could carry content.
        current_app.logger.error("unhandled %s at %s", type(exc).__name__, request.endpoint)
        return json_error(500)

    bp.register_error_handler(ApiError, api_error)
    bp.register_error_handler(HTTPException, http_error)
    bp.register_error_handler(ItemNotFoundError, item_not_found)
    bp.register_error_handler(NotFoundError, not_found)
    bp.register_error_handler(AccessDeniedError, denied)
    bp.register_error_handler(InvalidTokenError, bad_token)
    bp.register_error_handler(NotEncryptedError, not_encrypted)
    bp.register_error_handler(ReplyTooLargeError, too_large)
    bp.register_error_handler(ReplyUuidTakenError, uuid_taken)
    bp.register_error_handler(StorageFullError, storage_full)
    bp.register_error_handler(StoreError, store_error)
    bp.register_error_handler(Exception, unexpected)
