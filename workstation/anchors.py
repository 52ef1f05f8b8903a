"""Time-stamp anchors of the server's custody chain, checked offline on the workstation
and by anyone who verifies a judicial file.

An anchor (vault.services.anchors) is an RFC 3161 token over one chain position and its
hash. It proves the receipts up to that position existed at the token's time, if:
the token verifies against the TSA's certificate (signature, chain, data covered), and
the position it names is in the verified chain segment with the very hash it covers.
The first anchor at or after a receipt bounds when the server could have written it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from keys.receipts import SignedRecord
from keys.timestamps import TimestampError, anchor_message, load_certificates, verify_token

__all__ = [
    "Anchor",
    "check_anchors",
    "first_anchor",
    "first_anchors",
    "interval_words",
    "parse_anchors",
    "parse_certificates",
]

CUSTODY = "custody"


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    tsa: str
    token: bytes
    gen_time: dt.datetime | None = None  # set once the token verified

    def to_record(self) -> dict[str, Any]:
        return {
            "chain": CUSTODY,
            "seq": self.seq,
            "hash": self.hash,
            "tsa": self.tsa,
            "token": base64.b64encode(self.token).decode("ascii"),
        }


def parse_anchors(text: str, label: str) -> list[Anchor]:
    """The anchors of an `anchors.jsonl`; TimestampError naming the bad line."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
            if record["chain"] != CUSTODY:
                raise ValueError("not the custody chain")
            found.append(
                Anchor(
                    int(record["seq"]),
                    str(record["hash"]),
                    str(record["tsa"]),
                    base64.b64decode(record["token"], validate=True),
                )
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise TimestampError(f"{label} line {number}: not an anchor ({exc})") from None
    return found


def parse_certificates(pems: Mapping[str, bytes]) -> dict[str, list[x509.Certificate]]:
    """TSA name -> its certificates; TimestampError naming an unreadable file."""
    return {name: load_certificates(pem, f"TSA certificate {name}") for name, pem in pems.items()}


def check_anchors(
    anchors: Sequence[Anchor],
    segment: Sequence[SignedRecord],
    certificates: Mapping[str, Sequence[x509.Certificate]],
    label: str,
) -> tuple[list[Anchor], list[str]]:
    """Verify each anchor against `segment` (already verified) and its TSA's certificates;
    (the anchors that verified, with their time; a problem per anchor that did not)."""
    by_seq = {int(r.body.get("seq", -1)): r for r in segment}
    good, problems = [], []
    for anchor in anchors:
        where = f"{label}: time-stamp of chain position {anchor.seq} by {anchor.tsa}"
        record = by_seq.get(anchor.seq)
        if record is None:
            problems.append(f"{where}: that position is not in the chain segment")
            continue
        if record.hash != anchor.hash:
            problems.append(f"{where}: the chain there is not what was time-stamped (altered)")
            continue
        if anchor.tsa not in certificates:
            problems.append(f"{where}: no certificate for this TSA")
            continue
        try:
            when = verify_token(
                anchor.token,
                anchor_message(CUSTODY, anchor.seq, record.hash),
                certificates[anchor.tsa],
            )
        except TimestampError as exc:
            problems.append(f"{where}: {exc}")
            continue
        good.append(Anchor(anchor.seq, anchor.hash, anchor.tsa, anchor.token, when))
    return good, problems


def first_anchor(anchors: Sequence[Anchor], receipt_seq: int) -> Anchor | None:
    """The earliest verified anchor covering the receipt at `receipt_seq`."""
    covering = [a for a in anchors if a.seq >= receipt_seq and a.gen_time is not None]
    return min(covering, key=lambda a: (a.gen_time, a.seq), default=None)


def first_anchors(anchors: Sequence[Anchor], receipt_seq: int) -> list[Anchor]:
    """The first anchor covering the receipt at `receipt_seq` by each TSA, earliest
    first: with two TSAs, each vouches for the receipt on its own."""
    found = (
        first_anchor([a for a in anchors if a.tsa == tsa], receipt_seq)
        for tsa in sorted({a.tsa for a in anchors})
    )
    return sorted((a for a in found if a is not None), key=lambda a: (a.gen_time, a.seq, a.tsa))


def interval_words(received_at: str, anchored: dt.datetime) -> str:
    """How long after a receipt's time its first anchor came, e.g. "2 h 05 min 03 s"."""
    received = dt.datetime.fromisoformat(received_at.replace("Z", "+00:00"))
    seconds = int((anchored - received).total_seconds())
    if seconds < 0:
        # A TSA's clock (accuracy of a second or so) may run a little behind the server's.
        return f"{-seconds} s before the receipt's own time (clocks differ)"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s after the receipt"


ANCHORS_NAME = "anchors.jsonl"
TSA_CERT = re.compile(r"^tsa/(?P<name>[a-z0-9][a-z0-9_-]{0,63})\.pem$")


def is_anchor_member(name: str) -> bool:
    return name == ANCHORS_NAME or TSA_CERT.match(name) is not None


def read_bundle_anchors(
    bundle: zipfile.ZipFile,
    manifest: Mapping[str, Any],
    segment: Sequence[SignedRecord],
    problems: list[str],
) -> tuple[list[Anchor], dict[str, bytes]]:
    """An export bundle's anchors, each checked; (those that verified, the TSA
    certificates by name). A problem per anchor file not under the signed manifest
    and per anchor that does not verify."""
    names = {n for n in bundle.namelist() if is_anchor_member(n)}
    listed = manifest.get("anchors") or {}
    if not isinstance(listed, dict):
        problems.append("MANIFEST.json: its list of anchor files is malformed")
        listed = {}
    data: dict[str, bytes] = {}
    for name in sorted(names | set(listed)):
        if name not in names:
            problems.append(f"{name}: listed in MANIFEST.json but missing")
            continue
        data[name] = bundle.read(name)
        if hashlib.sha256(data[name]).hexdigest() != listed.get(name):
            problems.append(f"{name}: not the file the signed MANIFEST.json lists (altered)")
    if ANCHORS_NAME not in data:
        return [], {}
    pems = {m["name"]: v for n, v in data.items() if (m := TSA_CERT.match(n))}
    try:
        found = parse_anchors(data[ANCHORS_NAME].decode("utf-8"), ANCHORS_NAME)
        certificates = parse_certificates(pems)
    except (TimestampError, UnicodeDecodeError) as exc:
        problems.append(str(exc))
        return [], {}
    good, bad = check_anchors(found, segment, certificates, ANCHORS_NAME)
    problems += bad
    return good, pems


def sidecar(anchors: Sequence[Anchor], pems: Mapping[str, bytes]) -> str:
    """What the workspace keeps beside a chain segment: its anchors and TSA certificates."""
    return json.dumps(
        {
            "anchors": [a.to_record() for a in anchors],
            "tsa_certificates": {n: p.decode("ascii") for n, p in sorted(pems.items())},
        },
        indent=1,
        sort_keys=True,
    )


def read_sidecar(text: str, label: str) -> tuple[list[Anchor], dict[str, bytes]]:
    kept = json.loads(text)
    lines = "\n".join(json.dumps(r) for r in kept["anchors"])
    pems = {n: str(p).encode("ascii") for n, p in kept["tsa_certificates"].items()}
    return parse_anchors(lines, label), pems
