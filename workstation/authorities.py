"""Authorities a judicial file may be sent to, and sealing a judicial file to one.

The register lives where judicial files are built: in the workspace, on the air-gapped
workstation. The server never learns which authority a case went to.

- **Register.** An authority is a name, a jurisdiction and an OpenPGP public key. The
  admin types the *whole* fingerprint the authority gave out of band (in person, on
  letterhead); the key is imported only if it is exactly one public key with that
  fingerprint and can encrypt. Its key goes into the workspace's private keyring
  (`authorities/gnupg`), its name and jurisdiction into the custody log
  (`authority-registered`, `authority-removed`): the register is read back from the
  signed log, so an edit of it breaks the log's signatures like any other.
- **Seal.** `seal_judicial` encrypts a judicial file built in this workspace to one
  authority's key, and to nothing else. Before that it verifies the file (public keys
  only, as the authority will) and checks again that every source of its items still
  consents to use in court: a consent withdrawn since the file was built stops it.
  The custody log records what was sent (the judicial file's id and SHA-256, its items,
  the sealed file's SHA-256), when (the entry's time), by whom (the actor) and to whom
  (the authority's fingerprint, name and jurisdiction).
- **The authority's side.** It decrypts with its own secret key (`gpg -d`), then checks
  the judicial file with public keys only: `backupctl custody verify` (or any Ed25519
  library, see docs/workstation.md) against the workstation and receipt key
  fingerprints WWoW publishes.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keys.gpg import GpgKeyring
from workstation.consent import require_consent
from workstation.custody_log import LOG_NAME, Workspace, read_log
from workstation.errors import WorkstationError
from workstation.judicial import MANIFEST, verify_judicial
from workstation.prefixes import MIN_FINGERPRINT_CHECK, normalise_fingerprint, resolve_prefix

__all__ = [
    "Authority",
    "AuthorityRefusedError",
    "Sent",
    "add_authority",
    "register",
    "remove_authority",
    "resolve_authority",
    "seal_judicial",
]

KEYRING_DIR = "authorities/gnupg"
TEXT_MAX = 200
_FULL_LENGTHS = (40, 64)  # OpenPGP v4 and v5 fingerprints, in hex
_HEX = set("0123456789ABCDEF")
_UNUSABLE = {"r", "e", "i", "d"}  # gpg validity: revoked, expired, invalid, disabled


class AuthorityRefusedError(WorkstationError):
    """An authority's key or a sealing was refused; nothing was registered or sealed."""


@dataclass(frozen=True)
class Authority:
    fingerprint: str
    name: str
    jurisdiction: str
    registered_at: str
    registered_by: str


@dataclass(frozen=True)
class Sent:
    path: Path
    authority: Authority
    judicial_uuid: str
    judicial_sha256: str
    sealed_sha256: str


def _keyring(workspace: Workspace) -> GpgKeyring:
    # server=False: a workstation home; only public keys ever go into it.
    return GpgKeyring(workspace.root / KEYRING_DIR, server=False)


def register(workspace: Workspace) -> dict[str, Authority]:
    """The authorities registered and not removed, by fingerprint, from the signed log."""
    found: dict[str, Authority] = {}
    for record in read_log(workspace.root / LOG_NAME):
        body = record.body
        details = body.get("details", {})
        if body.get("action") == "authority-registered":
            found[str(details["fingerprint"])] = Authority(
                str(details["fingerprint"]),
                str(details["name"]),
                str(details["jurisdiction"]),
                str(body["at"]),
                str(body["actor"]),
            )
        elif body.get("action") == "authority-removed":
            found.pop(str(details["fingerprint"]), None)
    return found


def _line(value: str, what: str) -> str:
    value = " ".join(value.split())
    if not value or len(value) > TEXT_MAX:
        raise AuthorityRefusedError(f"give the authority's {what} (1 to {TEXT_MAX} characters)")
    return value


def _whole_fingerprint(typed: str) -> str:
    expected = normalise_fingerprint(typed)
    if len(expected) not in _FULL_LENGTHS or not set(expected) <= _HEX:
        raise AuthorityRefusedError(
            f"{typed}: give the key's whole fingerprint (40 hexadecimal characters), as the "
            "authority gave it to you"
        )
    return expected


def add_authority(
    workspace: Workspace, key_data: bytes, fingerprint: str, name: str, jurisdiction: str
) -> Authority:
    """Register an authority if `key_data` is exactly one public key, able to encrypt,
    whose fingerprint is the whole `fingerprint` typed by the admin."""
    expected = _whole_fingerprint(fingerprint)
    name, jurisdiction = _line(name, "name"), _line(jurisdiction, "jurisdiction")
    if b"PRIVATE KEY BLOCK" in key_data:
        raise AuthorityRefusedError("this file holds a secret key: ask for the public key only")
    if expected in register(workspace):
        raise AuthorityRefusedError(f"{expected}: already registered")
    keyring = _keyring(workspace)
    scanned = list(keyring.gpg.scan_keys_mem(key_data))
    if len(scanned) != 1 or scanned[0].get("type") != "pub":
        raise AuthorityRefusedError(
            f"expected exactly one OpenPGP public key in the file, found {len(scanned)}"
        )
    key: dict[str, Any] = scanned[0]
    actual = str(key.get("fingerprint", "")).upper()
    if actual != expected:
        raise AuthorityRefusedError(
            f"the key's fingerprint is {actual}, not the one given ({expected}): not registered"
        )
    if "E" not in str(key.get("cap", "")) or str(key.get("trust", "")) in _UNUSABLE:
        raise AuthorityRefusedError(f"{actual}: revoked, expired, or cannot encrypt")
    imported = keyring.import_keys(key_data)
    if imported != [expected]:
        raise AuthorityRefusedError(f"gpg imported {imported}, not {expected}")
    workspace.log.append(
        "authority-registered",
        {"fingerprint": expected, "name": name, "jurisdiction": jurisdiction},
    )
    return register(workspace)[expected]


def resolve_authority(workspace: Workspace, typed: str) -> Authority:
    """The registered authority whose fingerprint starts with `typed` (16+ characters)."""
    known = register(workspace)
    described = {fpr.lower(): f"{a.name} ({a.jurisdiction})" for fpr, a in known.items()}
    chosen = resolve_prefix(
        normalise_fingerprint(typed),
        described,
        what="registered authority",
        minimum=MIN_FINGERPRINT_CHECK,
    )
    return known[chosen.upper()]


def remove_authority(workspace: Workspace, typed: str) -> Authority:
    """Remove an authority from the register (logged) and its key from the keyring."""
    authority = resolve_authority(workspace, typed)
    _keyring(workspace).delete_key(authority.fingerprint)
    workspace.log.append("authority-removed", {"fingerprint": authority.fingerprint})
    return authority


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _built_here(workspace: Workspace, judicial_uuid: str) -> bool:
    return any(
        r.body.get("action") == "judicial-file"
        and r.body.get("details", {}).get("judicial_uuid") == judicial_uuid
        for r in read_log(workspace.root / LOG_NAME)
    )


def seal_judicial(
    workspace: Workspace, judicial: Path, authority_typed: str, out_dir: Path | None = None
) -> Sent:
    """Seal a judicial file built here to one registered authority; logged.

    Refused (nothing written) unless the file verifies against this workspace's key, was
    built here, and every source of its items still consents to use in court
    (ConsentRefusedError, logged by `require_consent`).
    """
    authority = resolve_authority(workspace, authority_typed)
    verdict = verify_judicial(judicial, expect_workstation=workspace.key.fingerprint)
    if not verdict.ok:
        raise AuthorityRefusedError(
            "REFUSED: the judicial file does not verify:\n"
            + "\n".join(f"  - {p}" for p in verdict.problems)
        )
    with zipfile.ZipFile(judicial) as bundle:
        manifest = json.loads(bundle.read(MANIFEST))
    judicial_uuid = str(manifest["judicial_uuid"])
    items = [str(item["uuid"]) for item in manifest["items"]]
    if not _built_here(workspace, judicial_uuid):
        raise AuthorityRefusedError(f"{judicial.name}: not built in this workspace")
    require_consent(workspace, items, "court")
    target_dir = out_dir or workspace.dir("judicial")
    target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = target_dir / f"{judicial.name}.{authority.fingerprint[:16]}.gpg"
    if target.exists():
        raise AuthorityRefusedError(f"{target}: already exists")
    keyring = _keyring(workspace)
    result = keyring.gpg.encrypt_file(
        str(judicial), [authority.fingerprint], always_trust=True, armor=False, output=str(target)
    )
    # Addressed to the authority's key and to nothing else (no default recipient).
    recipients = {str(k).upper() for k in keyring.gpg.get_recipients_file(str(target))}
    if not result.ok or not recipients or not recipients <= keyring.key_ids(authority.fingerprint):
        target.unlink(missing_ok=True)
        raise AuthorityRefusedError(f"sealing failed: {result.status}")
    sent = Sent(target, authority, judicial_uuid, _sha256(judicial), _sha256(target))
    workspace.log.append(
        "judicial-sent",
        {
            "judicial_uuid": judicial_uuid,
            "judicial_sha256": sent.judicial_sha256,
            "items": items,
            "sealed_sha256": sent.sealed_sha256,
            "authority": authority.fingerprint,
            "authority_name": authority.name,
            "jurisdiction": authority.jurisdiction,
        },
    )
    return sent
