"""The federation endpoint: one URL, `POST /v1/envelope`, for peer instances only.

Served like the two interfaces (`backupctl serve federation`, gunicorn on 127.0.0.1,
web_shared.serving) behind its own client-authorized onion service: tor lets in only
the instances whose client key an admin installed with `peer add`. A plain WSGI
callable, not a Flask app: there are no pages, forms, sessions or people here, only
machine JSON, and the fewer parts the fewer ways in.

The process holds no private key that opens a report: it checks signatures with the
peers' public keys (in the database) and knows its own fingerprint from our public key
file. To take in a transferred case it stores ciphertext as it came (sealed to our
submission key by the sender's workstation) and signs its custody receipts, so it holds
the receipt-signing key, as the source interface does. Of the instance's other secrets
it reads only the directory key (vault.directory_key), to seal the directories peers
send; never the column key.
Answers: 200 {"accepted": ID, "object": UUID|null}; 403 {"refused": REASON} (one of
federation.envelope.REFUSAL_REASONS, nothing else); 404, 405, 411, 413 for requests
that are not envelopes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from composition.runtime import make_store, read_submission_fingerprint, space_guard
from federation.client import ENDPOINT
from federation.config import load_federation_config
from federation.envelope import MAX_ENVELOPE_BYTES
from federation.errors import EnvelopeRefusedError
from federation.identity import own_fingerprint
from federation.kinds import HANDLERS
from federation.kinds import handlers as all_handlers
from federation.receive import Handler, receive
from keys.receipts import RECEIPT_KEY_FILE, SigningKey
from vault.config import load_config
from vault.db import make_engine, make_session_factory
from vault.directory_key import bind_directory_key, directory_key_file
from vault.errors import ConfigError, StoreError
from vault.services import custody, federation_peers
from vault.transaction import unit_of_work

__all__ = ["create_app", "make_app"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_STATUS = {
    200: "200 OK",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    411: "411 Length Required",
    413: "413 Content Too Large",
    500: "500 Internal Server Error",
}
_log = logging.getLogger(__name__)


def _answer(start: StartResponse, status: int, payload: Mapping[str, Any]) -> list[bytes]:
    body = json.dumps(payload, sort_keys=True).encode()
    start(
        _STATUS[status],
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]


def _read(environ: Mapping[str, Any], length: int) -> bytes:
    stream = environ["wsgi.input"]
    chunks, left = [], length
    while left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def make_app(
    session_factory: Any,
    recipient: str,
    handlers: Mapping[str, Handler] = HANDLERS,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> WsgiApp:
    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ENDPOINT:
            return _answer(start, 404, {"error": "not_found"})
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start, 405, {"error": "method"})
        text = str(environ.get("CONTENT_LENGTH") or "")
        if not text.isdigit():
            return _answer(start, 411, {"error": "length_required"})
        if int(text) > max_bytes:
            # Refused before a byte of it is read; audited like any refusal.
            with session_factory() as db, unit_of_work(db):
                federation_peers.record_refused(db, None, "too_large")
            return _answer(start, 413, {"refused": "too_large"})
        raw = _read(environ, int(text))
        try:
            with session_factory() as db, unit_of_work(db):
                accepted = receive(db, raw, recipient=recipient, handlers=handlers)
        except EnvelopeRefusedError as exc:
            return _answer(start, 403, {"refused": exc.reason})
        except Exception as exc:
            _log.error("federation envelope not handled: %s", type(exc).__name__)
            return _answer(start, 500, {"error": "internal"})
        return _answer(
            start, 200, {"accepted": accepted.envelope_id, "object": accepted.object_uuid}
        )

    return app


def create_app(env: Mapping[str, str] | None = None) -> WsgiApp:
    """The endpoint on this instance's database (`backupctl serve federation`)."""
    config = load_config(env)
    federation = load_federation_config(env)
    engine = make_engine(config.database_url)
    factory = make_session_factory(engine)
    receipt_key = SigningKey.load_or_generate(config.instance_dir / RECEIPT_KEY_FILE)
    custody.bind_signer(factory, receipt_key)
    bind_directory_key(factory, directory_key_file(config.instance_dir))
    store = make_store(config, _NoSealing(), space_guard(config))
    try:
        own_fpr = read_submission_fingerprint(config.instance_dir)
    except ConfigError:
        # An instance that only exchanges releases (an observatory) may have no
        # submission key: it receives releases; a case sent to it is refused as a kind
        # it does not take, until a key is loaded and this service restarted.
        _log.warning("no submission key loaded: case transfers are refused")
        handlers: Mapping[str, Handler] = HANDLERS
    else:
        handlers = all_handlers(store, own_fpr)
    return make_app(factory, own_fingerprint(federation.key_dir), handlers=handlers)


class _NoSealing:
    """This process seals nothing: what it stores came sealed (vault.ports.Sealer)."""

    def seal_stream(self, recipients: Any, output: Any) -> Any:
        raise StoreError("the federation endpoint seals nothing")

    def seal_bytes(self, data: bytes, recipients: Any) -> bytes:
        raise StoreError("the federation endpoint seals nothing")

    def open_bytes(self, ciphertext: bytes, passphrase: str, *, max_output: int = 0) -> bytes:
        raise StoreError("the federation endpoint opens nothing")
