"""Re-sealing a referred case for a partner organisation, on the AIR-GAPPED workstation
(`backupctl workstation transfer`; docs/federation.md, "Transferring a case").

The server cannot do it: it never holds a key that opens a submission. The workstation
reads the server's transfer request, and trusts none of it blindly:

- each item's custody receipt must be signed by a receipt key this workstation pins
  (`--receipt-key`), and the item's ciphertext and sealed manifest must be the ones
  that receipt names (SHA-256 and size);
- the receiving key must be the one whose fingerprint the analyst gives
  (`--recipient`, read from the partner organisation itself, never from the request):
  a server that swapped the key is refused here, before anything is decrypted.

Then each item is opened in memory and sealed again to that key only (in a scratch
GnuPG home holding nothing but that public key), and the package document listing
the new ciphertexts with the hashes of our receipts is signed with the submission key.
Nothing is written in clear.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gnupg

from keys.errors import DecryptionError
from keys.gpg import GpgKeyring, kill_agent
from keys.receipts import SignedRecord, VerifyKey, body_hash, canonical
from vault.errors import ChainError
from vault.transfer_package import (
    KINDS,
    MAX_TRANSFER_BYTES,
    TransferError,
    body_of,
    package_document,
    parse_request,
    sha256,
    unb64,
)
from workstation.observatory.release_sign import sign_bytes

__all__ = ["seal_transfer"]


def _verified_receipt(record: object, trusted: Sequence[VerifyKey], number: int) -> dict[str, Any]:
    if not isinstance(record, dict) or set(record) != {"body", "sig"}:
        raise TransferError(f"item {number}: no custody receipt")
    signed = SignedRecord(record["body"], record["sig"])
    for key in trusted:
        try:
            signed.verify(key, f"item {number} receipt")
        except ChainError:
            continue
        return dict(signed.body)
    raise TransferError(f"item {number}: its receipt is not signed by a pinned receipt key")


class _Recipient:
    """A scratch GnuPG home holding the receiving organisation's public key only."""

    def __init__(self, armored: str, fingerprint: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="transfer-")
        self.home = Path(self._tmp.name) / "gnupg"
        self.home.mkdir(mode=0o700)
        self.gpg = gnupg.GPG(gnupghome=str(self.home))
        scanned = self.gpg.scan_keys_mem(armored)
        primaries = {str(key["fingerprint"]).upper() for key in scanned}
        if primaries != {fingerprint} or any(key.get("type") != "pub" for key in scanned):
            raise TransferError(
                "the receiving key in the request is not the one whose fingerprint was given"
            )
        self.gpg.import_keys(armored)
        self.fingerprint = fingerprint

    def seal(self, data: bytes) -> bytes:
        result = self.gpg.encrypt(
            data,
            [self.fingerprint],
            armor=False,
            always_trust=True,
            extra_args=["--compress-algo", "none"],
        )
        if not result.ok:
            raise TransferError(f"sealing to the receiving key failed: {result.status}")
        return bytes(result.data)

    def close(self) -> None:
        kill_agent(self.home)
        self._tmp.cleanup()


def seal_transfer(
    request_bytes: bytes,
    *,
    home: Path,
    passphrase: str,
    recipient: str,
    trusted: Sequence[VerifyKey],
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The `case_transfer` body for the request in `request_bytes`: every item checked
    against its pinned receipt, opened with the submission key in `home`, sealed to
    `recipient` only; the document signed by the submission key."""
    request = parse_request(request_bytes)
    recipient = recipient.replace(" ", "").upper()
    to: Mapping[str, Any] = request["to"]
    if str(to["fingerprint"]).upper() != recipient:
        raise TransferError("the request is for another key than the one given (--recipient)")
    if not trusted:
        raise TransferError("no pinned receipt key")
    keyring = GpgKeyring(home, server=False)
    sender = str(request["from"]).upper()
    if not keyring.has_secret_key(sender):
        raise TransferError("the submission secret key is not in this GnuPG home")
    target = _Recipient(str(to["key"]), recipient)
    try:
        items: list[dict[str, Any]] = []
        sealed: list[bytes] = []
        manifests: list[bytes | None] = []
        total = 0
        for number, entry in enumerate(request["items"], 1):
            if not isinstance(entry, dict) or set(entry) != {
                "source",
                "kind",
                "ciphertext",
                "manifest",
                "receipt",
            }:
                raise TransferError(f"item {number}: not a request item")
            receipt = _verified_receipt(entry["receipt"], trusted, number)
            ciphertext = unb64(entry["ciphertext"], f"item {number}")
            if entry["kind"] not in KINDS or receipt.get("kind") != entry["kind"]:
                raise TransferError(f"item {number}: not a message or file of a source")
            if receipt.get("sha256") != sha256(ciphertext) or receipt.get("size") != len(
                ciphertext
            ):
                raise TransferError(f"item {number}: its hash does not match its receipt")
            manifest = None if entry["manifest"] is None else unb64(entry["manifest"], "manifest")
            stated = receipt.get("manifest_sha256")
            if (manifest is None) != (stated is None) or (
                manifest is not None and sha256(manifest) != stated
            ):
                raise TransferError(f"item {number}: its manifest does not match its receipt")
            try:
                plain = keyring.open_bytes(ciphertext, passphrase, max_output=MAX_TRANSFER_BYTES)
                new = target.seal(plain)
                del plain
                new_manifest = (
                    None
                    if manifest is None
                    else target.seal(keyring.open_bytes(manifest, passphrase))
                )
            except DecryptionError as exc:
                raise TransferError(f"item {number}: cannot be opened with this key") from exc
            total += len(new)
            if total > MAX_TRANSFER_BYTES:
                raise TransferError("the case is too large to transfer in one envelope")
            sealed.append(new)
            manifests.append(new_manifest)
            items.append(
                {
                    "kind": entry["kind"],
                    "source": entry["source"],
                    "sha256": sha256(new),
                    "size": len(new),
                    "manifest_sha256": None if new_manifest is None else sha256(new_manifest),
                    "origin": {"receipt": body_hash(receipt), "sha256": receipt["sha256"]},
                }
            )
    finally:
        target.close()
    transfer = str(request["transfer"])
    uuidlib.UUID(transfer)  # a uuid, or ValueError
    document = package_document(
        transfer=transfer,
        sender=sender,
        recipient=recipient,
        items=items,
        created=now or dt.datetime.now(dt.UTC),
    )
    data = canonical(document)
    signature = sign_bytes(data, home, sender, passphrase)
    return body_of(data, signature, sealed, manifests)
