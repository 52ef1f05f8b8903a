"""The `psi_request` and `psi_response` kinds: the private-set-intersection messages of
docs/observatory.md ("Federation"), carried between two organisations' air-gapped
workstations by their servers.

Made and read only on the workstations (`workstation.observatory.dedupe`); a server
checks what it can without opening anything, on the way out and on the way in:

- the document is canonical JSON of exactly the message's fields (schema, version,
  ids, the organisations' federation identities, the scope, sizes, and curve points in
  base64), at most `MAX_DOCUMENT_BYTES`;
- its detached OpenPGP signature is the workstation's: ours on the way out, the
  peer's pinned release key (its submission key) on the way in.

What a server sees, so: the two organisations' identities, the scope compared
(countries, months), the number of descriptors each side holds, the message ids and
dates, and blinded curve points, which reveal nothing of any incident without the
workstations' secret scalars (never on a server).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from federation.errors import EnvelopeRefusedError
from vault.models import FederationPeer
from vault.services import psi_messages
from workstation.observatory.dedupe import (
    REQUEST,
    RESPONSE,
    DedupeError,
    Scope,
    check_organisation,
    parse_message,
)
from workstation.observatory.release import ReleaseError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "PSI_REQUEST",
    "PSI_RESPONSE",
    "PsiDocument",
    "check_document",
    "psi_handler",
    "read_signed",
]

PSI_REQUEST = "psi_request"
PSI_RESPONSE = "psi_response"
SCHEMAS = {REQUEST: PSI_REQUEST, RESPONSE: PSI_RESPONSE}
# A request for 20,000 descriptors (the answerer's default limit) is under 1 MiB, its
# response under 2; base64 in the envelope adds a third: 4 MiB keeps an envelope under
# federation.envelope.MAX_ENVELOPE_BYTES.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
MAX_SIGNATURE_BYTES = 16 * 1024
_FIELDS = {
    PSI_REQUEST: {"schema", "version", "id", "created", "from", "to", "scope", "items", "request"},
    PSI_RESPONSE: {
        "schema",
        "version",
        "id",
        "created",
        "from",
        "to",
        "request",
        "request_sha256",
        "scope",
        "items",
        "setup",
        "response",
    },
}
_BLINDED = {PSI_REQUEST: ("request",), PSI_RESPONSE: ("setup", "response")}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# (document, signature, armored public key) -> the signer's fingerprint; raises
# ValueError (SignatureError) when the signature is not that key's.
Verify = Callable[[bytes, bytes, str], str]


@dataclass(frozen=True)
class PsiDocument:
    kind: str  # PSI_REQUEST | PSI_RESPONSE
    message_id: str
    sender: str  # the organisation's federation identity, as the document states it
    recipient: str
    items: int


def _schema_of(data: bytes) -> str:
    """Which message `data` says it is (parse_message then checks it whole)."""
    try:
        schema = json.loads(data.decode("utf-8")).get("schema")
    except (UnicodeDecodeError, ValueError, AttributeError, RecursionError) as exc:
        raise DedupeError("not a private set intersection message") from exc
    if schema not in SCHEMAS:
        raise DedupeError("not a private set intersection message")
    return str(schema)


def check_document(data: bytes, kind: str | None = None) -> PsiDocument:
    """The message in `data`, if it is exactly a request or response (of `kind` when
    given); DedupeError otherwise. Its signature is checked apart."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DedupeError(f"a message is at most {MAX_DOCUMENT_BYTES} bytes")
    document = parse_message(data, _schema_of(data))
    found = SCHEMAS[document["schema"]]
    if kind is not None and found != kind:
        raise DedupeError(f"not a {kind} message")
    if set(document) != _FIELDS[found]:
        raise DedupeError("the message's fields are not exactly those of its kind")
    if not isinstance(document["id"], str) or not _UUID.fullmatch(document["id"]):
        raise DedupeError("the message's id is not a uuid")
    if not isinstance(document["created"], str) or not _CREATED.fullmatch(document["created"]):
        raise DedupeError("the message's date is malformed")
    sender, recipient = document["from"], document["to"]
    if not isinstance(sender, str) or not isinstance(recipient, str):
        raise DedupeError("the organisations are not named")
    check_organisation(sender)
    check_organisation(recipient)
    items = document["items"]
    if isinstance(items, bool) or not isinstance(items, int) or items < 0:
        raise DedupeError("the message's size is not a count")
    Scope.from_json(document["scope"])
    for field in _BLINDED[found]:
        if not isinstance(document[field], str):
            raise DedupeError(f"{field}: not base64")
        try:
            base64.b64decode(document[field], validate=True)
        except (ValueError, binascii.Error) as exc:
            raise DedupeError(f"{field}: not base64") from exc
    if found == PSI_RESPONSE:
        if not isinstance(document["request"], str) or not _UUID.fullmatch(document["request"]):
            raise DedupeError("the request answered is not a uuid")
        digest = document["request_sha256"]
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise DedupeError("the request's hash is malformed")
    return PsiDocument(found, document["id"], sender, recipient, items)


def read_signed(
    data: bytes, signature: bytes, public_key: str, verify: Verify, kind: str | None = None
) -> PsiDocument:
    """`check_document`, and the signature `public_key`'s: DedupeError if not."""
    if len(signature) > MAX_SIGNATURE_BYTES:
        raise DedupeError("the signature is too large")
    found = check_document(data, kind)
    try:
        verify(data, signature, public_key)
    except ValueError as exc:  # SignatureError, a ReleaseError
        raise DedupeError("bad signature: not the workstation key pinned for it") from exc
    return found


def _decode(body: Mapping[str, Any]) -> tuple[bytes, bytes]:
    if set(body) != {"document", "signature"} or not all(isinstance(v, str) for v in body.values()):
        raise EnvelopeRefusedError("body", "a message envelope holds a document and a signature")
    # Measured before decoding: base64 is a third larger than what it holds.
    if len(body["document"]) > MAX_DOCUMENT_BYTES * 4 // 3 + 4:
        raise EnvelopeRefusedError("body", "the message is too large")
    try:
        return (
            base64.b64decode(body["document"], validate=True),
            base64.b64decode(body["signature"], validate=True),
        )
    except (ValueError, binascii.Error) as exc:
        raise EnvelopeRefusedError("body", "the message is not base64") from exc


def psi_handler(
    kind: str, verify: Verify
) -> Callable[[Session, FederationPeer, Mapping[str, Any]], str]:
    """The receiver of `kind`: checked, signed by the peer's workstation, kept for ours."""

    def receive(db: Session, peer: FederationPeer, body: Mapping[str, Any]) -> str:
        document, signature = _decode(body)
        if peer.release_key is None:
            raise EnvelopeRefusedError("body", "no workstation key is known for this peer")
        try:
            found = read_signed(document, signature, peer.release_key, verify, kind)
            return psi_messages.receive(
                db,
                peer,
                kind=kind,
                message_id=found.message_id,
                document=document,
                signature=signature,
            )
        except (ReleaseError, psi_messages.PsiRefusedError) as exc:
            raise EnvelopeRefusedError("body", f"message refused ({exc})") from exc

    return receive
