"""Custody receipts: every submission, message and reply gets a signed, chained receipt.

A receipt states ciphertext facts only: what kind of object, its uuid and stored name,
when it was received (UTC), its size and SHA-256 as stored, which submission key it was
sealed to, and, for what a source sent, the SHA-256 of its sealed manifest. The
manifest itself (original name, media type, plaintext size and SHA-256) is sealed to the
submission key, so the plaintext hash is provable after decryption yet never visible on
the server.

Receipts are appended in the same transaction as the row they describe: a submission is
never stored without its receipt, and a receipt never describes something that was
rolled back. Appends are serialised so concurrent submissions cannot fork the chain, by
the primitive the audit log appends with too (`vault.chain`). The unique `seq` is the backstop:
a fork would fail to commit rather than be stored.

The runtime binds the receipt key to every session it makes (`bind_signer`), so no code
path can store a submission without signing its receipt: `append` refuses without one.
The same binding is a safety net: a Submission or Reply inserted by code that did not
call `append` (a new feature, an API) gets a receipt at commit all the same, without a
sealed manifest and with `sealed_to` empty (not known here), rather than none.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid as uuidlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from vault import chain
from vault.db import utcnow
from vault.errors import ChainError, ConfigError
from vault.models import CustodyReceipt, Reply, Submission
from vault.ports import GENESIS, KEY_ROTATION, ChainVerifier, ReceiptSigner

__all__ = [
    "RECEIPT_VERSION",
    "Manifest",
    "ReceiptRecord",
    "append",
    "bind_signer",
    "chain_segment",
    "receipt_code",
    "receipts_for",
    "rotate_receipt_key",
    "signer_of",
    "to_record",
    "verify_log",
]

RECEIPT_VERSION = 1
_SIGNER_INFO = "custody.receipt_signer"
_INSERTED = "custody.inserted"  # Submission/Reply rows inserted in this transaction
_RECEIPTED = "custody.receipted"  # uuids that got a receipt in this transaction


@dataclass(frozen=True)
class Manifest:
    """What only the submission key's holder may learn: sealed, never stored in clear."""

    filename: str | None
    media_type: str
    size: int
    sha256: str

    def to_bytes(self) -> bytes:
        return json.dumps({"v": 1, **asdict(self)}, sort_keys=True).encode("utf-8")

    @classmethod
    def for_bytes(cls, data: bytes, media_type: str, filename: str | None = None) -> Manifest:
        return cls(filename, media_type, len(data), hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class ReceiptRecord:
    """A stored receipt as a signed record: its body and signature (base64)."""

    body: Mapping[str, Any]
    signature: str

    def to_json(self) -> str:
        """One line of a receipts file, as `keys.receipts.SignedRecord.from_json` reads it."""
        return json.dumps({"body": self.body, "sig": self.signature}, sort_keys=True)


def bind_signer(factory: sessionmaker[Session], key: ReceiptSigner) -> None:
    """Every session `factory` makes from now on signs receipts with `key`, and receipts
    whatever Submission or Reply it commits."""
    factory.configure(info={_SIGNER_INFO: key})
    event.listen(factory, "after_flush", _track_inserted)
    event.listen(factory, "before_commit", _receipt_the_rest)
    event.listen(factory, "after_commit", _forget)
    event.listen(factory, "after_soft_rollback", _forget_on_rollback)


def _track_inserted(db: Session, _context: Any) -> None:
    inserted = db.info.setdefault(_INSERTED, [])
    inserted += [obj for obj in db.new if isinstance(obj, Submission | Reply)]


def _receipt_the_rest(db: Session) -> None:
    db.flush()  # rows added since the last flush are tracked too
    receipted = db.info.get(_RECEIPTED, set())
    for obj in list(db.info.get(_INSERTED, [])):
        if obj.uuid in receipted or obj not in db:
            continue
        kind = obj.kind.value if isinstance(obj, Submission) else "reply"
        append(
            db,
            kind=kind,
            object_uuid=obj.uuid,
            filename=obj.filename,
            size=obj.size,
            sha256=obj.sha256,
            sealed_to=[],
        )


def _forget(db: Session) -> None:
    db.info.pop(_INSERTED, None)
    db.info.pop(_RECEIPTED, None)


def _forget_on_rollback(db: Session, _previous: Any) -> None:
    _forget(db)


def signer_of(db: Session) -> ReceiptSigner:
    key = db.info.get(_SIGNER_INFO)
    if not isinstance(key, ReceiptSigner):
        raise ConfigError("no receipt key bound to this session: refusing to store unreceipted")
    return key


def append(
    db: Session,
    *,
    kind: str,
    object_uuid: str,
    filename: str,
    size: int,
    sha256: str,
    sealed_to: Sequence[str],
    sealed_manifest: bytes | None = None,
    extra: Mapping[str, object] | None = None,
) -> CustodyReceipt:
    """Sign and add the next receipt of the chain to `db` (the caller commits)."""
    key = signer_of(db)

    def sign(head: chain.Head) -> CustodyReceipt:
        body: dict[str, object] = {
            "v": RECEIPT_VERSION,
            "seq": head.seq,
            "prev": head.prev,
            "kind": kind,
            "uuid": object_uuid,
            "filename": filename,
            "received_at": utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "size": size,
            "sha256": sha256,
            "sealed_to": sorted(sealed_to),
            "key": key.fingerprint,
        }
        if sealed_manifest is not None:
            body["manifest_sha256"] = hashlib.sha256(sealed_manifest).hexdigest()
        body.update(extra or {})
        record = key.sign_record(body)
        return CustodyReceipt(
            seq=head.seq,
            kind=kind,
            object_uuid=object_uuid,
            body=json.dumps(record.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
            signature=record.signature,
            hash=record.hash,
            sealed_manifest=sealed_manifest,
        )

    row = chain.append(db, CustodyReceipt, sign, first_seq=0)
    db.flush()
    db.info.setdefault(_RECEIPTED, set()).add(object_uuid)
    return row


def append_reply(db: Session, reply: Reply, sealed_to: Sequence[str]) -> CustodyReceipt:
    """The receipt of a stored reply (flushed, so it has its uuid); the caller commits."""
    return append(
        db,
        kind="reply",
        object_uuid=reply.uuid,
        filename=reply.filename,
        size=reply.size,
        sha256=reply.sha256,
        sealed_to=sealed_to,
    )


def to_record(row: CustodyReceipt) -> ReceiptRecord:
    return ReceiptRecord(json.loads(row.body), row.signature)


def receipt_code(receipt_hash: str) -> str:
    """A short code a source can note and check later: 60 bits of the receipt's hash."""
    raw = base64.b32encode(bytes.fromhex(receipt_hash)).decode("ascii")[:12]
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def receipts_for(db: Session, object_uuids: Iterable[str]) -> list[CustodyReceipt]:
    wanted = list(object_uuids)
    if not wanted:
        return []
    return list(
        db.scalars(
            select(CustodyReceipt)
            .where(CustodyReceipt.object_uuid.in_(wanted))
            .order_by(CustodyReceipt.seq)
        )
    )


def chain_segment(db: Session, first_seq: int, last_seq: int) -> list[CustodyReceipt]:
    """The contiguous receipts first_seq..last_seq: what a verifier needs to see no gap."""
    return list(
        db.scalars(
            select(CustodyReceipt)
            .where(CustodyReceipt.seq >= first_seq, CustodyReceipt.seq <= last_seq)
            .order_by(CustodyReceipt.seq)
        )
    )


def verify_log(db: Session, keys: ChainVerifier) -> int:
    """Verify the whole server chain from its first receipt; returns how many verified.

    `keys`: the trusted receipt public keys (`keys.receipts.TrustedKeys`).
    Raises ChainError naming the first receipt that is missing, out of order, edited or
    signed by a key not in `keys`.
    """
    rows = list(db.scalars(select(CustodyReceipt).order_by(CustodyReceipt.seq)))
    records = [to_record(row) for row in rows]
    hashes = keys.verify(
        [(record.body, record.signature) for record in records],
        "server custody log",
        start_prev=GENESIS,
    )
    for row, record, record_hash in zip(rows, records, hashes, strict=True):
        if row.seq != record.body["seq"] or row.hash != record_hash:
            raise ChainError(f"server custody log seq {row.seq}: columns disagree with body")
        if row.sealed_manifest is not None and record.body.get("manifest_sha256") != (
            hashlib.sha256(row.sealed_manifest).hexdigest()
        ):
            raise ChainError(f"server custody log seq {row.seq}: sealed manifest altered")
    return len(records)


def rotate_receipt_key(db: Session, new_key: ReceiptSigner) -> CustodyReceipt:
    """Hand the chain over to `new_key`: a receipt signed by the current key naming it.

    The caller commits, then installs the new key and restarts every process: a process
    still signing with the old key after the handover produces receipts no verifier
    accepts.
    """
    return append(
        db,
        kind=KEY_ROTATION,
        object_uuid=str(uuidlib.uuid4()),
        filename="",
        size=0,
        sha256="",
        sealed_to=[],
        extra={"new_key": new_key.fingerprint, "new_key_pem": new_key.verify_key.pem()},
    )
