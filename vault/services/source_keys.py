"""Sources' reply public keys as the API returns them, from the database.

The armored public half of a source's reply key is kept in `sources.reply_public_key`
when the key is made (vault.services.sources), so listing 10,000 sources costs no gpg
call. A source made before the column existed (migration 0013) gets it from the keyring
the first time it is listed, once: it is stored then.

The text is gpg's own export (`keys.gpg.GpgKeyring.export_public`), so the API returns the same
bytes as when it exported the key at each request. It is public material: the source's
key to encrypt replies to, which the API hands to every reviewer client.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from vault.models import Source
from vault.ports import Keyring

__all__ = ["public_keys"]


def public_keys(db: Session, keyring: Keyring, sources: Sequence[Source]) -> dict[int, str | None]:
    """Each source's armored reply public key (None: its key is gone from the keyring,
    e.g. a source being deleted). Keys found only in the keyring are stored (committed)."""
    found: dict[int, str | None] = {}
    filled = False
    for source in sources:
        armored = source.reply_public_key
        if armored is None:
            try:
                armored = keyring.export_public(source.reply_key_fingerprint)
            except Exception:  # a source whose key is being deleted: no key to reply to
                armored = None
            else:
                source.reply_public_key = armored
                filled = True
        found[source.id] = armored
    if filled:
        db.commit()
    return found
