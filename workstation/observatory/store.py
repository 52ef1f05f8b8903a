"""Where coded incidents live: one sealed file in the workspace, its history in the
custody log.

    incidents/store.<generation>.gpg   every record, JSON, OpenPGP-encrypted (real gpg)
                                       to the submission keys the workstation holds
    incidents/.lock                    one command at a time

Sealed to **every submission key in force** in the workstation's GnuPG home
(`seal_recipients`: each secret key that can still encrypt, i.e. neither revoked nor
expired). The workstation keeps every submission secret key it ever had (items sealed
to an older key must still open: docs/workstation.md, "Key rotation"), so after a
routine rotation the store opens with the new key's passphrase or the old one's; a key
revoked because it may have leaked drops out of the set. A generation records the
fingerprints it was sealed to (`sealed_to`, in the custody log); `IncidentBook.reseal`
(`backupctl workstation incident reseal`) seals the store, and the release ledger, to
the current set after a rotation or a revocation, as a new generation, logged
(`store-resealed`), and `IncidentBook.seal_outdated` says when that is due.

Each change writes a new generation, then appends one custody-log entry per record it
touched: `{record, revision, fields, store: {generation, sha256, sealed_to}}` (plus the
item ids a record was coded from, and the group for a link). Field *names* only, never values: the
log goes into every judicial file, and even a coded place or act of one case must not
reach the court of another. The hash is of the ciphertext, not of the record: a record
is a few choices from small vocabularies, so a hash of its plaintext could be guessed
back. Opening checks that the newest generation on disk is exactly the one the signed
log names, so a store replaced by anyone holding the (public) submission key, or an
older copy put back, is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess  # nosec B404
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keys.gpg import GpgKeyring
from workstation.custody_log import LOG_NAME, Workspace, read_log, utc_stamp
from workstation.errors import DecryptFailedError, WorkstationError
from workstation.observatory.model import IncidentInvalidError, IncidentRecord

__all__ = [
    "INCIDENTS_DIR",
    "IncidentBook",
    "IncidentStoreError",
    "open_book",
    "seal_recipient",
    "seal_recipients",
]

INCIDENTS_DIR = "incidents"
FORMAT = "backup-incidents/1"
_STORE = re.compile(r"^store\.(?P<generation>[0-9]{1,9})\.gpg$")
_CHUNK = 1024 * 1024
_MAX_STORE = 1024 * 1024 * 1024  # 1 GiB of JSON: millions of records
_ACTIONS = (
    "incident-coded",
    "incident-edited",
    "incident-linked",
    "incident-unlinked",
    "store-resealed",
)
# A secret key's validity letters (gpg --with-colons) that rule it out: revoked,
# expired, invalid, disabled.
_NOT_IN_FORCE = frozenset("reid")


class IncidentStoreError(WorkstationError):
    """The sealed incident store is missing, altered, or a record cannot be found."""


def seal_recipients(keyring: GpgKeyring) -> list[str]:
    """Every submission key in force in the workstation's GnuPG home, newest first: each
    secret key that can still encrypt (not revoked, not expired). The store and the
    release ledger are sealed to all of them (see the module's docstring)."""
    keys = keyring.gpg.list_keys(secret=True)
    if not keys:
        raise IncidentStoreError("no secret key in this GnuPG home: give the workstation's")
    usable = [
        k
        for k in keys
        if "E" in str(k.get("cap") or "") and str(k.get("trust") or "") not in _NOT_IN_FORCE
    ]
    if not usable:
        raise IncidentStoreError(
            "no secret key in this GnuPG home can encrypt (all revoked or expired): "
            "generate the new submission key first"
        )
    usable.sort(key=lambda k: (int(k.get("date") or 0), str(k["fingerprint"])), reverse=True)
    return [str(k["fingerprint"]).upper() for k in usable]


def seal_recipient(keyring: GpgKeyring) -> str:
    """The newest submission key in force: the one a release is signed with by default."""
    return seal_recipients(keyring)[0]


def _logged_state(workspace: Workspace) -> dict[str, Any] | None:
    state = None
    for record in read_log(workspace.root / LOG_NAME):
        if record.body.get("action") in _ACTIONS:
            state = dict(record.body["details"]["store"])
    return state


@dataclass
class IncidentBook:
    """Every record of a workspace, opened; changes are sealed by `commit`."""

    workspace: Workspace
    keyring: GpgKeyring
    generation: int
    records: dict[str, IncidentRecord]
    # The keys the current generation is sealed to, as logged (None: not recorded).
    sealed_to: list[str] | None = None
    _pending: list[tuple[str, IncidentRecord, dict[str, Any]]] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.workspace.root / INCIDENTS_DIR

    def find(self, ref: str) -> IncidentRecord:
        """A record by id or by an unambiguous prefix of at least 8 characters."""
        ref = ref.strip().lower()
        if ref in self.records:
            return self.records[ref]
        found = [r for rid, r in self.records.items() if len(ref) >= 8 and rid.startswith(ref)]
        if len(found) != 1:
            what = "no record" if not found else "several records"
            raise IncidentStoreError(f"{ref}: {what} with this id in the workspace")
        return found[0]

    def group_of(self, record: IncidentRecord) -> list[IncidentRecord]:
        return sorted(
            (r for r in self.records.values() if r.group == record.group),
            key=lambda r: (r.coded_at, r.id),
        )

    # -- changes ---------------------------------------------------------------------
    def add(self, record: IncidentRecord) -> IncidentRecord:
        if record.id in self.records:
            raise IncidentStoreError(f"{record.id}: already coded")
        record = replace(record, revision=1, coded_by=self.workspace.actor, coded_at=utc_stamp())
        record = replace(record, updated_at=record.coded_at)
        self.records[record.id] = record
        details = {"items": [s.item for s in record.sources], "fields": ["all"]}
        self._pending.append(("incident-coded", record, details))
        return record

    def update(self, new: IncidentRecord, action: str = "incident-edited", **extra: Any) -> bool:
        """Replace a record by its edited version; False (and nothing logged) if nothing
        changed."""
        old = self.records[new.id]
        changed = old.changed_fields(new)
        if not changed:
            return False
        new = replace(new, revision=old.revision + 1, updated_at=utc_stamp())
        self.records[new.id] = IncidentRecord.build(**new.values())
        details: dict[str, Any] = {"fields": changed, **extra}
        if "sources" in changed:
            details["items"] = [s.item for s in new.sources]
        self._pending.append((action, new, details))
        return True

    def link(self, first: IncidentRecord, second: IncidentRecord) -> list[IncidentRecord]:
        """Make the groups of two records one incident; returns the records moved."""
        if first.group == second.group:
            return []
        members = self.group_of(first) + self.group_of(second)
        root = min(members, key=lambda r: (r.coded_at, r.id))
        moved = []
        for member in members:
            if member.group != root.group:
                other = first if member.group == second.group else second
                self.update(
                    replace(member, group=root.group),
                    "incident-linked",
                    group=root.group,
                    linked_with=other.id,
                )
                moved.append(self.records[member.id])
        return moved

    def unlink(self, record: IncidentRecord) -> bool:
        """Take a record out of its group (it is its own incident again)."""
        rest = [r for r in self.group_of(record) if r.id != record.id]
        if not rest:
            return False
        new_root = rest[0].id
        if record.group != record.id:
            self.update(replace(record, group=record.id), "incident-unlinked", group=record.id)
        else:
            # The group was named after this record, which keeps the name: the others
            # move to a group of their own (each entry says whose unlinking moved it).
            for member in rest:
                self.update(
                    replace(member, group=new_root),
                    "incident-unlinked",
                    group=new_root,
                    unlinked=record.id,
                )
        return True

    def seal_outdated(self) -> tuple[list[str] | None, list[str]]:
        """(the keys the current generation is sealed to, None if not recorded; the
        keys in force now) when they differ, so that `reseal` is due; else ([], [])."""
        current = seal_recipients(self.keyring)
        if self.generation == 0 or self.sealed_to == sorted(current):
            return [], []
        return self.sealed_to, current

    def reseal(self) -> list[str]:
        """Seal the records, unchanged, to every key in force as a new generation, logged
        (`store-resealed`, with the keys); returns the keys. After a rotation."""
        recipients = seal_recipients(self.keyring)
        state = self._seal(recipients)
        self.workspace.log.append("store-resealed", {"records": len(self.records), "store": state})
        self._logged(state)
        return recipients

    def commit(self) -> int:
        """Seal every record as the next generation, log each change; returns how many
        changes were logged (0: nothing written)."""
        if not self._pending:
            return 0
        state = self._seal(seal_recipients(self.keyring))
        for action, record, details in self._pending:
            self.workspace.log.append(
                action,
                {
                    "record": record.id,
                    "revision": record.revision,
                    **details,
                    "store": state,
                },
            )
        count = len(self._pending)
        self._pending.clear()
        self._logged(state)
        return count

    def _seal(self, recipients: list[str]) -> dict[str, Any]:
        """Write the next generation sealed to `recipients`; returns its state for the
        log. Until the log names it, the generation does not count (`open_book` forgets
        it) and the previous one stays."""
        generation = self.generation + 1
        payload = {
            "format": FORMAT,
            "generation": generation,
            "records": [r.to_dict() for r in sorted(self.records.values(), key=lambda r: r.id)],
        }
        data = json.dumps(payload, sort_keys=True).encode("utf-8")
        path = self.directory / f"store.{generation}.gpg"
        # Straight into gpg's stdin in large writes, the ciphertext hashed and fsynced on
        # its way to a file created exclusively (keys.gpg.GpgStream); never a clear copy.
        stream = self.keyring.seal_stream(recipients, path)
        try:
            for start in range(0, len(data), _CHUNK):
                stream.write(data[start : start + _CHUNK])
        except BaseException:
            stream.abort()
            raise
        stream.close()
        os.chmod(path, 0o600)
        return {"generation": generation, "sha256": stream.sha256, "sealed_to": sorted(recipients)}

    def _logged(self, state: dict[str, Any]) -> None:
        """The generation the log now names is the store: the older ones go."""
        self.generation = int(state["generation"])
        self.sealed_to = list(state["sealed_to"])
        for old in self.directory.glob("store.*.gpg"):
            match = _STORE.match(old.name)
            if match and int(match["generation"]) != self.generation:
                old.unlink()


def _open_store(keyring: GpgKeyring, path: Path, passphrases: Sequence[str]) -> bytes:
    """The store's plaintext, in memory only. gpg reads the file itself and writes to a
    pipe read in large blocks (python-gnupg's 1 KiB copying threads took most of the
    time for a store of 100,000 records); `--max-output` bounds what it may write."""
    for passphrase in passphrases:
        result = subprocess.run(  # nosec B603 B607
            [
                keyring.binary,
                "--homedir",
                str(keyring.home),
                "--batch",
                "--no-tty",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase-fd",
                "0",
                "--max-output",
                str(_MAX_STORE),
                "--decrypt",
                str(path),
            ],
            input=passphrase.encode("utf-8"),
            capture_output=True,
            check=False,
        )
        if result.returncode == 0:
            return result.stdout
        if b"exceeded --max-output limit" in result.stderr:
            raise IncidentStoreError(f"{path.name}: larger than any incident store")
    raise DecryptFailedError(
        f"{INCIDENTS_DIR}/{path.name}: no submission key passphrase given opens it"
    )


@contextmanager
def open_book(
    workspace: Workspace, gnupg_home: Path, passphrases: Sequence[str]
) -> Iterator[IncidentBook]:
    """The workspace's incident records, locked for this command; `commit` to keep changes
    (uncommitted ones are dropped)."""
    directory = workspace.root / INCIDENTS_DIR
    directory.mkdir(mode=0o700, exist_ok=True)
    keyring = GpgKeyring(gnupg_home, server=False)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _logged_state(workspace)
        records: dict[str, IncidentRecord] = {}
        generation = 0 if state is None else int(state["generation"])
        for path in directory.glob("store.*.gpg"):
            match = _STORE.match(path.name)
            if match and int(match["generation"]) > generation:
                path.unlink()  # sealed, but never logged: a write that was interrupted
        if state is not None:
            path = directory / f"store.{generation}.gpg"
            if not path.exists():
                raise IncidentStoreError(
                    f"{INCIDENTS_DIR}/{path.name}: missing (the custody log names it): "
                    "restore it from the workstation's backup"
                )
            if hashlib.sha256(path.read_bytes()).hexdigest() != state["sha256"]:
                raise IncidentStoreError(
                    f"{INCIDENTS_DIR}/{path.name}: not the store the custody log names "
                    "(replaced or altered): refusing to use it"
                )
            try:
                payload = json.loads(_open_store(keyring, path, passphrases))
                if payload.get("format") != FORMAT or payload.get("generation") != generation:
                    raise ValueError("format")
                for data in payload["records"]:
                    # Unchecked: the hash above proves this is what `commit` sealed, and
                    # only checked records are ever sealed.
                    record = IncidentRecord.from_dict(data, check=False)
                    records[record.id] = record
            except (ValueError, KeyError, TypeError, IncidentInvalidError) as exc:
                raise IncidentStoreError(f"{INCIDENTS_DIR}/{path.name}: unreadable") from exc
        sealed_to = None if state is None else state.get("sealed_to")
        yield IncidentBook(workspace, keyring, generation, records, sealed_to)
