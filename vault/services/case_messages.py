"""Messages between professionals on a case shared with a partner instance
(docs/federation.md, "Messages on a shared case").

A shared case is one transferred to a peer or received from one: both sides hold a
`case_transfers` row with the same transfer uuid, and a message thread hangs on it.

Writing (`queue_message`, the reviewer interface): the text is sealed twice on arrival,
as a case note is: to the peer's submission key pinned at `peer add` and the readers it
published (vault.services.peer_readers) (the copy that leaves, read on the peer's
air-gapped workstation and in its reviewer interface) and to our readers of case notes
and our submission key (our copy, read in memory in a session that holds an unlocked
account key, re-sealed like notes when the readers change). Nothing leaves from the
web process: it never holds the federation signing key. `backupctl federation
send-messages` sends what is queued (`pending`, `body_of`, `record_outcome`), one
`case_message` envelope per message; the peer's copy is dropped once accepted.

Receiving (`receive`, the `case_message` envelope's handler): the body is checked
strictly (`parse_body`, pure), the transfer must be one shared with *this* peer, and
the ciphertext an OpenPGP message (public-key encrypted session key packets first)
sealed to our account keys and at most one key more, our submission key
(`sealed_recipients`); it is stored as it came with those recipients, so that our
readers open it as they open notes, and audited with ids only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.errors import NotFoundError, VaultError
from vault.models import Case, CaseMessage, CaseTransfer, FederationPeer, Reviewer
from vault.models.note import canonical_recipients
from vault.ports import Keyring
from vault.services import audit, cases, peer_readers
from vault.services.notes import MAX_NOTE_CHARS, NotesLockedError, reader_recipients
from vault.services.resealing import (
    account_fingerprint,
    is_reader,
    open_each,
    pkesk_key_ids,
    reseal_opened,
)
from vault.transaction import savepoint

__all__ = [
    "MAX_CIPHERTEXT_BYTES",
    "MAX_MESSAGE_CHARS",
    "MessageRefusedError",
    "MessageText",
    "ParsedMessage",
    "body_of",
    "parse_body",
    "pending",
    "queue_message",
    "read_thread",
    "receive",
    "record_outcome",
    "sealed_recipients",
    "shared_transfers",
]

MAX_MESSAGE_CHARS = MAX_NOTE_CHARS
# A sealed message of MAX_MESSAGE_CHARS (up to 4 bytes each in UTF-8) with room for the
# session key packets of the submission key and every reader a peer may publish
# (peer_readers.MAX_READERS, each packet at most ~530 bytes for RSA-4096); anything
# larger is refused unread.
MAX_CIPHERTEXT_BYTES = 4 * MAX_MESSAGE_CHARS + 64 * 1024
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_BODY_KEYS = {"transfer", "message", "ciphertext", "created"}

MessageText = tuple[CaseMessage, str | None]  # None: not readable here (or not by this key)


class MessageRefusedError(VaultError):
    """A message that cannot be written, or a `case_message` body that is not kept."""


@dataclass(frozen=True)
class ParsedMessage:
    transfer: str
    message: str
    ciphertext: bytes
    created: str


# -- pure parts ---------------------------------------------------------------------


def parse_body(body: Mapping[str, Any]) -> ParsedMessage:
    """A `case_message` envelope's body, or MessageRefusedError: exactly {transfer (a
    uuid), message (32 hex digits), ciphertext (base64 of an OpenPGP message, bounded),
    created (UTC to the second)}."""
    if set(body) != _BODY_KEYS or not all(isinstance(body[k], str) for k in _BODY_KEYS):
        raise MessageRefusedError("a message holds exactly a transfer, id, ciphertext and date")
    if not _UUID.fullmatch(body["transfer"]) or not _MESSAGE_ID.fullmatch(body["message"]):
        raise MessageRefusedError("the transfer or message id is malformed")
    created = body["created"]
    try:
        if not _CREATED.fullmatch(created):
            raise ValueError(created)
        dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError as exc:
        raise MessageRefusedError("the date is malformed") from exc
    if len(body["ciphertext"]) > (MAX_CIPHERTEXT_BYTES * 4) // 3 + 4:
        raise MessageRefusedError("the message is too large")
    try:
        ciphertext = base64.b64decode(body["ciphertext"], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise MessageRefusedError("the ciphertext is not base64") from exc
    if not ciphertext or len(ciphertext) > MAX_CIPHERTEXT_BYTES:
        raise MessageRefusedError("the message is empty or too large")
    # Never plaintext at rest: it must open with a session key sealed to a public key.
    if not pkesk_key_ids(ciphertext):
        raise MessageRefusedError("not an OpenPGP message sealed to a key")
    return ParsedMessage(body["transfer"], body["message"], ciphertext, created)


def body_of(message: CaseMessage) -> dict[str, str]:
    """The `case_message` envelope's body for a queued message of ours."""
    if message.direction != "out" or message.outgoing is None:
        raise MessageRefusedError("not a message waiting to leave")
    return {
        "transfer": message.transfer.transfer_uuid,
        "message": message.uuid,
        "ciphertext": base64.b64encode(message.outgoing).decode("ascii"),
        "created": message.created,
    }


# -- our side -----------------------------------------------------------------------


def shared_transfers(db: Session, case: Case) -> list[CaseTransfer]:
    """The transfers (out or in) a case the caller may see is shared through, oldest
    first."""
    return list(
        db.scalars(
            select(CaseTransfer).where(CaseTransfer.case_id == case.id).order_by(CaseTransfer.id)
        )
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def queue_message(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    case_uuid: str,
    transfer_uuid: str,
    text: str,
    submission_fingerprint: str,
) -> CaseMessage:
    """Seal `text` to the peer's submission key and to our readers, queued for
    `send-messages`; audited with ids only (the caller commits)."""
    case = cases.get_case(db, actor, case_uuid)
    text = text.strip()
    if not text or len(text) > MAX_MESSAGE_CHARS:
        raise cases.InvalidCaseInputError("empty or too long")
    transfer = db.scalar(
        select(CaseTransfer).where(
            CaseTransfer.case_id == case.id, CaseTransfer.transfer_uuid == transfer_uuid
        )
    )
    if transfer is None:
        raise NotFoundError("the case is not shared through this transfer")
    peer = transfer.peer
    if not peer.active or peer.release_fingerprint is None:
        raise MessageRefusedError("the partner instance was removed, or its key is unknown")
    data = text.encode()
    # The peer's keys are fetched by the keyring from the peer's rows (key_retirement):
    # its submission key, and the readers it published, who read it in its reviewer
    # interface.
    outgoing = keyring.seal_bytes(
        data, [peer.release_fingerprint, *peer_readers.fingerprints_of(db, peer)]
    )
    recipients = reader_recipients(db, submission_fingerprint)
    ours = keyring.seal_bytes(data, recipients)
    message = CaseMessage(
        uuid=secrets.token_hex(16),
        transfer_id=transfer.id,
        direction="out",
        author_id=actor.id,
        ciphertext=ours,
        size=len(ours),
        recipients=canonical_recipients(recipients),
        outgoing=outgoing,
        created=_now(),
        outcome="queued",
    )
    db.add(message)
    db.flush()
    audit.record(
        db,
        actor,
        "case_message_queued",
        "case",
        case.uuid,
        detail={"message": message.uuid, "transfer": transfer.transfer_uuid, "peer": peer.uuid},
    )
    return message


def read_thread(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    case_uuid: str,
    session_key_passphrase: str | None,
    *,
    submission_fingerprint: str | None = None,
) -> list[MessageText]:
    """The case's messages, both ways, oldest first, each opened with the session's key
    where it is sealed to it (ours always, to our readers; the peer's when it sealed
    them to the readers we published, otherwise to our submission key alone: read on
    the workstation), and re-sealed to the current readers as notes are. Audited as
    one view."""
    case = cases.get_case(db, actor, case_uuid)
    if not session_key_passphrase:
        raise NotesLockedError("no unlocked key in this session")
    rows = list(
        db.scalars(
            select(CaseMessage)
            .join(CaseTransfer, CaseTransfer.id == CaseMessage.transfer_id)
            .where(CaseTransfer.case_id == case.id)
            .order_by(CaseMessage.id)
        )
    )
    # The peer's messages are tried only where they are recorded as sealed to this
    # account's key (the others would cost a gpg run each to fail).
    mine = account_fingerprint(db, actor)
    openable = [
        m
        for m in rows
        if m.direction == "out"
        or (mine is not None and m.recipients and is_reader(mine, m.recipients.split(",")))
    ]
    ours = open_each(keyring, openable, session_key_passphrase)
    if submission_fingerprint is not None:
        reseal_opened(db, keyring, actor, ours, reader_recipients(db, submission_fingerprint))
    texts = {m.id: text for m, text in ours}
    audit.record(db, actor, "case_messages_viewed", "case", case.uuid)
    return [(m, texts.get(m.id)) for m in rows]


def pending(db: Session) -> Sequence[CaseMessage]:
    """Messages waiting to leave, to peers not removed, oldest first."""
    return db.scalars(
        select(CaseMessage)
        .join(CaseTransfer, CaseTransfer.id == CaseMessage.transfer_id)
        .join(FederationPeer, FederationPeer.id == CaseTransfer.peer_id)
        .where(
            CaseMessage.direction == "out",
            CaseMessage.outcome == "queued",
            FederationPeer.removed_at.is_(None),
        )
        .order_by(CaseMessage.id)
    ).all()


def record_outcome(db: Session, message: CaseMessage, outcome: str, envelope_id: str) -> None:
    """After a delivery attempt: accepted (the peer's copy is dropped) or refused (not
    sent again); undelivered leaves it queued. Audited with ids only."""
    if outcome == "undelivered":
        return
    message.outcome = outcome[:32]
    message.envelope_id = envelope_id
    if outcome == "accepted":
        message.outgoing = None
    transfer = message.transfer
    case_uuid = transfer.case.uuid if transfer.case is not None else None
    audit.record(
        db,
        None,
        "case_message_sent" if outcome == "accepted" else "case_message_refused",
        "case",
        case_uuid,
        detail={
            "message": message.uuid,
            "transfer": transfer.transfer_uuid,
            "envelope": envelope_id,
        },
    )


# -- their side ---------------------------------------------------------------------


# Key id (upper-case hex) -> the fingerprint of the account key it belongs to, for
# every account key of ours (given by the caller: reading keys takes gpg).
AccountKeyIds = Callable[[Session], Mapping[str, str]]


def sealed_recipients(
    key_ids: set[str], accounts: Mapping[str, str], submission_fingerprint: str
) -> list[str]:
    """Whom a peer's message is sealed to, from the key ids its session key packets
    name: our account keys, and at most one key more, taken to be our submission key
    (the endpoint does not hold its public half); MessageRefusedError otherwise."""
    unknown = {k for k in key_ids if k not in accounts}
    if len(unknown) > 1:
        raise MessageRefusedError("the message is sealed to keys this instance does not know")
    return sorted({*(accounts[k] for k in key_ids if k in accounts), submission_fingerprint})


def receive(
    db: Session,
    peer: FederationPeer,
    body: Mapping[str, Any],
    *,
    submission_fingerprint: str | None = None,
    account_key_ids: AccountKeyIds | None = None,
) -> str:
    """Keep a message `peer` sent on a case shared with it; its id, or
    MessageRefusedError (no such transfer with this peer, here already, malformed,
    sealed to keys we do not know). With `account_key_ids`, whom it is sealed to is
    recorded, so that our readers open it as they open notes."""
    parsed = parse_body(body)
    recipients = None
    if account_key_ids is not None and submission_fingerprint is not None:
        recipients = canonical_recipients(
            sealed_recipients(
                pkesk_key_ids(parsed.ciphertext), account_key_ids(db), submission_fingerprint
            )
        )
    transfer = db.scalar(
        select(CaseTransfer)
        .where(CaseTransfer.transfer_uuid == parsed.transfer, CaseTransfer.peer_id == peer.id)
        .order_by(CaseTransfer.id)
        .limit(1)
    )
    if transfer is None:
        raise MessageRefusedError("no case is shared with this peer through that transfer")
    message = CaseMessage(
        uuid=parsed.message,
        transfer_id=transfer.id,
        direction="in",
        author_id=None,
        ciphertext=parsed.ciphertext,
        size=len(parsed.ciphertext),
        recipients=recipients,
        outgoing=None,
        created=parsed.created,
        outcome="received",
    )
    try:
        with savepoint(db):
            db.add(message)
            db.flush()
    except IntegrityError as exc:  # sent again in a fresh envelope
        raise MessageRefusedError("this message is here already") from exc
    case_uuid = transfer.case.uuid if transfer.case is not None else None
    audit.record(
        db,
        None,
        "case_message_received",
        "case",
        case_uuid,
        detail={"message": message.uuid, "transfer": transfer.transfer_uuid, "peer": peer.uuid},
    )
    return parsed.message
