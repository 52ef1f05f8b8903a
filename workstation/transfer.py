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

Only cleaned copies leave (docs/federation.md, "Transferring a case"). A file
is decrypted into a scratch folder (0700, removed at the end, even on failure), checked
against its sealed manifest, and cleaned by mat2 as `workstation decrypt` cleans
(workstation.clean); what goes is the cleaned copy, under a neutral name
(`<item>-<kind>.<ext>`, the item's number in the package), in the gzip header and in a
new sealed manifest stating the name, size and SHA-256 of what goes, so the partner's
workstation checks what it receives as it checks any submission. The metadata removed
is reported per file. A file mat2 cannot clean is refused, and with it the whole
transfer, unless the analyst names its item (`include_uncleaned`): then it goes as it
is, still under a neutral name, marked `-uncleaned`, and the report says so. A message
is the source's own words, not a file: it goes as it is. Nothing else is written in
clear.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import shutil
import subprocess  # nosec B404
import tempfile
import uuid as uuidlib
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
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
from workstation.clean import Mat2FailedError, clean_copy, neutral_name, require_mat2
from workstation.decrypt import gzip_original_name
from workstation.errors import WorkstationError
from workstation.filenames import decode_gzip_name, sanitize_filename
from workstation.observatory.release_sign import sign_bytes

__all__ = ["Resealed", "SentFile", "seal_transfer"]

_CHUNK = 1024 * 1024
UNCLEANED_MARK = "-uncleaned"  # in the name of a file sent as it is: never a clean name


@dataclass(frozen=True)
class SentFile:
    """What became of one file of the case: for the analyst's eyes (the terminal), never
    put in the package."""

    item: int  # its number in the package (1, 2, ...), as `--include-uncleaned` takes it
    original: str  # the name the source gave it, made safe to print
    name: str  # its neutral name in the package
    # The metadata mat2 found in the original ("name: value"): removed from what went,
    # or, for a file that went uncleaned, what went with it.
    removed: list[str]
    uncleaned: str | None = None  # why mat2 could not clean it, when it went as it is


@dataclass(frozen=True)
class Resealed:
    """The `case_transfer` body, and what became of each file in it."""

    body: dict[str, Any]
    files: list[SentFile]


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


def _original_name(packed: bytes, number: int) -> str | None:
    """The source's name for the document in the gzip stream `packed` (as the server
    stores it: the name in the header), made safe to print; None without one."""
    try:
        raw = gzip_original_name(io.BytesIO(packed), f"item {number}")
    except WorkstationError as exc:
        raise TransferError(f"item {number}: {exc}") from exc
    return sanitize_filename(decode_gzip_name(raw)) if raw else None


def _gunzip(packed: bytes, into: Path, number: int) -> tuple[str, int]:
    """Write the document in `packed` to `into`, streaming; its SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(packed), mode="rb") as source:
            with open(into, "xb") as sink:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    sink.write(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise TransferError(f"item {number}: damaged document (bad gzip data)") from exc
    return digest.hexdigest(), size


def _pack(path: Path, name: str) -> tuple[bytes, str, int]:
    """`path` as a document is stored: gzip, `name` in its header and no time in it;
    with the SHA-256 and size of what was packed."""
    digest = hashlib.sha256()
    size = 0
    out = io.BytesIO()
    with (
        open(path, "rb") as source,
        gzip.GzipFile(filename=name, mode="wb", fileobj=out, mtime=0) as packed,
    ):
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            packed.write(chunk)
    return out.getvalue(), digest.hexdigest(), size


def _manifest(data: bytes | None, number: int) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise TransferError(f"item {number}: its sealed manifest is not JSON") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("media_type"), str):
        raise TransferError(f"item {number}: not a sealed manifest")
    return manifest


def _new_manifest(old: Mapping[str, Any], name: str, sha: str, size: int) -> bytes:
    """The sealed manifest of what goes, in the server's form
    (vault.services.custody.Manifest): its neutral name, size and SHA-256."""
    fields = {"filename": name, "media_type": old["media_type"], "size": size, "sha256": sha}
    return json.dumps({"v": 1, **fields}, sort_keys=True).encode("utf-8")


class _Cleaner:
    """Cleaned copies of the case's files, made in one scratch folder."""

    def __init__(self, mat2: str, parent: Path | None) -> None:
        self.mat2 = mat2
        self.root = Path(tempfile.mkdtemp(prefix=".backup-transfer-", dir=parent))
        self.count = 0

    def clean(self, plain: Path, name: str) -> tuple[Path | None, list[str], str | None]:
        """(the cleaned copy or None, the metadata removed or found, why not cleaned)."""
        self.count += 1
        work = self.root / f"work-{self.count}"
        work.mkdir(mode=0o700)
        try:
            cleaned = clean_copy(self.mat2, plain, self.root / "cleaned", name, work)
        except Mat2FailedError:
            return None, [], "mat2 was stopped while cleaning it"
        except subprocess.TimeoutExpired:
            return None, [], "mat2 did not finish cleaning it in time"
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return cleaned.copy, cleaned.removed, cleaned.refused

    def plain_path(self, name: str) -> Path:
        """Where to decrypt a file named `name` (mat2 goes by the extension)."""
        self.count += 1
        folder = self.root / f"plain-{self.count}"
        folder.mkdir(mode=0o700)
        return folder / name

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class _Outgoing:
    """A file as it goes: gzip of its cleaned copy (or of itself), its new manifest."""

    report: SentFile
    packed: bytes
    manifest: bytes | None


def _clean_file(
    cleaner: _Cleaner, packed: bytes, manifest: Mapping[str, Any] | None, number: int
) -> _Outgoing:
    """Decrypted file `number` (`packed`: gzip, as stored), checked against its sealed
    manifest and cleaned; or, if mat2 cannot clean it, as it is (`report.uncleaned`
    says why: the caller sends it only if the analyst named it)."""
    original = _original_name(packed, number)
    name = neutral_name(number, original or "")
    path = cleaner.plain_path(name)
    try:
        sha, size = _gunzip(packed, path, number)
        if manifest is not None and (manifest.get("sha256"), manifest.get("size")) != (sha, size):
            raise TransferError(
                f"item {number}: the decrypted file does not match its sealed manifest "
                "(SHA-256 or size differ)"
            )
        copy, removed, why = cleaner.clean(path, name)
        if copy is None:
            stem, ext = name.split(".", 1) if "." in name else (name, "")
            name = f"{stem}{UNCLEANED_MARK}.{ext}" if ext else f"{stem}{UNCLEANED_MARK}"
        try:
            gz, sha, size = _pack(path if copy is None else copy, name)
        finally:
            if copy is not None:
                copy.unlink(missing_ok=True)
    finally:
        path.unlink(missing_ok=True)
    report = SentFile(number, original or "(no name)", name, removed, why)
    new = None if manifest is None else _new_manifest(manifest, name, sha, size)
    return _Outgoing(report, gz, new)


def _file_items(request: Mapping[str, Any]) -> list[int]:
    return [
        number
        for number, entry in enumerate(request["items"], 1)
        if isinstance(entry, dict) and entry.get("kind") == "file"
    ]


def _check_allowed(files: Sequence[int], include_uncleaned: Collection[int]) -> None:
    """Every item named to go uncleaned is a file of the request (a typo is refused
    before anything is opened, not ignored)."""
    unknown = sorted(set(include_uncleaned) - set(files))
    if unknown:
        raise TransferError(f"--include-uncleaned {unknown[0]}: item {unknown[0]} is not a file")


def _refusal(refused: Sequence[SentFile]) -> TransferError:
    listed = "; ".join(f"item {f.item} ({f.original}): {f.uncleaned}" for f in refused)
    numbers = " ".join(f"--include-uncleaned {f.item}" for f in refused)
    return TransferError(
        f"only cleaned copies leave the workstation, and mat2 cannot clean {listed}. "
        "Nothing was written. To send such a file as it is, with whatever it carries "
        f"(metadata, names, places), look at it first, then give {numbers}."
    )


def seal_transfer(
    request_bytes: bytes,
    *,
    home: Path,
    passphrase: str,
    recipient: str,
    trusted: Sequence[VerifyKey],
    include_uncleaned: Collection[int] = (),
    scratch: Path | None = None,
    now: dt.datetime | None = None,
) -> Resealed:
    """The `case_transfer` body for the request in `request_bytes`: every item checked
    against its pinned receipt, opened with the submission key in `home`, each file
    replaced by its cleaned copy, sealed to `recipient` only; the document signed by
    the submission key.

    A file mat2 cannot clean refuses the transfer (TransferError naming them all)
    unless its item number is in `include_uncleaned`. Files are decrypted and cleaned
    in a folder made in `scratch` (default: the system's temporary folder) and removed
    before this returns. Mat2MissingError, before anything is opened, if the request
    holds a file and mat2 is not installed.
    """
    request = parse_request(request_bytes)
    recipient = recipient.replace(" ", "").upper()
    to: Mapping[str, Any] = request["to"]
    if str(to["fingerprint"]).upper() != recipient:
        raise TransferError("the request is for another key than the one given (--recipient)")
    if not trusted:
        raise TransferError("no pinned receipt key")
    files = _file_items(request)
    _check_allowed(files, include_uncleaned)
    mat2 = require_mat2() if files else ""
    keyring = GpgKeyring(home, server=False)
    sender = str(request["from"]).upper()
    if not keyring.has_secret_key(sender):
        raise TransferError("the submission secret key is not in this GnuPG home")
    target = _Recipient(str(to["key"]), recipient)
    cleaner = _Cleaner(mat2, scratch) if files else None
    try:
        items: list[dict[str, Any]] = []
        sealed: list[bytes] = []
        manifests: list[bytes | None] = []
        sent: list[SentFile] = []
        refused: list[SentFile] = []
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
                opened = None if manifest is None else keyring.open_bytes(manifest, passphrase)
            except DecryptionError as exc:
                raise TransferError(f"item {number}: cannot be opened with this key") from exc
            if cleaner is not None and entry["kind"] == "file":
                outcome = _clean_file(cleaner, plain, _manifest(opened, number), number)
                del plain
                if outcome.report.uncleaned is not None and number not in include_uncleaned:
                    refused.append(outcome.report)  # named below, once every file is seen
                    continue
                sent.append(outcome.report)
                plain, opened = outcome.packed, outcome.manifest
            new = target.seal(plain)
            del plain
            new_manifest = None if opened is None else target.seal(opened)
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
        if refused:
            raise _refusal(refused)
    finally:
        target.close()
        if cleaner is not None:
            cleaner.close()
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
    return Resealed(body_of(data, signature, sealed, manifests), sent)
