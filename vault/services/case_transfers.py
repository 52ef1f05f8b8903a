"""A referred case transferred to a partner organisation's instance, with the survivor's
consent for referral and custody on both sides (docs/federation.md, "Transferring a
case").

Sending, in three steps (the server never holds a key that opens an item):
1. `transfer_request`: every source of the case must have a recorded consent that says
   yes to referral (`refer_partner`; refused and audited otherwise). The request holds
   the case's messages and files as stored (ciphertext to our submission key), each
   with its sealed manifest and its custody receipt, and the peer's submission key.
2. The air-gapped workstation re-seals each item to the peer's key and signs the
   package (workstation.transfer).
3. `check_outgoing` (consent again, the package signed by our submission key, for this
   peer's key, listing exactly receipts of this case's items), then the envelope, then
   `record_transferred`: one custody receipt of kind "transferred" per item (the new
   ciphertext's hash, the peer, the transfer, the hash of the item's own receipt), the
   `case_transfers` row and the audit event, in the caller's transaction.

Receiving (`receive_transfer`, the `case_transfer` envelope's handler): the package's
signature by the peer's pinned submission key, addressed to our submission key, every
item as the package states it (a changed one refuses the whole transfer), not here
already; then a new source per source of theirs, its items stored as they came (sealed
to our key by their workstation), each with a custody receipt naming the transfer, the
peer and the hash of the sender's receipt, and a new case holding them.
"""

from __future__ import annotations

import base64
import secrets
import uuid as uuidlib
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault import codenames
from vault.errors import NotFoundError, VaultError
from vault.models import (
    Case,
    CaseTransfer,
    CustodyReceipt,
    FederationPeer,
    Source,
    Submission,
    SubmissionKind,
)
from vault.services import audit, cases, consents, custody, unread
from vault.store import Store
from vault.transaction import savepoint
from vault.transfer_package import (
    MAX_TRANSFER_BYTES,
    REQUEST_SCHEMA,
    VERSION,
    TransferError,
    check_items,
    parse_body,
    parse_document,
)

__all__ = [
    "RECEIVED_LABEL",
    "TransferRefusedError",
    "case_by_ref",
    "check_outgoing",
    "receive_transfer",
    "record_transferred",
    "transfer_request",
]

REFERRAL_PURPOSE = "refer_partner"
TRANSFERRED = "transferred"  # the custody receipt's kind for an item that left
RECEIVED_LABEL = "transferred"
# verify(data, signature, armored public key) -> the signing key's fingerprint, or raises
Verify = Callable[[bytes, bytes, str], str]


class TransferRefusedError(VaultError):
    """The transfer cannot go (or be taken in) as it is; nothing was recorded but the
    audited refusal."""


def case_by_ref(db: Session, ref: str) -> Case:
    """A case by its uuid or its reference (BU-YYYY-NNNN)."""
    found = db.scalar(select(Case).where((Case.uuid == ref) | (Case.reference == ref.upper())))
    if found is None:
        raise NotFoundError("no such case")
    return found


def _items(db: Session, case: Case) -> list[tuple[int, Submission]]:
    """(source number 1, 2, ..., submission): the live messages and files of the case's
    sources, in the order they arrived."""
    numbers = {source.id: n for n, source in enumerate(case.sources, 1)}
    rows = db.scalars(
        select(Submission)
        .where(Submission.source_id.in_(list(numbers)), Submission.deleted_at.is_(None))
        .order_by(Submission.source_id, Submission.id)
    )
    return [(numbers[s.source_id], s) for s in rows]


def _require_consent(db: Session, case: Case) -> None:
    if not case.sources:
        raise TransferRefusedError("the case has no source")
    for source in case.sources:
        # Audited (`consent_refused_refer_partner`, the source's uuid) when refused.
        consents.require_consent(db, None, source, REFERRAL_PURPOSE)


def _receipt_of(db: Session, submission: Submission) -> CustodyReceipt:
    receipt = db.scalar(
        select(CustodyReceipt)
        .where(CustodyReceipt.object_uuid == submission.uuid, CustodyReceipt.kind != TRANSFERRED)
        .order_by(CustodyReceipt.seq)
        .limit(1)
    )
    if receipt is None:
        raise TransferRefusedError(f"submission {submission.uuid} has no custody receipt")
    return receipt


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def transfer_request(
    db: Session, store: Store, case: Case, peer: FederationPeer, submission_fpr: str
) -> dict[str, Any]:
    """The request the workstation re-seals (consent checked and audited)."""
    if not peer.active or peer.release_key is None or peer.release_fingerprint is None:
        raise TransferRefusedError("the peer is removed, or its submission key is unknown")
    _require_consent(db, case)
    items = []
    total = 0
    for number, submission in _items(db, case):
        receipt = _receipt_of(db, submission)
        data = store.path_of(submission.source.uuid, submission.filename).read_bytes()
        total += len(data)
        if total > MAX_TRANSFER_BYTES:
            raise TransferRefusedError("the case is too large to transfer in one envelope")
        record = custody.to_record(receipt)
        items.append(
            {
                "source": number,
                "kind": submission.kind.value,
                "ciphertext": _b64(data),
                "manifest": None
                if receipt.sealed_manifest is None
                else _b64(receipt.sealed_manifest),
                "receipt": {"body": dict(record.body), "sig": record.signature},
            }
        )
    if not items:
        raise TransferRefusedError("the case holds no message or file to transfer")
    transfer = str(uuidlib.uuid4())
    audit.record(
        db,
        None,
        "case_transfer_prepared",
        "case",
        case.uuid,
        detail={"transfer": transfer, "peer": peer.uuid, "items": len(items)},
    )
    return {
        "schema": REQUEST_SCHEMA,
        "version": VERSION,
        "transfer": transfer,
        "case": case.uuid,
        "from": submission_fpr,
        "to": {"fingerprint": peer.release_fingerprint, "key": peer.release_key},
        "items": items,
    }


def _refuse(db: Session, case: Case, peer: FederationPeer, why: str) -> TransferRefusedError:
    audit.record_refusal(db, None, "case_transfer_refused", "case", case.uuid)
    return TransferRefusedError(why)


def check_outgoing(
    db: Session,
    case: Case,
    peer: FederationPeer,
    body: Mapping[str, Any],
    *,
    own_key: str,
    own_fpr: str,
    verify: Verify,
) -> dict[str, Any]:
    """The package document, if `body` may go to `peer` for `case` now."""
    _require_consent(db, case)
    try:
        parsed = parse_body(body)
        document = parse_document(parsed.document)
        verify(parsed.document, parsed.signature, own_key)
        check_items(document, parsed)
    except (TransferError, ValueError) as exc:
        raise _refuse(db, case, peer, f"not a package signed by our workstation: {exc}") from exc
    if document["from"] != own_fpr or document["to"] != peer.release_fingerprint:
        raise _refuse(db, case, peer, "the package is for another organisation's key")
    ours = {_receipt_of(db, s).hash for _n, s in _items(db, case)}
    listed = {item["origin"]["receipt"] for item in document["items"]}
    if listed != ours:
        raise _refuse(db, case, peer, "the package does not hold exactly this case's items")
    return document


def record_transferred(
    db: Session, case: Case, peer: FederationPeer, document: Mapping[str, Any], envelope_id: str
) -> CaseTransfer:
    """What left, after the peer accepted: a "transferred" receipt per item, the
    `case_transfers` row and `case_transferred` (the caller commits)."""
    by_hash = {_receipt_of(db, s).hash: s for _n, s in _items(db, case)}
    for item in document["items"]:
        submission = by_hash[item["origin"]["receipt"]]
        custody.append(
            db,
            kind=TRANSFERRED,
            object_uuid=submission.uuid,
            filename=submission.filename,
            size=item["size"],
            sha256=item["sha256"],
            sealed_to=[document["to"]],
            extra={
                "transfer": document["transfer"],
                "peer": peer.fingerprint,
                "envelope": envelope_id,
                "origin": item["origin"]["receipt"],
            },
        )
    row = CaseTransfer(
        transfer_uuid=document["transfer"],
        direction="out",
        peer_id=peer.id,
        case_id=case.id,
        envelope_id=envelope_id,
        items=len(document["items"]),
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        None,
        "case_transferred",
        "case",
        case.uuid,
        detail={
            "transfer": document["transfer"],
            "peer": peer.uuid,
            "envelope": envelope_id,
            "items": len(document["items"]),
        },
    )
    return row


def _new_source(db: Session) -> Source:
    """A source of ours for someone who wrote to the peer: no codename leads to it (its
    lookup id is random), and it has no reply key (they reply through the peer)."""
    for _ in range(20):
        designation = codenames.generate_designation()
        if db.scalar(select(Source.id).where(Source.designation == designation)) is None:
            source = Source(
                lookup_id=secrets.token_hex(32),
                designation=designation,
                reply_key_fingerprint="",
                pending=False,
            )
            db.add(source)
            db.flush()
            return source
    raise VaultError("no free designation found")


def _file_name(number: int, source: Source, kind: str) -> str:
    suffix = "msg.gpg" if kind == SubmissionKind.MESSAGE.value else "doc.gz.gpg"
    return f"{number}-{source.slug}-{suffix}"


def receive_transfer(
    db: Session,
    store: Store,
    peer: FederationPeer,
    body: Mapping[str, Any],
    *,
    own_fpr: str,
    verify: Verify,
) -> Case:
    """Take in a transfer from `peer` (TransferRefusedError / TransferError: refused)."""
    if peer.release_key is None or peer.release_fingerprint is None:
        raise TransferRefusedError("no submission key is known for this peer")
    parsed = parse_body(body)
    document = parse_document(parsed.document)
    try:
        verify(parsed.document, parsed.signature, peer.release_key)
    except ValueError as exc:
        raise TransferRefusedError("not signed by the peer's submission key") from exc
    if document["from"] != peer.release_fingerprint or document["to"] != own_fpr:
        raise TransferRefusedError("the package is not from this peer's key for ours")
    check_items(document, parsed)
    done = db.scalar(
        select(CaseTransfer.id).where(
            CaseTransfer.direction == "in", CaseTransfer.transfer_uuid == document["transfer"]
        )
    )
    if done is not None:
        raise TransferRefusedError("this transfer is here already")
    sources: dict[int, Source] = {}
    created: list[Submission] = []
    for item, data, manifest in zip(document["items"], parsed.items, parsed.manifests, strict=True):
        source = sources.get(item["source"])
        if source is None:
            source = sources[item["source"]] = _new_source(db)
        number = source.next_interaction()
        sealed = store.put_sealed(source.uuid, _file_name(number, source, item["kind"]), data)
        store.keep(db, sealed)
        submission = Submission(
            source=source,
            kind=SubmissionKind(item["kind"]),
            filename=sealed.path.name,
            size=sealed.size,
            sha256=sealed.sha256,
        )
        db.add(submission)
        db.flush()
        created.append(submission)
        custody.append(
            db,
            kind=submission.kind.value,
            object_uuid=submission.uuid,
            filename=submission.filename,
            size=submission.size,
            sha256=submission.sha256,
            sealed_to=[own_fpr],
            sealed_manifest=manifest,
            extra={
                "transfer": document["transfer"],
                "from": peer.fingerprint,
                "origin": item["origin"]["receipt"],
                "origin_sha256": item["origin"]["sha256"],
            },
        )
    unread.add_submissions(db, created)
    case = cases.open_received_case(db, list(sources.values()), created, RECEIVED_LABEL)
    try:
        with savepoint(db):
            db.add(
                CaseTransfer(
                    transfer_uuid=document["transfer"],
                    direction="in",
                    peer_id=peer.id,
                    case_id=case.id,
                    envelope_id=None,
                    items=len(created),
                )
            )
            db.flush()
    except IntegrityError as exc:  # the same transfer racing itself
        raise TransferRefusedError("this transfer is here already") from exc
    audit.record(
        db,
        None,
        "case_transfer_received",
        "case",
        case.uuid,
        detail={"transfer": document["transfer"], "peer": peer.uuid, "items": len(created)},
    )
    return case
