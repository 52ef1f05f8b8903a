"""Judicial files: one ZIP per case that anyone can verify with public keys only.

    JUDICIAL-MANIFEST.json      items, their receipts and hashes, every file's hash,
                                the consent to court relied on (workstation.judicial_consent)
    JUDICIAL-MANIFEST.json.sig  Ed25519 signature by the workstation key (base64)
    summary.pdf                 the same, in words, for a court clerk
    custody-log.jsonl           the workstation's signed, chained custody log
    keys/                       the workstation and receipt public keys
    receipts/<export>.jsonl     the server's chain segments the receipts belong to
    receipts/<export>.anchors.jsonl   RFC 3161 time-stamps of those segments, if any
    keys/tsa-<name>-<fp>.pem    the certificates the time-stamps chain to
    ciphertext/<item>/...       what the server received, and its sealed manifest
    originals/<item>/...        the decrypted originals, untouched

`verify_judicial` trusts nothing inside the file for identity: the verdict names the
key fingerprints it relied on, and with `expect_*` it refuses any other key. It also
states the consent to court the file relied on: which document, received when.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid as uuidlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys.errors import KeyOperationError
from keys.receipts import ChainError, SignedRecord, VerifyKey, verify_chain
from workstation.bundle import load_item
from workstation.consent import require_consent_by_item, workspace_readings
from workstation.custody_log import LOG_NAME, Workspace, read_log, utc_stamp
from workstation.errors import WorkstationError
from workstation.evidence import SESSION_KEYS
from workstation.judicial_anchors import (
    anchor_members,
    check_item_anchors,
    first_anchor_summary,
    tsa_certificates,
)
from workstation.judicial_consent import KEY as CONSENT_KEY
from workstation.judicial_consent import check_consent, consent_entries, receipt_keys_of
from workstation.judicial_pdf import render_summary
from workstation.judicial_plaintext import check_plaintext
from workstation.prefixes import names_fingerprint

__all__ = ["Verdict", "build_judicial", "manifest_of", "verify_judicial"]

FORMAT = "backup-judicial/1"
MANIFEST = "JUDICIAL-MANIFEST.json"
SIGNATURE = "JUDICIAL-MANIFEST.json.sig"
WS_KEY = "keys/workstation-key.pem"


def _decryptions(workspace: Workspace) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for record in read_log(workspace.root / LOG_NAME):
        if record.body.get("action") == "decrypted":
            details = dict(record.body["details"])
            found[str(details["item"])] = details
    return found


def original_of(workspace: Workspace, item_uuid: str) -> Path:
    """The one decrypted original of an item (`originals/<item>/` holds nothing else)."""
    found = [p for p in (workspace.dir("originals") / item_uuid).iterdir() if p.is_file()]
    if len(found) != 1:
        raise WorkstationError(f"{item_uuid}: expected one original, found {len(found)}")
    return found[0]


def _session_keys(directory: Path) -> dict[str, Any]:
    path = directory / SESSION_KEYS
    return dict(json.loads(path.read_text())) if path.exists() else {}


def build_judicial(
    workspace: Workspace, item_uuids: Sequence[str], out_dir: Path, title: str
) -> Path:
    """Build a judicial file of decrypted items; logged, signed, returns its path.

    Refused (ConsentRefusedError, logged) unless the latest consent of every source of
    the items, as decrypted in this workspace, allows use in court.
    """
    for item_uuid in item_uuids:
        load_item(workspace, item_uuid)  # a bad id is an error, not a missing consent
    by_item = require_consent_by_item(workspace, item_uuids, "court")
    court_consent = consent_entries(workspace, by_item, workspace_readings(workspace))
    decrypted = _decryptions(workspace)
    judicial_uuid = str(uuidlib.uuid4())
    items, members = [], {}
    receipt_keys = receipt_keys_of(court_consent)
    segments: dict[str, Path] = {}
    for item_uuid in dict.fromkeys(item_uuids):
        item = load_item(workspace, item_uuid)
        if item_uuid not in decrypted:
            raise WorkstationError(f"{item_uuid}: decrypt it first (`backupctl custody decrypt`)")
        done = decrypted[item_uuid]
        original = original_of(workspace, item_uuid)
        base = f"{item_uuid}/"
        members[f"ciphertext/{base}{item.ciphertext.name}"] = item.ciphertext
        if item.sealed_manifest is not None:
            members[f"ciphertext/{base}{item.sealed_manifest.name}"] = item.sealed_manifest
        members[f"originals/{base}{original.name}"] = original
        members[f"receipts/{item.segment.name}"] = item.segment
        segments[item_uuid] = item.segment
        receipt_keys |= {str(r.body["key"]) for r in read_log(item.segment, item.segment.name)}
        items.append(
            {
                "uuid": item_uuid,
                "kind": item.kind,
                "designation": item.designation,
                "receipt": json.loads(item.receipt.to_json()),
                "segment": f"receipts/{item.segment.name}",
                "ciphertext": f"ciphertext/{base}{item.ciphertext.name}",
                "sealed_manifest": (
                    f"ciphertext/{base}{item.sealed_manifest.name}"
                    if item.sealed_manifest
                    else None
                ),
                "session_keys": _session_keys(item.directory),
                "original": {
                    "path": f"originals/{base}{original.name}",
                    "name": original.name,
                    "sha256": done["sha256"],
                    "size": done["size"],
                    "media_type": done.get("media_type"),
                    "manifest_checked": done.get("manifest_checked", False),
                },
            }
        )
    anchor_blobs, anchors_of = anchor_members(list(segments.values()))
    for entry in items:
        segment = segments[str(entry["uuid"])]
        entry["anchors"] = anchors_of.get(segment.name)
        entry["first_anchor"] = first_anchor_summary(segment, int(entry["receipt"]["body"]["seq"]))
    trusted = {key.fingerprint: key for key in workspace.trusted_receipt_keys()}
    workspace.log.append(
        "judicial-file",
        {
            "judicial_uuid": judicial_uuid,
            "items": list(dict.fromkeys(item_uuids)),
            # The consent documents relied on, by item id (never their content).
            "court_consent": sorted({str(r.item_uuid) for r in by_item.values()}),
        },
    )
    log = [dict(r.body) for r in read_log(workspace.root / LOG_NAME)]
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = out_dir / f"judicial-{judicial_uuid[:8]}.zip"
    with zipfile.ZipFile(path, "x", compression=zipfile.ZIP_STORED) as bundle:
        blobs: dict[str, bytes] = {
            LOG_NAME: (workspace.root / LOG_NAME).read_bytes(),
            WS_KEY: workspace.key.verify_key.pem().encode("ascii"),
        }
        for fingerprint in sorted(receipt_keys):
            if fingerprint not in trusted:
                raise WorkstationError(f"receipt key {fingerprint} is not trusted here")
            blobs[f"keys/receipt-key-{fingerprint[:16]}.pem"] = trusted[fingerprint].pem().encode()
        for name, source in members.items():
            blobs[name] = source.read_bytes()
        blobs.update(anchor_blobs)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "judicial_uuid": judicial_uuid,
            "title": title,
            "created_at": utc_stamp(),
            "created_by": workspace.actor,
            "workstation_key": workspace.key.fingerprint,
            "receipt_keys": sorted(receipt_keys),
            "items": items,
            CONSENT_KEY: court_consent,
        }
        pdf_path = out_dir / f".summary-{judicial_uuid}.pdf"
        render_summary(manifest, log, pdf_path)
        blobs["summary.pdf"] = pdf_path.read_bytes()
        pdf_path.unlink()
        manifest["files"] = {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in sorted(blobs.items())
        }
        raw = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
        for name, data in sorted(blobs.items()):
            bundle.writestr(name, data)
        bundle.writestr(MANIFEST, raw)
        bundle.writestr(SIGNATURE, base64.b64encode(workspace.key.sign(raw)))
    return path


def manifest_of(path: Path) -> dict[str, Any]:
    """A judicial file's manifest as written (not verified: `verify_judicial` does that)."""
    with zipfile.ZipFile(path) as bundle:
        return dict(json.loads(bundle.read(MANIFEST)))


@dataclass
class Verdict:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)

    def report(self) -> str:
        head = "VERIFIED" if self.ok else "NOT VERIFIED"
        lines = [f"VERDICT: {head}", *self.facts]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


def verify_judicial(
    path: Path,
    *,
    expect_workstation: str | None = None,
    expect_receipt_keys: Sequence[str] = (),
    expect_tsa_certificates: Sequence[str] = (),
) -> Verdict:
    """Check a judicial file with public keys only; every problem is named."""
    verdict = Verdict()
    try:
        bundle = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        verdict.fail(f"{path.name}: not a readable ZIP ({exc})")
        return verdict
    with bundle:
        try:
            names = set(bundle.namelist())
            if not {MANIFEST, SIGNATURE, WS_KEY} <= names:
                verdict.fail(f"{MANIFEST}, its signature or {WS_KEY} is missing")
                return verdict
            raw = bundle.read(MANIFEST)
            try:
                ws_key = VerifyKey.from_pem(bundle.read(WS_KEY))
                signature = base64.b64decode(bundle.read(SIGNATURE), validate=True)
            except (KeyOperationError, ValueError) as exc:
                verdict.fail(f"{WS_KEY} or {SIGNATURE} is unreadable: {exc}")
                return verdict
            verdict.facts.append(f"Workstation key: {ws_key.fingerprint}")
            if expect_workstation and not names_fingerprint(expect_workstation, ws_key.fingerprint):
                verdict.fail(f"{WS_KEY}: not the expected workstation key {expect_workstation}")
            # The signature first: nothing unsigned is even parsed.
            if not ws_key.verify(signature, raw):
                verdict.fail(f"{MANIFEST}: bad signature (edited, or signed by another key)")
                return verdict
            manifest = json.loads(raw)
            _check_files(bundle, manifest, names, verdict)
            receipt_keys = _receipt_keys(bundle, names, expect_receipt_keys, verdict)
            tsa = tsa_certificates(bundle, names, expect_tsa_certificates, verdict)
            log = _check_log(bundle, ws_key, verdict)
            for item in manifest.get("items", []):
                try:
                    _check_item(bundle, item, receipt_keys, log, verdict)
                    if item.get("segment") in names:
                        check_item_anchors(bundle, item, _segment(bundle, item), tsa, verdict)
                except (KeyError, TypeError, ValueError, ChainError, zipfile.BadZipFile) as exc:
                    verdict.fail(f"item {item.get('uuid')}: malformed, damaged or missing ({exc})")
            check_consent(manifest, receipt_keys, log, verdict)
        except zipfile.BadZipFile as exc:  # bytes changed inside the ZIP
            verdict.fail(f"{path.name}: damaged ({exc})")
            return verdict
    if verdict.ok:
        verdict.facts.append(f"{len(manifest['items'])} item(s), all checks passed.")
    return verdict


def _check_files(
    bundle: zipfile.ZipFile, manifest: dict[str, Any], names: set[str], verdict: Verdict
) -> None:
    listed = manifest.get("files", {})
    for name, expected in sorted(listed.items()):
        if name not in names:
            verdict.fail(f"{name}: listed in {MANIFEST} but missing")
            continue
        try:
            data = bundle.read(name)
        except zipfile.BadZipFile:
            verdict.fail(f"{name}: altered (its checksum inside the ZIP fails)")
            continue
        if hashlib.sha256(data).hexdigest() != expected["sha256"] or len(data) != expected["size"]:
            verdict.fail(f"{name}: its SHA-256 does not match {MANIFEST} (altered)")
    for name in sorted(names - set(listed) - {MANIFEST, SIGNATURE}):
        verdict.fail(f"{name}: not listed in {MANIFEST}")


def _receipt_keys(
    bundle: zipfile.ZipFile, names: set[str], expected: Sequence[str], verdict: Verdict
) -> list[VerifyKey]:
    keys = []
    for name in sorted(n for n in names if n.startswith("keys/receipt-key-")):
        try:
            key = VerifyKey.from_pem(bundle.read(name))
        except KeyOperationError as exc:
            verdict.fail(f"{name}: {exc}")
            continue
        if expected and not any(names_fingerprint(e, key.fingerprint) for e in expected):
            verdict.fail(f"{name}: not an expected receipt key ({key.fingerprint})")
            continue
        verdict.facts.append(f"Server receipt key: {key.fingerprint}")
        keys.append(key)
    return keys


def _check_log(bundle: zipfile.ZipFile, key: VerifyKey, verdict: Verdict) -> list[SignedRecord]:
    lines = bundle.read(LOG_NAME).decode("utf-8", "replace").splitlines()
    try:
        records = [
            SignedRecord.from_json(line, f"{LOG_NAME} line {n}") for n, line in enumerate(lines, 1)
        ]
        verify_chain(records, [key], LOG_NAME, start_prev="0" * 64)
    except ChainError as exc:
        verdict.fail(str(exc))
        return []
    return records


def _segment(bundle: zipfile.ZipFile, item: dict[str, Any]) -> list[SignedRecord]:
    lines = bundle.read(item["segment"]).decode("utf-8").splitlines()
    return [SignedRecord.from_json(line, item["segment"]) for line in lines]


def _check_item(
    bundle: zipfile.ZipFile,
    item: dict[str, Any],
    keys: list[VerifyKey],
    log: list[SignedRecord],
    verdict: Verdict,
) -> None:
    label = f"item {item.get('uuid')}"
    receipt = SignedRecord(item["receipt"]["body"], item["receipt"]["sig"])
    body = receipt.body
    try:
        segment = [
            SignedRecord.from_json(line, item["segment"])
            for line in bundle.read(item["segment"]).decode("utf-8").splitlines()
        ]
        verify_chain(segment, keys, item["segment"])
        verify_chain([receipt], keys, f"{label} receipt")
    except (ChainError, KeyError) as exc:
        verdict.fail(f"{label}: {exc}")
        return
    if receipt.hash not in {r.hash for r in segment}:
        verdict.fail(f"{label}: its receipt is not in the chain segment {item['segment']}")
    ciphertext = bundle.read(item["ciphertext"])
    if hashlib.sha256(ciphertext).hexdigest() != body["sha256"] or len(ciphertext) != body["size"]:
        verdict.fail(f"{item['ciphertext']}: not the ciphertext the server received (receipt)")
    if item.get("sealed_manifest"):
        sealed = bundle.read(item["sealed_manifest"])
        if hashlib.sha256(sealed).hexdigest() != body.get("manifest_sha256"):
            verdict.fail(f"{item['sealed_manifest']}: not the manifest sealed on receipt")
    original = item["original"]
    if hashlib.sha256(bundle.read(original["path"])).hexdigest() != original["sha256"]:
        verdict.fail(f"{original['path']}: not the file decrypted on the workstation")
    imported = decrypted = False
    for record in log:
        details = record.body.get("details", {})
        if details.get("item") != item["uuid"]:
            continue
        if record.body.get("action") == "imported" and details.get("receipt_hash") == receipt.hash:
            imported = True
        if record.body.get("action") == "decrypted" and details.get("sha256") == original["sha256"]:
            decrypted = True
    if not imported:
        verdict.fail(f"{label}: the custody log has no import of this receipt")
    if not decrypted:
        verdict.fail(f"{original['path']}: the custody log records no decryption to this hash")
    sealed_manifest = bundle.read(item["sealed_manifest"]) if item.get("sealed_manifest") else None
    plain = check_plaintext(item, ciphertext, sealed_manifest)
    if plain.problem is not None:
        verdict.fail(plain.problem)
    elif plain.skipped:
        verdict.facts.append(f"{label}: plaintext not re-derived (no session key, or no gpg)")
    else:
        verdict.facts.append(
            f"{label}: the original is the plaintext of the ciphertext received (gpg, session key)"
        )
    if verdict.ok:
        verdict.facts.append(
            f"{label}: received {body['received_at']} (receipt {body['seq']}), "
            f"original {original['name']} SHA-256 {original['sha256']}"
        )
