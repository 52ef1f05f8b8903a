"""The directory of professionals across federated instances (docs/federation.md).

Our side: a partner professional agrees, in the reviewer interface, to be listed to our
peer instances (`agree`: who and when recorded, audited) and may withdraw at any time
(`withdraw`); a new agreement replaces the previous one. `publication` builds the whole
current directory (every standing agreement of an active partner account that belongs
to an active organisation) as one versioned body, sent to peers as a `directory`
envelope: a withdrawn agreement is absent from the next publication.

Their side: `receive` keeps the directory a peer sent, replacing the previous one only
with a higher version (an older one arriving late is refused). `peer_entries` shows
them to analysts, admins and partners, filtered; never to the source interface.

Entries are sealed at rest with the directory key (vault.directory_key). The body's
shape is checked strictly here (`parse_body`, pure): a peer's words are shown to our
people, so every field is bounded text (escaped by the templates).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid as uuidlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.directory_key import OUR_ENTRY, PEER_ENTRY, directory_key_of
from vault.errors import VaultError
from vault.models import (
    DirectoryListing,
    DirectoryPublication,
    FederationPeer,
    PartnerMember,
    PartnerOrg,
    PeerDirectory,
    PeerDirectoryEntry,
    Reviewer,
    Role,
)
from vault.services import audit
from vault.services.audit_log import RefusalRecordedError
from vault.services.case_triage import can_work_cases

__all__ = [
    "LIST_MAX",
    "MAX_ENTRIES",
    "TEXT_MAX",
    "WORD_MAX",
    "DirectoryRefusedError",
    "Entry",
    "InvalidEntryError",
    "Listing",
    "PeerEntry",
    "agree",
    "filter_entries",
    "my_listing",
    "parse_body",
    "peer_entries",
    "professions",
    "publication",
    "receive",
    "split_words",
    "withdraw",
]

MAX_ENTRIES = 2000
TEXT_MAX = 200  # organisation, availability
WORD_MAX = 64  # profession, one region, one language
LIST_MAX = 20  # regions, languages
_ENTRY_ID = re.compile(r"^[0-9a-f]{32}$")
_ENTRY_KEYS = {"id", "organisation", "profession", "regions", "languages", "availability"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidEntryError(VaultError):
    """A listing that cannot be recorded (not a partner of an organisation, bad fields)."""


class DirectoryRefusedError(VaultError):
    """A peer's directory that is not kept: malformed, or not newer than the one kept."""


@dataclass(frozen=True)
class Entry:
    """What a directory says of one professional."""

    organisation: str
    profession: str
    regions: tuple[str, ...]
    languages: tuple[str, ...]
    availability: str


@dataclass(frozen=True)
class Listing:
    """Our professional's standing agreement and what it lists (organisation aside)."""

    uuid: str
    agreed_at: dt.datetime
    profession: str
    regions: tuple[str, ...]
    languages: tuple[str, ...]
    availability: str


@dataclass(frozen=True)
class PeerEntry:
    peer: str  # the peer's name, as our admin gave it
    entry: Entry


# -- pure parts ---------------------------------------------------------------------


def _text(value: object, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise DirectoryRefusedError("a field is not text")
    value = " ".join(value.split())
    if _CONTROL.search(value) or len(value) > limit or (required and not value):
        raise DirectoryRefusedError("a field is empty, too long or holds control characters")
    return value


def _words(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > LIST_MAX:
        raise DirectoryRefusedError("a list is not a list or too long")
    return tuple(_text(v, WORD_MAX) for v in value)


def split_words(text: str) -> tuple[str, ...]:
    """ "Kigali, Huye ,, Musanze" -> ("Kigali", "Huye", "Musanze") (form input)."""
    return tuple(w for w in (" ".join(p.split()) for p in text.split(",")) if w)


def parse_body(body: Mapping[str, Any]) -> tuple[int, list[tuple[str, Entry]]]:
    """A `directory` envelope's body -> (version, [(entry id, entry)]), or
    DirectoryRefusedError. Exactly {"version": int >= 1, "entries": [...]}, each entry
    exactly the six fields, ids unique, everything bounded."""
    if set(body) != {"version", "entries"}:
        raise DirectoryRefusedError("a directory holds a version and entries")
    version, raw_entries = body["version"], body["entries"]
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31:
        raise DirectoryRefusedError("the version is not a positive whole number")
    if not isinstance(raw_entries, list) or len(raw_entries) > MAX_ENTRIES:
        raise DirectoryRefusedError("the entries are not a list, or too many")
    entries: list[tuple[str, Entry]] = []
    seen: set[str] = set()
    for raw in raw_entries:
        if not isinstance(raw, dict) or set(raw) != _ENTRY_KEYS:
            raise DirectoryRefusedError("an entry does not have exactly its fields")
        entry_id = raw["id"]
        if not isinstance(entry_id, str) or not _ENTRY_ID.fullmatch(entry_id) or entry_id in seen:
            raise DirectoryRefusedError("an entry id is malformed or repeated")
        seen.add(entry_id)
        entries.append(
            (
                entry_id,
                Entry(
                    organisation=_text(raw["organisation"], TEXT_MAX),
                    profession=_text(raw["profession"], WORD_MAX),
                    regions=_words(raw["regions"]),
                    languages=_words(raw["languages"]),
                    availability=_text(raw["availability"], TEXT_MAX, required=False),
                ),
            )
        )
    return version, entries


def _matches(words: Iterable[str], wanted: str) -> bool:
    wanted = wanted.casefold()
    return any(wanted in word.casefold() for word in words)


def filter_entries(
    entries: Iterable[PeerEntry],
    *,
    region: str = "",
    profession: str = "",
    language: str = "",
) -> list[PeerEntry]:
    """Entries whose regions / languages contain the given text (any case), and whose
    profession is the one given; an empty filter keeps everything."""
    region, profession, language = region.strip(), profession.strip(), language.strip()
    return [
        e
        for e in entries
        if (not region or _matches(e.entry.regions, region))
        and (not language or _matches(e.entry.languages, language))
        and (not profession or e.entry.profession.casefold() == profession.casefold())
    ]


def _entry_json(entry: Entry) -> str:
    return json.dumps(
        {
            "organisation": entry.organisation,
            "profession": entry.profession,
            "regions": list(entry.regions),
            "languages": list(entry.languages),
            "availability": entry.availability,
        },
        sort_keys=True,
        ensure_ascii=False,
    )


def _entry_from_json(text: str) -> Entry:
    data = json.loads(text)
    return Entry(
        organisation=data["organisation"],
        profession=data["profession"],
        regions=tuple(data["regions"]),
        languages=tuple(data["languages"]),
        availability=data["availability"],
    )


# -- our professionals -------------------------------------------------------------


def _org_of(db: Session, reviewer: Reviewer) -> PartnerOrg | None:
    if not reviewer.is_active or reviewer.role is not Role.PARTNER:
        return None
    return db.scalar(
        select(PartnerOrg)
        .join(PartnerMember, PartnerMember.org_id == PartnerOrg.id)
        .where(PartnerMember.reviewer_id == reviewer.id, PartnerOrg.is_active.is_(True))
    )


def _standing(db: Session, reviewer: Reviewer) -> DirectoryListing | None:
    return db.scalar(
        select(DirectoryListing).where(
            DirectoryListing.reviewer_id == reviewer.id, DirectoryListing.withdrawn_at.is_(None)
        )
    )


def agree(
    db: Session,
    actor: Reviewer,
    *,
    profession: str,
    regions: Sequence[str],
    languages: Sequence[str],
    availability: str,
) -> DirectoryListing:
    """`actor`, a partner professional of an active organisation, agrees to be listed
    to our peers with these details (replacing a previous agreement). Audited."""
    if _org_of(db, actor) is None:
        audit.record_refusal(db, actor, "directory_listing_denied")
        raise RefusalRecordedError("only a partner of an organisation can be listed")
    try:
        details = {
            "profession": _text(profession, WORD_MAX),
            "regions": list(_words(list(regions))),
            "languages": list(_words(list(languages))),
            "availability": _text(availability, TEXT_MAX, required=False),
        }
    except DirectoryRefusedError as exc:
        raise InvalidEntryError(str(exc)) from exc
    if not details["regions"] or not details["languages"]:
        raise InvalidEntryError("at least one region and one language")
    previous = _standing(db, actor)
    if previous is not None:
        previous.withdrawn_at = utcnow()
        db.flush()
    listing = DirectoryListing(reviewer_id=actor.id, entry_sealed="")
    db.add(listing)
    db.flush()  # the uuid the sealed entry is bound to
    listing.entry_sealed = directory_key_of(db).seal(
        json.dumps(details, sort_keys=True, ensure_ascii=False), OUR_ENTRY, listing.uuid
    )
    audit.record(
        db,
        actor,
        "directory_listing_agreed",
        "reviewer",
        actor.uuid,
        {"listing": listing.uuid, "replaces": previous.uuid if previous else None},
    )
    return listing


def withdraw(db: Session, actor: Reviewer) -> bool:
    """`actor` withdraws its agreement: gone from the next publication. Audited.
    False when there was none."""
    listing = _standing(db, actor)
    if listing is None:
        return False
    listing.withdrawn_at = utcnow()
    audit.record(
        db, actor, "directory_listing_withdrawn", "reviewer", actor.uuid, {"listing": listing.uuid}
    )
    return True


def my_listing(db: Session, actor: Reviewer) -> Listing | None:
    listing = _standing(db, actor)
    if listing is None:
        return None
    data = json.loads(directory_key_of(db).open(listing.entry_sealed, OUR_ENTRY, listing.uuid))
    return Listing(
        uuid=listing.uuid,
        agreed_at=listing.agreed_at,
        profession=data["profession"],
        regions=tuple(data["regions"]),
        languages=tuple(data["languages"]),
        availability=data["availability"],
    )


def publication(db: Session) -> tuple[int, dict[str, Any]]:
    """The whole current directory, as a new version: (version, envelope body).
    Recorded and audited (version and count only); the caller commits."""
    key = directory_key_of(db)
    rows = db.execute(
        select(DirectoryListing, PartnerOrg.name)
        .join(Reviewer, Reviewer.id == DirectoryListing.reviewer_id)
        .join(PartnerMember, PartnerMember.reviewer_id == Reviewer.id)
        .join(PartnerOrg, PartnerOrg.id == PartnerMember.org_id)
        .where(
            DirectoryListing.withdrawn_at.is_(None),
            Reviewer.is_active.is_(True),
            Reviewer.role == Role.PARTNER,
            PartnerOrg.is_active.is_(True),
        )
        .order_by(DirectoryListing.id)
    ).all()
    entries = []
    for listing, org_name in rows:
        data = json.loads(key.open(listing.entry_sealed, OUR_ENTRY, listing.uuid))
        entries.append({"id": listing.uuid, "organisation": org_name, **data})
    published = DirectoryPublication(entries=len(entries))
    db.add(published)
    db.flush()
    audit.record(
        db,
        None,
        "directory_published",
        None,
        None,
        {"version": str(published.id), "entries": str(len(entries))},
    )
    return published.id, {"version": published.id, "entries": entries}


# -- our peers' directories --------------------------------------------------------


def receive(db: Session, peer: FederationPeer, body: Mapping[str, Any]) -> int:
    """Keep `peer`'s directory in place of the one kept, if its version is higher;
    DirectoryRefusedError otherwise. Returns the version kept. The caller commits."""
    version, entries = parse_body(body)
    kept = db.scalar(select(PeerDirectory).where(PeerDirectory.peer_id == peer.id))
    if kept is not None and version <= kept.version:
        raise DirectoryRefusedError("not newer than the directory kept")
    if kept is None:
        kept = PeerDirectory(peer_id=peer.id, version=version)
        db.add(kept)
    kept.version = version
    kept.received_at = utcnow()
    db.execute(delete(PeerDirectoryEntry).where(PeerDirectoryEntry.peer_id == peer.id))
    key = directory_key_of(db)
    for entry_id, entry in entries:
        row_uuid = str(uuidlib.uuid4())  # the sealed entry is bound to it
        db.add(
            PeerDirectoryEntry(
                uuid=row_uuid,
                peer_id=peer.id,
                entry_id=entry_id,
                entry_sealed=key.seal(_entry_json(entry), PEER_ENTRY, row_uuid),
            )
        )
    db.flush()
    return version


def _may_read(actor: Reviewer) -> bool:
    return can_work_cases(actor) or (actor.is_active and actor.role is Role.PARTNER)


def peer_entries(
    db: Session,
    actor: Reviewer,
    *,
    region: str = "",
    profession: str = "",
    language: str = "",
) -> list[PeerEntry]:
    """The professionals our active peers list, filtered; for analysts, admins and
    partners only. Audited as one view (the filters are not recorded)."""
    if not _may_read(actor):
        audit.record_refusal(db, actor, "directory_denied")
        raise RefusalRecordedError("no access to the directory of professionals")
    key = directory_key_of(db)
    rows = db.execute(
        select(PeerDirectoryEntry, FederationPeer.name)
        .join(FederationPeer, FederationPeer.id == PeerDirectoryEntry.peer_id)
        .where(FederationPeer.removed_at.is_(None))
        .order_by(FederationPeer.name, PeerDirectoryEntry.id)
    ).all()
    found = [
        PeerEntry(name, _entry_from_json(key.open(row.entry_sealed, PEER_ENTRY, row.uuid)))
        for row, name in rows
    ]
    audit.record(db, actor, "directory_viewed")
    return sorted(
        filter_entries(found, region=region, profession=profession, language=language),
        key=lambda e: (e.entry.organisation.casefold(), e.entry.profession, e.peer),
    )


def professions(db: Session) -> list[str]:
    """The professions our peers' directories name (for the filter), opened."""
    key = directory_key_of(db)
    rows = db.scalars(
        select(PeerDirectoryEntry)
        .join(FederationPeer, FederationPeer.id == PeerDirectoryEntry.peer_id)
        .where(FederationPeer.removed_at.is_(None))
    )
    return sorted(
        {_entry_from_json(key.open(r.entry_sealed, PEER_ENTRY, r.uuid)).profession for r in rows}
    )
