"""What each kind of envelope carries, and what its receiver does with it.

`HANDLERS` is the registry the endpoint uses: one entry per kind. A kind added later
(incident fingerprints for de-duplication, a case transfer) adds its body builder and
its handler here; nothing else in the transport changes.

`release`: an observatory release exactly as `vault.services.releases` imports it: the
signed document's bytes and its detached signature, base64. On receipt it is imported
with the *peer's* release key (its submission public key, given at `peer add`), so a
peer can only bring in releases its own workstation signed.

`directory`: the whole current directory of the peer's professionals who agreed to be
listed (`vault.services.directory`): `{"version": N, "entries": [...]}`. Kept in place
of the previous one only when N is higher; refused ("body") when malformed or not newer.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from federation.errors import EnvelopeRefusedError
from federation.receive import Handler
from vault.models import FederationPeer, ObservatoryRelease
from vault.services import directory, releases
from workstation.observatory.release_sign import verify_release

__all__ = [
    "DIRECTORY",
    "HANDLERS",
    "RELEASE",
    "receive_directory",
    "receive_release",
    "release_body",
]

RELEASE = "release"
DIRECTORY = "directory"


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


def receive_directory(db: Session, peer: FederationPeer, body: Mapping[str, Any]) -> str | None:
    try:
        directory.receive(db, peer, body)
    except directory.DirectoryRefusedError as exc:
        raise EnvelopeRefusedError("body", f"directory refused ({exc})") from exc
    return None


HANDLERS: Mapping[str, Handler] = {RELEASE: receive_release, DIRECTORY: receive_directory}
