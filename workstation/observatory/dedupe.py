"""Counting an incident once across federated organisations (docs/observatory.md,
"Federation").

The same incident reported to two organisations must be counted by one of them only,
and comparing must reveal nothing about the incidents the other side does not hold.

**What is compared.** Each incident that a release could count (its source consented
to statistics, inside the scope) is described by short *descriptors*, from the coded
record only (`release_input.ReleaseRow`): country, first-level region (or "unknown"),
principal act (the first of its acts in the International Protocol's order),
perpetrator category (the first known one in the report's order, else "unknown"), and
the date:

- known to the day: two descriptors, one per grid of 8-day windows, the second grid
  shifted by 4 days. Two dates 4 days apart or less always share a window (an interval
  that crosses a boundary of both grids holds 5 days), 5 to 7 days apart sometimes, 8
  or more never;
- known to the month (or a range within one month): one descriptor for the month;
- known to the year only, or a range over months: none. Such an incident is never
  matched, so two organisations that both hold it both count it (a miss).

Two incidents match when they share a descriptor. The trade-off: a *false match* is two
distinct incidents with the same act, perpetrator category and region within a few
days (then one organisation does not count an incident nobody else counts: an
undercount); a *miss* is one incident coded differently by the two organisations (a
different region, principal act or perpetrator category, dates more than 4 days apart,
or one knows the day and the other only the month: then it is counted twice). The
descriptors are deliberately coarse where coders disagree (no victim numbers, sex or
age: these vary from account to account) and fine where they agree (place, act, days).

**How it is compared: ECDH private set intersection**, with OpenMined's `openmined-psi`
(PyPI; Google's private-join-and-compute protocol on P-256, in C++): not a keyed hash.
A keyed hash (HMAC under a federation secret) over descriptors this small is open to
every holder of the secret: with a few tens of thousands of possible descriptors per
region and year, a peer holding the secret hashes them all and reads every fingerprint
we send, incidents it does not hold included. With ECDH-PSI there is no shared secret:

1. the organisation that does **not** count a shared incident (the one whose
   federation identity sorts later: `counted_by`) asks: its workstation blinds its
   descriptors with a fresh secret scalar `a` (`make_request`); the scalar and the
   descriptors stay on its workstation, sealed;
2. the other answers on its own workstation (`answer_request`): with a fresh scalar
   `b`, used once and forgotten, it blinds the request again and blinds its own
   descriptors; it learns the number of descriptors asked about, nothing else (each is
   a random-looking curve point);
3. the asker (`match`) removes its own blinding and learns which of **its** descriptors
   the other holds, and the number of descriptors the other holds; nothing about the
   others' incidents it does not hold (decisional Diffie-Hellman).

Only the side that must exclude learns the intersection, and the side that counts
needs to learn nothing. Every message is canonical JSON signed by the organisation's
workstation key (like a release) and checked against the key pinned for the peer.

What a curious peer can learn, exactly: the asker learns which of its own incidents
(descriptors) the answerer also holds, and the number of descriptors the answerer holds
in the scope; the answerer learns the number of descriptors asked about. A *dishonest*
asker can put made-up descriptors in its request and learn whether the answerer holds
incidents matching them: a probe bounded by the request's size (`max_items`), one
request per exchange (an answered request is refused again), each answer in the
answerer's custody log with its size, so that an operator sees an implausible request.
That is inherent to any intersection over a small domain; a keyed hash gives the whole
set away at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workstation.observatory.release import ReleaseError, ReleaseSpec, canonical, in_scope
from workstation.observatory.release_input import ACTS, ReleaseRow
from workstation.observatory.vocabulary import PERPETRATORS

__all__ = [
    "DedupeError",
    "Scope",
    "answer_request",
    "apply_exclusions",
    "counted_by",
    "incident_descriptors",
    "make_request",
    "match",
    "parse_message",
]

VERSION = 1
REQUEST = "backup.federation-psi-request"
RESPONSE = "backup.federation-psi-response"
PENDING = "backup.federation-psi-pending"
EXCLUSIONS = "backup.federation-exclusions"
WINDOW_DAYS = 8
SHIFT_DAYS = 4
# Descriptors one request may ask about: two per incident known to the day.
DEFAULT_MAX_ITEMS = 20_000
_ORGANISATION = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_EPOCH = dt.date(1970, 1, 1)


class DedupeError(ReleaseError):
    """A federation message or exclusion that cannot be used (wrong peer, scope,
    schema, a tampered or replayed message...)."""


@dataclass(frozen=True)
class Scope:
    """What an exchange compares: countries (empty: all) and months, inclusive."""

    countries: tuple[str, ...]
    first_month: str
    last_month: str

    def __post_init__(self) -> None:
        self.spec()  # the same checks as a release's scope

    def spec(self) -> ReleaseSpec:
        return ReleaseSpec(
            dimensions=("period",),
            first_month=self.first_month,
            last_month=self.last_month,
            countries=self.countries,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "countries": list(self.countries),
            "first_month": self.first_month,
            "last_month": self.last_month,
        }

    @classmethod
    def from_json(cls, data: Any) -> Scope:
        try:
            return cls(
                tuple(sorted(str(c) for c in data["countries"])),
                str(data["first_month"]),
                str(data["last_month"]),
            )
        except (KeyError, TypeError, ReleaseError) as exc:
            raise DedupeError("scope: malformed") from exc

    def covers(self, spec: ReleaseSpec) -> bool:
        """True when every incident `spec` may count was compared in this scope."""
        if self.countries and (
            not spec.countries or not set(spec.countries) <= set(self.countries)
        ):
            return False
        mine = self.spec()
        return mine.start <= spec.start and spec.end <= mine.end


def check_organisation(name: str) -> str:
    if not _ORGANISATION.fullmatch(name):
        raise DedupeError("an organisation is its federation identity: letters, digits, .:_-")
    return name


def counted_by(organisations: Iterable[str]) -> str:
    """Which organisation counts an incident several hold: the one whose federation
    identity sorts first (plain code-point order, the same everywhere)."""
    return min(organisations)


def _principal_act(rows: Sequence[ReleaseRow]) -> str:
    acts = {a for row in rows for a in row.acts}
    return next(a for a in ACTS if a in acts)


def _perpetrator(rows: Sequence[ReleaseRow]) -> str:
    known = {row.perpetrator for row in rows}
    return next((p for p in PERPETRATORS if p in known and p != "unknown"), "unknown")


def _descriptors(rows: Sequence[ReleaseRow]) -> list[str]:
    first = rows[0]
    base = "|".join(
        ("v1", first.country, first.region or "unknown", _principal_act(rows), _perpetrator(rows))
    )
    if first.precision == "day":
        days = (first.date - _EPOCH).days
        return [
            f"{base}|d0:{days // WINDOW_DAYS}",
            f"{base}|d1:{(days + SHIFT_DAYS) // WINDOW_DAYS}",
        ]
    if first.month is not None:
        return [f"{base}|m:{first.month}"]
    return []  # known to the year only, or a range over months: never matched


def incident_descriptors(rows: Iterable[ReleaseRow], scope: Scope) -> dict[str, list[str]]:
    """incident id -> its descriptors, for the incidents a release over `scope` could
    count (consented, wholly inside it); incidents that cannot be matched are left out."""
    spec = scope.spec()
    incidents: dict[str, list[ReleaseRow]] = {}
    for row in rows:
        if in_scope(row, spec):
            incidents.setdefault(row.incident_id, []).append(row)
    out = {}
    for incident, group in sorted(incidents.items()):
        found = _descriptors(group)
        if found:
            out[incident] = found
    return out


def _psi() -> Any:
    # A workstation dependency (pyproject's `workstation` extra): imported when used.
    import private_set_intersection.python as psi

    return psi


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError as exc:
        raise DedupeError("a message field is not base64") from exc


def _now(created: dt.datetime | None) -> str:
    return (created or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_request(
    own: str,
    peer: str,
    scope: Scope,
    rows: Iterable[ReleaseRow],
    *,
    created: dt.datetime | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request to sign and send to `peer`, pending state to keep sealed on this
    workstation). Only the organisation that does not count shared incidents asks."""
    check_organisation(own)
    check_organisation(peer)
    if own == peer or counted_by((own, peer)) != peer:
        raise DedupeError(
            f"{own} sorts before {peer}: {own} counts the incidents both hold, so {peer} "
            f"asks {own}, not the reverse"
        )
    psi = _psi()
    by_descriptor: dict[str, list[str]] = {}
    for incident, descriptors in incident_descriptors(rows, scope).items():
        for descriptor in descriptors:
            by_descriptor.setdefault(descriptor, []).append(incident)
    items = sorted(by_descriptor)
    client = psi.client.CreateWithNewKey(True)
    request = client.CreateRequest(items)
    document = {
        "schema": REQUEST,
        "version": VERSION,
        "id": str(uuid.uuid4()),
        "created": _now(created),
        "from": own,
        "to": peer,
        "scope": scope.to_json(),
        "items": len(items),
        "request": _b64(request.SerializeToString()),
    }
    state = {
        "schema": PENDING,
        "request": document["id"],
        "request_bytes": _b64(canonical(document)),
        "key": _b64(client.GetPrivateKeyBytes()),
        "items": items,
        "incidents": by_descriptor,
    }
    return document, state


def parse_message(data: bytes, schema: str) -> dict[str, Any]:
    """A signed message's document (its signature checked by the caller): canonical
    JSON of the expected schema and version, else DedupeError."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DedupeError("not a federation message") from exc
    if not isinstance(document, dict) or document.get("schema") != schema:
        raise DedupeError(f"not a {schema} message")
    if document.get("version") != VERSION:
        raise DedupeError("unknown message version")
    if canonical(document) != data:
        raise DedupeError("the message is not in canonical form")
    return document


def answer_request(
    request: Mapping[str, Any],
    own: str,
    rows: Iterable[ReleaseRow],
    *,
    max_items: int = DEFAULT_MAX_ITEMS,
    answered: Iterable[str] = (),
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    """The response (to sign and send back) to a verified request addressed to `own`.
    The blinding scalar is made here and forgotten on return."""
    psi = _psi()
    asker = check_organisation(str(request.get("from", "")))
    if request.get("to") != own:
        raise DedupeError("this request is addressed to another organisation")
    if counted_by((own, asker)) != own or asker == own:
        raise DedupeError(f"{asker} sorts before {own}: {own} asks {asker}, not the reverse")
    if str(request.get("id")) in set(answered):
        raise DedupeError("this request was already answered (a replay)")
    scope = Scope.from_json(request.get("scope"))
    parsed = psi.Request()
    try:
        parsed.ParseFromString(_unb64(request.get("request")))
    except Exception as exc:  # protobuf's DecodeError
        raise DedupeError("the request's blinded set cannot be read") from exc
    asked = len(parsed.encrypted_elements)
    if asked != request.get("items"):
        raise DedupeError("the request's size is not what it states")
    if asked > max_items:
        raise DedupeError(
            f"the request asks about {asked} descriptors (at most {max_items}): refused"
        )
    if not parsed.reveal_intersection:
        raise DedupeError("the request does not ask for the intersection")
    items = sorted({d for ds in incident_descriptors(rows, scope).values() for d in ds})
    server = psi.server.CreateWithNewKey(True)
    setup = server.CreateSetupMessage(1e-9, max(asked, 1), items, psi.DataStructure.RAW)
    response = server.ProcessRequest(parsed)
    return {
        "schema": RESPONSE,
        "version": VERSION,
        "id": str(uuid.uuid4()),
        "created": _now(created),
        "from": own,
        "to": asker,
        "request": str(request["id"]),
        "request_sha256": _sha256(canonical(request)),
        "scope": scope.to_json(),
        "items": len(items),
        "setup": _b64(setup.SerializeToString()),
        "response": _b64(response.SerializeToString()),
    }


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def match(response: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    """The exclusions (our incidents the peer also holds, which the peer counts), from
    a verified response and the pending state of our request."""
    psi = _psi()
    if state.get("schema") != PENDING:
        raise DedupeError("not a pending federation request")
    request = parse_message(_unb64(state["request_bytes"]), REQUEST)
    if response.get("request") != request["id"] or response.get("request_sha256") != _sha256(
        canonical(request)
    ):
        raise DedupeError("this response answers another request")
    if response.get("from") != request["to"] or response.get("to") != request["from"]:
        raise DedupeError("this response is not from the organisation asked")
    if response.get("scope") != request["scope"]:
        raise DedupeError("this response compares another scope")
    setup, answer = psi.ServerSetup(), psi.Response()
    try:
        setup.ParseFromString(_unb64(response.get("setup")))
        answer.ParseFromString(_unb64(response.get("response")))
    except Exception as exc:  # protobuf's DecodeError
        raise DedupeError("the response cannot be read") from exc
    items: list[str] = list(state["items"])
    if len(answer.encrypted_elements) != len(items) or len(setup.raw.encrypted_elements) != (
        response.get("items")
    ):
        raise DedupeError("the response's sizes are not those of the request and its statement")
    client = psi.client.CreateFromKey(_unb64(state["key"]), True)
    try:
        found = client.GetIntersection(setup, answer)
    except Exception as exc:  # the library's RuntimeError on a malformed setup
        raise DedupeError("the response cannot be intersected") from exc
    incidents = sorted({i for index in found for i in state["incidents"][items[index]]})
    return {
        "schema": EXCLUSIONS,
        "version": VERSION,
        "organisation": request["from"],
        "peer": request["to"],
        "scope": request["scope"],
        "request": request["id"],
        "response": response["id"],
        "peer_items": response["items"],
        "incidents": incidents,
    }


def apply_exclusions(
    rows: Iterable[ReleaseRow],
    exclusions: Sequence[Mapping[str, Any]],
    own: str,
    spec: ReleaseSpec,
) -> tuple[list[ReleaseRow], dict[str, Any], int]:
    """(rows left to count, the release's `federation` statement, incidents excluded).

    Each exclusion must be ours, against a peer that counts shared incidents (sorts
    before us), once per peer, over a scope covering the release's."""
    check_organisation(own)
    rows = list(rows)
    excluded: set[str] = set()
    peers: list[str] = []
    for item in exclusions:
        if item.get("schema") != EXCLUSIONS or item.get("version") != VERSION:
            raise DedupeError("not federation exclusions")
        peer = str(item.get("peer"))
        if item.get("organisation") != own:
            raise DedupeError(f"exclusions made by {item.get('organisation')}, not {own}")
        if counted_by((own, peer)) != peer or peer == own:
            raise DedupeError(f"{own} counts what it shares with {peer}: nothing to exclude")
        if peer in peers:
            raise DedupeError(f"two exclusions against {peer}")
        if not Scope.from_json(item.get("scope")).covers(spec):
            raise DedupeError(f"the exchange with {peer} did not cover this release's scope")
        peers.append(peer)
        excluded |= {str(i) for i in item.get("incidents", [])}
    kept = [row for row in rows if row.incident_id not in excluded]
    counted = {row.incident_id for row in rows if in_scope(row, spec)}
    statement = {
        "organisation": own,
        "excluded_against": sorted(peers),
        "rule": "an incident several organisations hold is counted by the one whose "
        "federation identity sorts first; matched by private set intersection",
    }
    return kept, statement, len(counted & excluded)
