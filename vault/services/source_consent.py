"""The consent a source's own page shows: sealed to the source's reply key only.

Consent documents (ASSIST, a change of consent) are evidence: sealed to the submission
key, which the server does not hold. To show a logged-in source their current choices,
each such document is accompanied by a small state, `N-designation-consent.gpg`, that
holds only the consent answers known after it and is sealed to the source's reply key:
it opens in memory with the passphrase derived from the codename, exactly as replies do,
and never otherwise (no reviewer, no process without the source's session can read it).
A source's first submission also leaves one (every answer "not now"), so that a source
who never answered is not asked whether to keep earlier answers.

The state lives beside the submission it accompanies and shares its number N; it counts
only while that submission is recorded (a state whose submission was never committed,
or was deleted, is ignored, then swept or shredded with it). Older states are shredded
once a newer one is recorded.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vault.consent import consent_state_dumps, consent_state_loads
from vault.errors import DecryptionError, StoreError
from vault.models import Source, Submission
from vault.ports import Opener
from vault.reports import ConsentState, ReportError
from vault.store import SealedFile, Store

__all__ = ["MAX_STATE_BYTES", "prune", "read_state", "seal_state", "state_name"]

MAX_STATE_BYTES = 4096  # five answers in JSON: a state larger than this is not ours
_STATE = re.compile(r"^(?P<number>[0-9]+)-(?P<slug>[a-z0-9_]+)-consent\.gpg$")


def state_name(submission_filename: str) -> str:
    """`N-designation-msg.gpg` (or `-doc.gz.gpg`) -> `N-designation-consent.gpg`."""
    number, slug, _kind = submission_filename.split("-", 2)
    return f"{number}-{slug}-consent.gpg"


def seal_state(
    store: Store, source: Source, number: int, state: Mapping[str, bool | None]
) -> SealedFile:
    """Seal the known answers beside message number `number`, to the reply key only."""
    return store.seal_bytes_to(
        source.uuid,
        f"{number}-{source.slug}-consent.gpg",
        consent_state_dumps(state),
        [source.reply_key_fingerprint],
    )


def _states(store: Store, source: Source) -> list[tuple[int, str]]:
    """The source's states, newest first (here, or in the shared copy: vault.store)."""
    found = []
    for name in store.names(source.uuid):
        match = _STATE.match(name)
        if match is not None:
            found.append((int(match["number"]), name))
    return sorted(found, reverse=True)


def read_state(
    db: Session, store: Store, opener: Opener, source: Source, passphrase: str
) -> ConsentState | None:
    """The consent answers known for `source` (a use missing: not known), or None when
    none can be shown (no state yet, or one that does not open: the page then offers
    "as before" for every question)."""
    recorded = {
        state_name(filename)
        for filename in db.scalars(
            select(Submission.filename).where(Submission.source_id == source.id)
        )
    }
    for _number, name in _states(store, source):
        if name not in recorded:
            continue  # its submission was never recorded, or is gone
        try:
            path = store.path_of(source.uuid, name)
            plain = opener.open_bytes(path.read_bytes(), passphrase, max_output=MAX_STATE_BYTES)
            return consent_state_loads(plain)
        except (DecryptionError, ReportError, OSError, StoreError):
            return None
    return None


def prune(store: Store, source: Source) -> None:
    """Shred every state but the newest (best effort: the newest is what counts)."""
    for _number, name in _states(store, source)[1:]:
        with contextlib.suppress(OSError, StoreError, SQLAlchemyError):
            store.shred(store.local_path(source.uuid, name))
