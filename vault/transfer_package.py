"""A referred case sent to a peer instance: the signed package, pure logic (no database,
no gpg, no network).

Three documents, all canonical JSON (sorted keys, no spaces, UTF-8: the form custody
receipts are signed in, `keys.receipts.canonical`):

- the **request** (`backup.case-transfer-request`), written by the sending server for
  its air-gapped workstation: the case's sealed items as stored (ciphertext to our
  submission key), each with its sealed manifest and its custody receipt, and the
  peer's submission public key (the one given at `peer add`);
- the **package document** (`backup.case-transfer`), written and signed (OpenPGP,
  detached) on that workstation: for each item its kind, the source it came from
  (1, 2, ... within the transfer), the SHA-256 and size of its new ciphertext (sealed
  to the peer's submission key), the SHA-256 of its new sealed manifest, and its
  origin: the hash of our custody receipt and the SHA-256 of our ciphertext;
- the **body** of the `case_transfer` envelope (and the file the workstation writes):
  the document and its signature, and the new ciphertexts and sealed manifests, in
  the document's order.

The server never holds plaintext: it carries ciphertext only, in both directions. The
receiver checks the signature with the peer's key pinned at `peer add`, then every
item against the document (`check_items`): a changed item is refused as a whole.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vault.errors import VaultError


def canonical(body: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed (as keys.receipts.canonical: the domain imports no
    adapter)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


__all__ = [
    "KINDS",
    "PACKAGE_SCHEMA",
    "REQUEST_SCHEMA",
    "TransferBody",
    "TransferError",
    "body_of",
    "check_items",
    "package_document",
    "parse_body",
    "parse_document",
    "parse_request",
    "sha256",
    "unb64",
]

PACKAGE_SCHEMA = "backup.case-transfer"
REQUEST_SCHEMA = "backup.case-transfer-request"
VERSION = 1
# What a case holds that is sealed to the submission key and has a custody receipt: the
# messages and files its sources sent.
KINDS = ("message", "file")
# Everything travels in one envelope (federation.envelope.MAX_ENVELOPE_BYTES, 6 MiB,
# with base64's third on top): the ciphertexts of one transfer are at most this.
MAX_TRANSFER_BYTES = 4 * 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FPR = re.compile(r"^[0-9A-F]{40}$|^[0-9A-F]{64}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_ITEM_FIELDS = {"kind", "source", "sha256", "size", "manifest_sha256", "origin"}
_DOC_FIELDS = {"schema", "version", "transfer", "from", "to", "created", "consent", "items"}
CONSENT_PURPOSE = "refer_partner"


class TransferError(VaultError):
    """A transfer request, package or body that is not what it must be."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise TransferError(f"{what}: not base64")
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise TransferError(f"{what}: not base64") from exc


def package_document(
    *,
    transfer: str,
    sender: str,
    recipient: str,
    items: Sequence[Mapping[str, Any]],
    created: dt.datetime,
) -> dict[str, Any]:
    """The document the workstation signs (checked as the receiver will check it)."""
    document = {
        "schema": PACKAGE_SCHEMA,
        "version": VERSION,
        "transfer": transfer,
        "from": sender,
        "to": recipient,
        "created": created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "consent": CONSENT_PURPOSE,
        "items": [dict(item) for item in items],
    }
    _check_document(document)
    return document


def _check_item(number: int, item: object) -> None:
    label = f"item {number}"
    if not isinstance(item, dict) or set(item) != _ITEM_FIELDS:
        raise TransferError(f"{label}: not a transfer item")
    if item["kind"] not in KINDS:
        raise TransferError(f"{label}: unknown kind")
    source, size = item["source"], item["size"]
    if type(source) is not int or not 0 < source <= 10_000:
        raise TransferError(f"{label}: bad source number")
    if type(size) is not int or size < 0:
        raise TransferError(f"{label}: bad size")
    if not isinstance(item["sha256"], str) or not _HEX64.fullmatch(item["sha256"]):
        raise TransferError(f"{label}: bad sha256")
    manifest = item["manifest_sha256"]
    if manifest is not None and (not isinstance(manifest, str) or not _HEX64.fullmatch(manifest)):
        raise TransferError(f"{label}: bad manifest_sha256")
    origin = item["origin"]
    if (
        not isinstance(origin, dict)
        or set(origin) != {"receipt", "sha256"}
        or not all(isinstance(v, str) and _HEX64.fullmatch(v) for v in origin.values())
    ):
        raise TransferError(f"{label}: bad origin")


def _check_document(document: Mapping[str, Any]) -> None:
    if set(document) != _DOC_FIELDS:
        raise TransferError("not a case transfer package")
    if document["schema"] != PACKAGE_SCHEMA or document["version"] != VERSION:
        raise TransferError("not a case transfer package of this version")
    if not isinstance(document["transfer"], str) or not _UUID.fullmatch(document["transfer"]):
        raise TransferError("bad transfer id")
    for field in ("from", "to"):
        if not isinstance(document[field], str) or not _FPR.fullmatch(document[field]):
            raise TransferError(f"bad {field!r} key fingerprint")
    if not isinstance(document["created"], str) or not _CREATED.fullmatch(document["created"]):
        raise TransferError("bad creation time")
    if document["consent"] != CONSENT_PURPOSE:
        raise TransferError("the package does not state the consent for referral")
    items = document["items"]
    if not isinstance(items, list) or not items:
        raise TransferError("a transfer carries at least one item")
    for number, item in enumerate(items, 1):
        _check_item(number, item)
    receipts = [item["origin"]["receipt"] for item in items]
    if len(set(receipts)) != len(receipts):
        raise TransferError("an item is listed twice")
    sources = sorted({item["source"] for item in items})
    if sources != list(range(1, len(sources) + 1)):
        raise TransferError("sources are numbered 1, 2, ... without gaps")


def parse_document(data: bytes) -> dict[str, Any]:
    """The package document in `data` (its canonical bytes, as signed)."""
    try:
        document = json.loads(data.decode("utf-8"), parse_float=_no_float)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TransferError("the package document is not JSON") from exc
    if not isinstance(document, dict) or canonical(document) != data:
        raise TransferError("the package document is not in canonical form")
    _check_document(document)
    return document


def _no_float(_text: str) -> Any:
    raise ValueError("no floats")


@dataclass(frozen=True)
class TransferBody:
    """A `case_transfer` envelope's body, decoded (not yet checked against itself)."""

    document: bytes
    signature: bytes
    items: list[bytes]
    manifests: list[bytes | None]


def body_of(
    document: bytes, signature: bytes, items: Sequence[bytes], manifests: Sequence[bytes | None]
) -> dict[str, Any]:
    """The envelope body (and the workstation's output file) for these parts."""
    return {
        "document": _b64(document),
        "signature": _b64(signature),
        "items": [_b64(item) for item in items],
        "manifests": [None if m is None else _b64(m) for m in manifests],
    }


def parse_body(body: Mapping[str, Any]) -> TransferBody:
    if set(body) != {"document", "signature", "items", "manifests"}:
        raise TransferError("a case transfer holds a document, a signature, items, manifests")
    items, manifests = body["items"], body["manifests"]
    if not isinstance(items, list) or not isinstance(manifests, list):
        raise TransferError("items and manifests are lists")
    if len(items) != len(manifests):
        raise TransferError("one manifest (or null) per item")
    return TransferBody(
        document=unb64(body["document"], "document"),
        signature=unb64(body["signature"], "signature"),
        items=[unb64(item, f"item {n}") for n, item in enumerate(items, 1)],
        manifests=[
            None if m is None else unb64(m, f"manifest {n}") for n, m in enumerate(manifests, 1)
        ],
    )


def check_items(document: Mapping[str, Any], body: TransferBody) -> None:
    """Every item and sealed manifest is exactly what the signed document states;
    TransferError naming the first that is not (a changed, missing or extra one)."""
    listed = document["items"]
    if len(body.items) != len(listed):
        raise TransferError("the items are not those the package lists")
    for number, (item, data, manifest) in enumerate(
        zip(listed, body.items, body.manifests, strict=True), 1
    ):
        if len(data) != item["size"] or sha256(data) != item["sha256"]:
            raise TransferError(f"item {number}: its hash does not match the signed package")
        stated = item["manifest_sha256"]
        if (manifest is None) != (stated is None) or (
            manifest is not None and sha256(manifest) != stated
        ):
            raise TransferError(f"item {number}: its manifest does not match the signed package")


def parse_request(data: bytes) -> dict[str, Any]:
    """A transfer request as the server wrote it (the workstation re-checks every
    receipt and hash in it: the server is not trusted here)."""
    try:
        request = json.loads(data.decode("utf-8"), parse_float=_no_float)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TransferError("the request is not JSON") from exc
    if not isinstance(request, dict) or request.get("schema") != REQUEST_SCHEMA:
        raise TransferError("not a case transfer request")
    if request.get("version") != VERSION:
        raise TransferError("not a case transfer request of this version")
    fields = {"schema", "version", "transfer", "case", "from", "to", "items"}
    if set(request) != fields:
        raise TransferError("not a case transfer request")
    to = request["to"]
    if not isinstance(to, dict) or set(to) != {"fingerprint", "key"}:
        raise TransferError("the request does not name the receiving key")
    items = request["items"]
    if not isinstance(items, list) or not items:
        raise TransferError("the request holds no item")
    return request
