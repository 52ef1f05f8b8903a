"""SecureDrop Journalist API v1 on BackUp: the same paths, fields, status codes, error
bodies and success messages (`securedrop-sdk` compares some of them literally).

Views parse the request and call `vault.services` (inbox, conversation, reviewers),
which check the role and audit every access.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, cast

import yaml
from flask import Blueprint, current_app, g, jsonify, request, send_file
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from journalist_app.api import errors
from journalist_app.api.errors import ApiError
from journalist_app.api.serialize import (
    api_time,
    listed_sources_json,
    reply_json,
    source_json,
    submission_json,
    user_json,
)
from journalist_app.context import current_reviewer, db, hasher, runtime
from vault.errors import AuthenticationError, LoginThrottledError
from vault.models import Reply, Submission
from vault.services import accounts, inbox, replies, reviewer_login, submissions
from vault.services.api_tokens import TokenService
from web_shared.client import client_key

__all__ = ["OPENAPI", "TOKENS_KEY", "bp", "openapi_description", "tokens"]

bp = Blueprint("api", __name__, url_prefix="/api/v1")
errors.register(bp)

TOKENS_KEY = "backup.api_tokens"
# The OpenAPI description: package data of journalist_app.api (docs/api.md links to it),
# so an installed wheel serves it with no checkout beside it.
OPENAPI: Traversable = resources.files("journalist_app.api") / "openapi.yaml"
# One request's worth of seen marks: each costs a query, so a client batches beyond it.
MAX_SEEN_ITEMS = 1000
# Reachable without a token.
_PUBLIC = frozenset({"api.get_endpoints", "api.get_token", "api.openapi"})
# SecureDrop lets these POSTs come with an empty body (the SDK sends none).
_DATALESS = frozenset({"api.add_star", "api.flag", "api.logout"})


def tokens() -> TokenService:
    service = current_app.extensions.get(TOKENS_KEY)
    if service is None:
        rt = runtime()
        service = TokenService(rt.config.secrets.for_journalist().api_token_key, rt.redis)
        current_app.extensions[TOKENS_KEY] = service
    return cast(TokenService, service)


@bp.before_request
def _token_gate() -> None:
    """Authenticate by token, then refuse malformed POST bodies, as SecureDrop does."""
    if request.endpoint not in _PUBLIC:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Token" or not token.strip():
            raise ApiError(403, "API token not found in Authorization header.")
        g.reviewer = tokens().verify(db(), token.strip())
        g.api_token = token.strip()
    # A path uuid that is not one names nothing: 404 before any query (PostgreSQL would
    # refuse a NUL in it with an error).
    for name, value in (request.view_args or {}).items():
        if name.endswith("_uuid") and not inbox.is_uuid(str(value)):
            raise ApiError(404)
    if request.method == "POST":
        if not request.get_data(cache=True):
            if request.endpoint not in _DATALESS:
                raise ApiError(400, "malformed request")
            return
        try:
            json.loads(request.get_data(cache=True).decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise ApiError(400, "malformed request") from exc


def _body() -> dict[str, Any]:
    data = json.loads(request.get_data(cache=True).decode("utf-8"))  # checked by the gate
    if not isinstance(data, dict):
        raise ApiError(400, "Please send requests in valid JSON.")
    return data


def _ok(payload: dict[str, Any], code: int = 200) -> ResponseReturnValue:
    return jsonify(payload), code


# -- root, description, token ----------------------------------------------------------------


@bp.get("/")
def get_endpoints() -> ResponseReturnValue:
    return _ok(
        {
            "sources_url": "/api/v1/sources",
            "current_user_url": "/api/v1/user",
            "all_users_url": "/api/v1/users",
            "submissions_url": "/api/v1/submissions",
            "replies_url": "/api/v1/replies",
            "seen_url": "/api/v1/seen",
            "auth_token_url": "/api/v1/token",  # nosec B105 - a path, not a secret
        }
    )


@functools.cache
def openapi_description() -> dict[str, Any]:
    """The OpenAPI 3 description (journalist_app/api/openapi.yaml), parsed once."""
    return cast(dict[str, Any], yaml.safe_load(OPENAPI.read_text(encoding="utf-8")))


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return _ok(openapi_description())


@bp.post("/token")
def get_token() -> ResponseReturnValue:
    creds = _body()
    fields = {}
    for name in ("username", "passphrase", "one_time_code"):
        value = creds.get(name)
        if value is None:
            raise ApiError(400, f"{name} field is missing")
        if not isinstance(value, str):
            raise ApiError(400, f"{name} must be a string")
        fields[name] = value
    if "\x00" in fields["username"]:
        # No username holds a NUL, and PostgreSQL would refuse the lookup with an error.
        raise ApiError(403, "Token authentication failed.")
    rt = runtime()
    try:
        reviewer = reviewer_login.authenticate(
            db(),
            reviewer_login.login_budget(rt.redis, rt.config),
            client_key(),
            fields["username"],
            fields["passphrase"],
            fields["one_time_code"],
            hasher=hasher(),
        )
    except LoginThrottledError as exc:
        raise ApiError(429, retry_after=exc.retry_after) from exc
    except AuthenticationError as exc:
        raise ApiError(403, "Token authentication failed.") from exc
    issued = tokens().issue(reviewer)
    return _ok(
        {
            "token": issued.token,
            "expiration": api_time(issued.expires_at),
            "journalist_uuid": reviewer.uuid,
            "journalist_first_name": None,
            "journalist_last_name": None,
        }
    )


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    tokens().revoke(g.api_token)
    reviewer_login.record_logout(db(), current_reviewer())
    return _ok({"message": "Your token has been revoked."})


# -- sources ---------------------------------------------------------------------------------


@bp.get("/sources")
def all_sources() -> ResponseReturnValue:
    listed = inbox.source_listing(db(), runtime().keyring, current_reviewer())
    return _ok({"sources": listed_sources_json(listed)})


@bp.route("/sources/<source_uuid>", methods=["GET", "DELETE"])
def single_source(source_uuid: str) -> ResponseReturnValue:
    session, reviewer = db(), current_reviewer()
    if request.method == "DELETE":
        inbox.delete_source(session, runtime().redis, reviewer, source_uuid)
        return _ok({"message": "Source and submissions deleted"})
    page = inbox.open_source(session, reviewer, source_uuid)  # audited as a view
    counts = submissions.kind_counts(session, [page.source.id])
    keys = inbox.public_keys(session, runtime().keyring, [page.source])
    return _ok(source_json(page.source, counts.get(page.source.id, {}), keys[page.source.id]))


@bp.post("/sources/<source_uuid>/add_star")
def add_star(source_uuid: str) -> ResponseReturnValue:
    inbox.set_starred(db(), current_reviewer(), source_uuid, True)
    return _ok({"message": "Star added"}, 201)


@bp.delete("/sources/<source_uuid>/remove_star")
def remove_star(source_uuid: str) -> ResponseReturnValue:
    inbox.set_starred(db(), current_reviewer(), source_uuid, False)
    return _ok({"message": "Star removed"})


@bp.post("/sources/<source_uuid>/flag")
def flag(source_uuid: str) -> ResponseReturnValue:
    inbox.flag_source(db(), current_reviewer(), source_uuid)
    return _ok({"message": "Sources no longer need to be flagged for reply"})


@bp.delete("/sources/<source_uuid>/conversation")
def source_conversation(source_uuid: str) -> ResponseReturnValue:
    inbox.delete_conversation(db(), runtime().redis, current_reviewer(), source_uuid)
    return _ok({"message": "Source data deleted"})


# -- submissions -----------------------------------------------------------------------------


def _submissions_json(found: list[Submission]) -> ResponseReturnValue:
    seen = submissions.seen_by(db(), [s.id for s in found])
    return _ok({"submissions": [submission_json(s, seen[s.id]) for s in found]})


@bp.get("/submissions")
def all_submissions() -> ResponseReturnValue:
    return _submissions_json(submissions.list_submissions(db(), current_reviewer()))


@bp.get("/sources/<source_uuid>/submissions")
def source_submissions(source_uuid: str) -> ResponseReturnValue:
    return _submissions_json(submissions.list_submissions(db(), current_reviewer(), source_uuid))


@bp.route("/sources/<source_uuid>/submissions/<submission_uuid>", methods=["GET", "DELETE"])
def single_submission(source_uuid: str, submission_uuid: str) -> ResponseReturnValue:
    session, reviewer = db(), current_reviewer()
    if request.method == "DELETE":
        submissions.delete_submission(
            session, runtime().redis, reviewer, source_uuid, submission_uuid
        )
        return _ok({"message": "Submission deleted"})
    submission = submissions.get_submission(session, reviewer, source_uuid, submission_uuid)
    return _ok(
        submission_json(submission, submissions.seen_by(session, [submission.id])[submission.id])
    )


def _sha256_of(path: Path) -> str:
    """For a row recorded without its hash (none should be): hash the file itself."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _serve_ciphertext(path: Path, item: Submission | Reply) -> Response:
    """The ciphertext, with Range support and SecureDrop's `Etag: sha256:<hex>` of the
    whole file (the SDK reads that header, spelled exactly so, to check the download)."""
    response = send_file(
        path,
        mimetype="application/pgp-encrypted",
        as_attachment=True,
        download_name=item.filename,
        conditional=True,
        etag=False,
        max_age=0,
    )
    response.headers["Etag"] = f"sha256:{item.sha256 or _sha256_of(path)}"
    return response


@bp.get("/sources/<source_uuid>/submissions/<submission_uuid>/download")
def download_submission(source_uuid: str, submission_uuid: str) -> ResponseReturnValue:
    submission, path = submissions.download_submission(
        db(), runtime().store, current_reviewer(), source_uuid, submission_uuid
    )
    return _serve_ciphertext(path, submission)


# -- replies ---------------------------------------------------------------------------------


@bp.get("/replies")
def all_replies() -> ResponseReturnValue:
    found = replies.list_replies(db(), current_reviewer())
    return _ok({"replies": [reply_json(r) for r in found]})


@bp.route("/sources/<source_uuid>/replies", methods=["GET", "POST"])
def source_replies(source_uuid: str) -> ResponseReturnValue:
    session, reviewer = db(), current_reviewer()
    if request.method == "GET":
        found = replies.list_replies(session, reviewer, source_uuid)
        return _ok({"replies": [reply_json(r) for r in found]})
    source = inbox.get_source(session, reviewer, source_uuid)  # 403/404 before the 400s
    data = _body()
    if "reply" not in data:
        raise ApiError(400, "reply not found in request body")
    text = data["reply"]
    if not isinstance(text, str):
        raise ApiError(400, "reply should be a string")
    if not text:
        raise ApiError(400, "reply should not be empty")
    reply_uuid = data.get("uuid")
    if reply_uuid is not None and not isinstance(reply_uuid, str):
        raise ApiError(400, "'uuid' was not a valid UUID")
    rt = runtime()
    try:
        reply = replies.store_encrypted_reply(
            session,
            rt.store,
            rt.keyring,
            reviewer,
            source,
            text,
            rt.submission_fingerprint,
            reply_uuid,
        )
    except ValueError as exc:  # uuid.UUID() refused it
        raise ApiError(400, "'uuid' was not a valid UUID") from exc
    return _ok(
        {"message": "Your reply has been stored", "uuid": reply.uuid, "filename": reply.filename},
        201,
    )


@bp.route("/sources/<source_uuid>/replies/<reply_uuid>", methods=["GET", "DELETE"])
def single_reply(source_uuid: str, reply_uuid: str) -> ResponseReturnValue:
    session, reviewer = db(), current_reviewer()
    if request.method == "DELETE":
        replies.delete_reply(session, runtime().redis, reviewer, source_uuid, reply_uuid)
        return _ok({"message": "Reply deleted"})
    return _ok(reply_json(replies.get_reply(session, reviewer, source_uuid, reply_uuid)))


@bp.get("/sources/<source_uuid>/replies/<reply_uuid>/download")
def download_reply(source_uuid: str, reply_uuid: str) -> ResponseReturnValue:
    reply, path = replies.download_reply(
        db(), runtime().store, current_reviewer(), source_uuid, reply_uuid
    )
    return _serve_ciphertext(path, reply)


# -- seen, accounts --------------------------------------------------------------------------


def _uuid_list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{name} must be a list of uuids")
    return cast(list[str], value)


@bp.post("/seen")
def seen() -> ResponseReturnValue:
    data = _body()
    files, messages = _uuid_list(data, "files"), _uuid_list(data, "messages")
    replies = _uuid_list(data, "replies")
    if not (files or messages or replies):
        raise ApiError(400, "Please specify the resources to mark seen.")
    if len(files) + len(messages) + len(replies) > MAX_SEEN_ITEMS:
        raise ApiError(400, f"At most {MAX_SEEN_ITEMS} items at a time.")
    submissions.mark_items_seen(db(), current_reviewer(), files, messages, replies)
    return _ok({"message": "resources marked seen"})


@bp.get("/user")
def get_current_user() -> ResponseReturnValue:
    return _ok(user_json(accounts.current_user(db(), current_reviewer())))


@bp.get("/users")
def get_all_users() -> ResponseReturnValue:
    found = accounts.list_users(db(), current_reviewer())
    return _ok({"users": [user_json(r, all_info=False) for r in found]})
