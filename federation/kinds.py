"""What each kind of envelope carries, and what its receiver does with it.

`HANDLERS` is the registry the endpoint uses: one entry per kind. A kind added later
(incident fingerprints for de-duplication, a case transfer) adds its body builder and
its handler here; nothing else in the transport changes.

`case_transfer`: a referred case, re-sealed to the receiver's submission key on the
sender's air-gapped workstation and signed there (`vault.transfer_package`); taken in by
`vault.services.case_transfers.receive_transfer` as a new source and case of ours. It
needs the store and our submission key's fingerprint: `handlers(store, fingerprint)`.

`release`: an observatory release exactly as `vault.services.releases` imports it: the
signed document's bytes and its detached signature, base64. On receipt it is imported
with the *peer's* release key (its submission public key, given at `peer add`), so a
peer can only bring in releases its own workstation signed.

`directory`: the whole current directory of the peer's professionals who agreed to be
listed (`vault.services.directory`): `{"version": N, "entries": [...]}`. Kept in place
of the previous one only when N is higher; refused ("body") when malformed or not newer.

`case_message`: a message between professionals on a case shared through a transfer
(`vault.services.case_messages`): `{"transfer", "message", "ciphertext", "created"}`,
the ciphertext sealed by the peer's server to our submission key and to the readers
we published. Refused ("body") unless that transfer is one between us and this very
peer, or when sealed to more than one key that is none of our account keys.

`readers`: the public account keys of the sender's readers of case messages
(`vault.services.peer_readers`): `{"version": N, "keys": [{"fingerprint", "key"}]}`.
Kept in place of the previous set only when N is higher; each key must be one OpenPGP
public key, the one its fingerprint names, able to encrypt (read by gpg here).

`psi_request`, `psi_response`: a private-set-intersection message between the two
organisations' workstations (`federation.psi`): `{"document", "signature"}`, base64,
signed by the peer's workstation (checked against its release key); kept for ours.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.errors import EnvelopeRefusedError
from federation.psi import PSI_REQUEST, PSI_RESPONSE, psi_handler
from federation.receive import Handler
from keys.public_keys import show_public_keys
from vault.models import AccountKey, FederationPeer, ObservatoryRelease
from vault.services import case_messages, case_transfers, directory, peer_readers, releases
from vault.store import Store
from vault.transfer_package import TransferError
from workstation.observatory.release_sign import verify_release, verify_signed

__all__ = [
    "CASE_MESSAGE",
    "CASE_TRANSFER",
    "DIRECTORY",
    "HANDLERS",
    "PSI_REQUEST",
    "PSI_RESPONSE",
    "READERS",
    "RELEASE",
    "handlers",
    "receive_case_message",
    "receive_directory",
    "receive_readers",
    "receive_release",
    "release_body",
    "verify_package",
]

RELEASE = "release"
CASE_TRANSFER = "case_transfer"
DIRECTORY = "directory"
CASE_MESSAGE = "case_message"
READERS = "readers"


def release_body(release: ObservatoryRelease) -> dict[str, Any]:
    return {
        "document": base64.b64encode(release.document).decode("ascii"),
        "signature": base64.b64encode(release.signature).decode("ascii"),
    }


def receive_release(db: Session, peer: FederationPeer, body: Mapping[str, Any]) -> str:
    if set(body) != {"document", "signature"} or not all(isinstance(v, str) for v in body.values()):
        raise EnvelopeRefusedError("body", "a release envelope holds a document and a signature")
    if peer.release_key is None or peer.release_fingerprint is None:
        raise EnvelopeRefusedError("body", "no release key is known for this peer")
    try:
        document = base64.b64decode(body["document"], validate=True)
        signature = base64.b64decode(body["signature"], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise EnvelopeRefusedError("body", "the release is not base64") from exc
    try:
        release = releases.import_release(
            db,
            None,
            document,
            signature,
            public_key=peer.release_key,
            signer_fingerprint=peer.release_fingerprint,
            verify=verify_release,
        )
    except releases.ReleaseRefusedError as exc:
        raise EnvelopeRefusedError("body", f"release refused ({exc.reason})") from exc
    return release.uuid


def verify_package(data: bytes, signature: bytes, public_key: str) -> str:
    """The signer's fingerprint if `signature` is `public_key`'s over `data` (gpg, in a
    scratch home); ValueError (SignatureError) if not."""
    return verify_signed(data, signature, public_key)


def case_transfer_handler(store: Store, own_fpr: str) -> Handler:
    def receive_case(db: Session, peer: FederationPeer, body: Mapping[str, Any]) -> str:
        try:
            case = case_transfers.receive_transfer(
                db, store, peer, body, own_fpr=own_fpr, verify=verify_package
            )
        except (TransferError, case_transfers.TransferRefusedError) as exc:
            raise EnvelopeRefusedError("body", f"case transfer refused ({exc})") from exc
        return case.uuid

    return receive_case


def receive_directory(db: Session, peer: FederationPeer, body: Mapping[str, Any]) -> str | None:
    try:
        directory.receive(db, peer, body)
    except directory.DirectoryRefusedError as exc:
        raise EnvelopeRefusedError("body", f"directory refused ({exc})") from exc
    return None


def receive_case_message(db: Session, peer: FederationPeer, body: Mapping[str, Any]) -> str:
    try:
        return case_messages.receive(db, peer, body)
    except case_messages.MessageRefusedError as exc:
        raise EnvelopeRefusedError("body", f"message refused ({exc})") from exc


def _inspect(armored: str) -> list[peer_readers.KeyFacts]:
    return [
        peer_readers.KeyFacts(k.fingerprint, k.secret, k.key_ids, k.encryption_ids)
        for k in show_public_keys(armored)
    ]


def receive_readers(db: Session, peer: FederationPeer, body: Mapping[str, Any]) -> str | None:
    try:
        peer_readers.receive(db, peer, body, _inspect)
    except peer_readers.ReadersRefusedError as exc:
        raise EnvelopeRefusedError("body", f"readers refused ({exc})") from exc
    return None


def account_key_ids(db: Session) -> dict[str, str]:
    """Every key id of our account keys -> its key's fingerprint (one gpg run)."""
    armored = [k for k in db.scalars(select(AccountKey.public_key)) if k]
    if not armored:
        return {}
    return {i: k.fingerprint for k in show_public_keys("\n".join(armored)) for i in k.key_ids}


def case_message_handler(own_fpr: str) -> Handler:
    def receive_message(db: Session, peer: FederationPeer, body: Mapping[str, Any]) -> str:
        try:
            return case_messages.receive(
                db, peer, body, submission_fingerprint=own_fpr, account_key_ids=account_key_ids
            )
        except case_messages.MessageRefusedError as exc:
            raise EnvelopeRefusedError("body", f"message refused ({exc})") from exc

    return receive_message


HANDLERS: Mapping[str, Handler] = {
    RELEASE: receive_release,
    DIRECTORY: receive_directory,
    CASE_MESSAGE: receive_case_message,
    PSI_REQUEST: psi_handler(PSI_REQUEST, verify_signed),
    PSI_RESPONSE: psi_handler(PSI_RESPONSE, verify_signed),
    READERS: receive_readers,
}


def handlers(store: Store, own_fpr: str) -> Mapping[str, Handler]:
    """Every kind, on an instance whose store and submission key receive cases."""
    return {
        **HANDLERS,
        CASE_TRANSFER: case_transfer_handler(store, own_fpr),
        CASE_MESSAGE: case_message_handler(own_fpr),
    }
