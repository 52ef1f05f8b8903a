"""Import an export bundle (vault.services.export) into a workspace, verifying first.

Everything is checked before anything is copied, with public keys only: the receipt
key must be one the workspace pinned; MANIFEST.json must carry its signature; the chain
segment must verify link by link; every item's ciphertext and sealed manifest must
hash to what its signed receipt says. A bundle with any problem is refused whole, and
the error lists every problem, naming the file and the reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys.errors import KeyOperationError
from keys.receipts import ChainError, SignedRecord, VerifyKey, verify_chain
from workstation.anchors import Anchor, is_anchor_member, read_bundle_anchors, sidecar
from workstation.custody_log import Workspace
from workstation.errors import WorkstationError
from workstation.prefixes import resolve_prefix

__all__ = [
    "BundleRefusedError",
    "EvidenceItem",
    "anchors_path",
    "import_bundle",
    "imported_items",
    "load_item",
    "resolve_item",
    "verify_bundle",
]

FORMAT = "backup-export/1"
_MANIFEST, _SIGNATURE, _KEY, _RECEIPTS = (
    "MANIFEST.json",
    "MANIFEST.json.sig",
    "receipt-key.pem",
    "receipts.jsonl",
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_FILE = re.compile(
    rf"^files/(?P<source>{_UUID})/(?P<name>[0-9]+-[a-z0-9_]+-(msg\.gpg|doc\.gz\.gpg|reply\.gpg))"
    r"(?P<manifest>\.manifest\.gpg)?$"
)
_MAX_MEMBER = 8 * 1024**3


class BundleRefusedError(WorkstationError):
    """The bundle does not verify; `problems` names each file and reason."""

    def __init__(self, bundle: Path, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{bundle.name}: REFUSED, nothing imported:\n{lines}")


@dataclass
class _Checked:
    manifest: dict[str, Any]
    receipts: list[SignedRecord]
    by_seq: dict[int, SignedRecord] = field(default_factory=dict)
    anchors: list[Anchor] = field(default_factory=list)
    tsa_pems: dict[str, bytes] = field(default_factory=dict)


def _sha256_member(bundle: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with bundle.open(name) as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify_bundle(path: Path, trusted: Sequence[VerifyKey]) -> _Checked:
    """Verify a bundle; returns what it holds, or raises BundleRefusedError."""
    try:
        return _verify(path, trusted)
    except zipfile.BadZipFile as exc:  # a checksum inside the ZIP fails: bytes changed
        raise BundleRefusedError(path, [f"{path.name}: damaged ({exc})"]) from exc


def _verify(path: Path, trusted: Sequence[VerifyKey]) -> _Checked:
    problems: list[str] = []
    try:
        bundle = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleRefusedError(path, [f"{path.name}: not a readable ZIP ({exc})"]) from exc
    with bundle:
        listing = bundle.namelist()
        names = set(listing)
        for name in sorted({n for n in listing if listing.count(n) > 1}):
            problems.append(f"{name}: appears more than once (which copy is evidence?)")
        for name in sorted(names - {_MANIFEST, _SIGNATURE, _KEY, _RECEIPTS}):
            if not _FILE.match(name) and not is_anchor_member(name):
                problems.append(f"{name}: unexpected file in the bundle")
        for info in bundle.infolist():
            if info.file_size > _MAX_MEMBER:
                problems.append(f"{info.filename}: too large")
        missing = [n for n in (_MANIFEST, _SIGNATURE, _KEY, _RECEIPTS) if n not in names]
        if missing:
            raise BundleRefusedError(path, [f"{n}: missing" for n in missing] + problems)
        key = _check_key(bundle.read(_KEY), trusted, problems)
        raw_manifest = bundle.read(_MANIFEST)
        if key is not None:
            try:
                signature = base64.b64decode(bundle.read(_SIGNATURE), validate=True)
            except ValueError:
                signature = b""
            if not key.verify(signature, raw_manifest):
                problems.append(f"{_MANIFEST}: bad signature (edited, or not signed by {_KEY})")
        try:
            manifest = json.loads(raw_manifest)
            items = manifest["items"]
            if manifest.get("format") != FORMAT or not isinstance(items, list):
                raise ValueError("format")
            # Ids become directory and file names here: even a signed one is checked (the
            # server holding the receipt key is exactly what we must not trust blindly).
            if not re.fullmatch(_UUID, str(manifest.get("export_uuid"))):
                raise ValueError("export id")
        except (ValueError, KeyError, TypeError):
            raise BundleRefusedError(
                path, [*problems, f"{_MANIFEST}: not a BackUp export"]
            ) from None
        checked = _Checked(manifest, [])
        try:
            lines = bundle.read(_RECEIPTS).decode("utf-8").splitlines()
            checked.receipts = [
                SignedRecord.from_json(line, f"{_RECEIPTS} line {n}")
                for n, line in enumerate(lines, 1)
            ]
            # Every pinned key: a segment may span a receipt-key rotation.
            verify_chain(checked.receipts, list(trusted) if key else [], _RECEIPTS)
        except (ChainError, UnicodeDecodeError) as exc:
            problems.append(str(exc))
        checked.by_seq = {int(r.body.get("seq", -1)): r for r in checked.receipts}
        # Time-stamps of the segment: one that does not verify refuses the bundle, like
        # any other evidence that does not (the tokens are checked, not trusted).
        checked.anchors, checked.tsa_pems = read_bundle_anchors(
            bundle, manifest, checked.receipts, problems
        )
        listed = set()
        for item in items:
            try:
                listed |= _check_item(bundle, item, checked, names, problems)
            except (ValueError, TypeError, KeyError, AttributeError):
                problems.append(f"{_MANIFEST}: malformed item {str(item)[:80]}")
            except zipfile.BadZipFile as exc:  # a CRC error: bytes changed inside the ZIP
                problems.append(f"{item.get('path')}: damaged inside the ZIP ({exc})")
                listed |= {str(item.get("path")), f"{item.get('path')}.manifest.gpg"}
        for name in sorted(names - listed - {_MANIFEST, _SIGNATURE, _KEY, _RECEIPTS}):
            if is_anchor_member(name):
                continue  # checked above
            problems.append(f"{name}: in the bundle but not in {_MANIFEST}")
    if problems:
        raise BundleRefusedError(path, problems)
    return checked


def _check_key(pem: bytes, trusted: Sequence[VerifyKey], problems: list[str]) -> VerifyKey | None:
    try:
        key = VerifyKey.from_pem(pem)
    except KeyOperationError as exc:
        problems.append(f"{_KEY}: {exc}")
        return None
    if key.fingerprint not in {k.fingerprint for k in trusted}:
        problems.append(
            f"{_KEY}: receipt key {key.fingerprint} is not trusted by this workspace "
            "(compare it with the published fingerprint, then `backupctl custody trust`)"
        )
        return None
    return key


def _check_item(
    bundle: zipfile.ZipFile,
    item: dict[str, Any],
    checked: _Checked,
    names: set[str],
    problems: list[str],
) -> set[str]:
    path = str(item.get("path", ""))
    if not re.fullmatch(_UUID, str(item.get("uuid"))):
        problems.append(f"{path or '?'}: its item id is not a uuid")
        return set()
    match = _FILE.match(path)
    if match is None or match["manifest"]:
        problems.append(f"{path or '?'}: not a valid item path")
        return set()
    used = {path}
    if item.get("manifest_path") == f"{path}.manifest.gpg":
        used.add(f"{path}.manifest.gpg")
    if path not in names:
        problems.append(f"{path}: listed in {_MANIFEST} but missing")
        return used
    receipt = checked.by_seq.get(int(item.get("receipt_seq", -1)))
    if receipt is None:
        problems.append(
            f"{path}: its receipt (seq {item.get('receipt_seq')}) is not in {_RECEIPTS}"
        )
        return {path}
    body = receipt.body
    if body.get("uuid") != item.get("uuid") or body.get("filename") != match["name"]:
        problems.append(f"{path}: its receipt names another object")
    sha256, size = _sha256_member(bundle, path)
    if sha256 != body.get("sha256") or size != body.get("size"):
        problems.append(f"{path}: ciphertext SHA-256 or size does not match its signed receipt")
    manifest_path = f"{path}.manifest.gpg"
    if "manifest_sha256" in body:
        if manifest_path not in names:
            problems.append(f"{manifest_path}: sealed manifest missing")
        elif _sha256_member(bundle, manifest_path)[0] != body["manifest_sha256"]:
            problems.append(f"{manifest_path}: does not match the hash in its signed receipt")
        used.add(manifest_path)
    return used


@dataclass(frozen=True)
class EvidenceItem:
    uuid: str
    kind: str
    designation: str
    directory: Path
    ciphertext: Path
    sealed_manifest: Path | None
    receipt: SignedRecord
    segment: Path
    source_uuid: str = ""

    @property
    def number(self) -> int:
        """The source's submission number N of `N-designation-…` (its stored name)."""
        return int(self.ciphertext.name.split("-", 1)[0])

    @property
    def received_at(self) -> str:
        """When the server received it, from the signed custody receipt (UTC, ISO)."""
        return str(self.receipt.body.get("received_at", ""))

    @property
    def receipt_seq(self) -> int:
        return int(self.receipt.body.get("seq", -1))

    def describe(self) -> str:
        """One line naming the item as people find it: name, kind, time received."""
        when = self.received_at[:16].replace("T", " ")
        return f"{self.ciphertext.name} ({self.kind}, received {when} UTC)"


def import_bundle(workspace: Workspace, path: Path) -> list[EvidenceItem]:
    """Verify `path`, then copy its items read-only into the workspace's evidence."""
    checked = verify_bundle(path, workspace.trusted_receipt_keys())
    manifest = checked.manifest
    evidence = workspace.dir("evidence")
    segment = evidence / "segments" / f"{manifest['export_uuid']}.jsonl"
    segment.parent.mkdir(mode=0o700, exist_ok=True)
    if not segment.exists():
        segment.write_text("".join(r.to_json() + "\n" for r in checked.receipts))
        os.chmod(segment, 0o400)
    stamps = anchors_path(segment)
    if checked.anchors and not stamps.exists():
        stamps.write_text(sidecar(checked.anchors, checked.tsa_pems))
        os.chmod(stamps, 0o400)
    imported = []
    with zipfile.ZipFile(path) as bundle:
        for item in manifest["items"]:
            target = evidence / item["uuid"]
            if target.exists():
                continue  # imported before, from this or an earlier bundle
            target.mkdir(mode=0o700)
            receipt = checked.by_seq[int(item["receipt_seq"])]
            for member in [item["path"], item.get("manifest_path")]:
                if member:
                    out = target / Path(member).name
                    out.write_bytes(bundle.read(member))
                    os.chmod(out, 0o400)
            meta = {**item, "receipt": json.loads(receipt.to_json()), "segment": segment.name}
            (target / "item.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
            os.chmod(target / "item.json", 0o400)
            imported.append(load_item(workspace, item["uuid"]))
            workspace.log.append(
                "imported",
                {
                    "item": item["uuid"],
                    "export": manifest["export_uuid"],
                    "receipt_seq": receipt.body["seq"],
                    "receipt_hash": receipt.hash,
                    "ciphertext_sha256": receipt.body["sha256"],
                },
            )
    return imported


def anchors_path(segment: Path) -> Path:
    """Where a segment's time-stamps and TSA certificates are kept, if it has any."""
    return segment.with_name(f"{segment.stem}.anchors.json")


def load_item(workspace: Workspace, item_uuid: str) -> EvidenceItem:
    if not re.fullmatch(_UUID, item_uuid):
        raise WorkstationError(f"{item_uuid}: not an item id")
    directory = workspace.dir("evidence") / item_uuid
    try:
        meta = json.loads((directory / "item.json").read_text())
    except FileNotFoundError as exc:
        raise WorkstationError(f"{item_uuid}: not imported in this workspace") from exc
    name = Path(meta["path"]).name
    manifest = directory / f"{name}.manifest.gpg"
    return EvidenceItem(
        uuid=item_uuid,
        kind=meta["kind"],
        designation=meta["designation"],
        directory=directory,
        ciphertext=directory / name,
        sealed_manifest=manifest if manifest.exists() else None,
        receipt=SignedRecord(meta["receipt"]["body"], meta["receipt"]["sig"]),
        segment=workspace.dir("evidence") / "segments" / meta["segment"],
        source_uuid=str(meta.get("source_uuid") or Path(meta["path"]).parent.name),
    )


def imported_items(workspace: Workspace) -> list[EvidenceItem]:
    """Every item imported into the workspace, in the order the server received them."""
    evidence = workspace.dir("evidence")
    if not evidence.is_dir():
        return []
    found = [
        load_item(workspace, d.name)
        for d in evidence.iterdir()
        if re.fullmatch(_UUID, d.name) and (d / "item.json").is_file()
    ]
    return sorted(found, key=lambda item: item.receipt_seq)


def resolve_item(workspace: Workspace, typed: str) -> str:
    """The id of the one imported item `typed` (a whole id or a unique prefix of at
    least 8 characters) names; PrefixError otherwise, listing the candidates."""
    items = {item.uuid: item.describe() for item in imported_items(workspace)}
    return resolve_prefix(typed, items, what="imported item id")
