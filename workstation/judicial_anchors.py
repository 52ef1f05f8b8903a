"""The time-stamp anchors of a judicial file (workstation.judicial): what goes in, and
what the verifier says of them.

    receipts/<export>.anchors.jsonl   the RFC 3161 tokens over positions of that segment
    keys/tsa-<name>-<fp16>.pem        each TSA's certificate the tokens chain to

The verdict names each TSA certificate's SHA-256 fingerprint (compare it with the one
the TSA publishes, or the EU trusted list for a qualified TSA), and for each item the
first anchor covering its receipt: which TSA, when, and how long after the receipt.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from keys.receipts import SignedRecord
from keys.timestamps import TimestampError, certificate_fingerprint, load_certificates
from workstation.anchors import (
    Anchor,
    check_anchors,
    first_anchor,
    first_anchors,
    interval_words,
    parse_anchors,
    parse_certificates,
    read_sidecar,
)
from workstation.bundle import anchors_path
from workstation.prefixes import names_fingerprint

__all__ = ["anchor_members", "check_item_anchors", "first_anchor_summary", "tsa_certificates"]

_CERT = re.compile(r"^keys/tsa-(?P<name>[a-z0-9][a-z0-9_-]{0,63})-[0-9a-f]{16}\.pem$")


class _Verdict(Protocol):
    facts: list[str]

    def fail(self, problem: str) -> None: ...


def anchor_members(segments: Sequence[Path]) -> tuple[dict[str, bytes], dict[str, str]]:
    """(the files to add, segment file name -> its anchors member) for the segments that
    have anchors in the workspace."""
    blobs: dict[str, bytes] = {}
    by_segment: dict[str, str] = {}
    for segment in dict.fromkeys(segments):
        kept = anchors_path(segment)
        if not kept.exists():
            continue
        anchors, pems = read_sidecar(kept.read_text(), kept.name)
        member = f"receipts/{segment.stem}.anchors.jsonl"
        blobs[member] = "".join(_line(a) for a in anchors).encode("utf-8")
        for name, pem in pems.items():
            fingerprint = certificate_fingerprint(load_certificates(pem, name)[0])
            blobs[f"keys/tsa-{name}-{fingerprint[:16]}.pem"] = pem
        by_segment[segment.name] = member
    return blobs, by_segment


def first_anchor_summary(segment: Path, receipt_seq: int) -> dict[str, Any] | None:
    """The first anchor covering a receipt, checked again here, for the summary PDF
    (the verifier never reads this: it checks the tokens themselves)."""
    kept = anchors_path(segment)
    if not kept.exists():
        return None
    anchors, pems = read_sidecar(kept.read_text(), kept.name)
    records = [
        SignedRecord.from_json(line, segment.name) for line in segment.read_text().splitlines()
    ]
    good, _ = check_anchors(anchors, records, parse_certificates(pems), kept.name)
    first = first_anchor(good, receipt_seq)
    if first is None or first.gen_time is None:
        return None
    return {"tsa": first.tsa, "seq": first.seq, "at": f"{first.gen_time:%Y-%m-%dT%H:%M:%SZ}"}


def _line(anchor: Anchor) -> str:
    return json.dumps(anchor.to_record(), sort_keys=True) + "\n"


def tsa_certificates(
    bundle: zipfile.ZipFile, names: set[str], expected: Sequence[str], verdict: _Verdict
) -> dict[str, list[x509.Certificate]]:
    """The TSA certificates in the file, by TSA name; each named in the verdict."""
    found: dict[str, list[x509.Certificate]] = {}
    for name in sorted(names):
        match = _CERT.match(name)
        if match is None:
            continue
        try:
            certificates = load_certificates(bundle.read(name), name)
        except TimestampError as exc:
            verdict.fail(f"{name}: {exc}")
            continue
        fingerprint = certificate_fingerprint(certificates[0])
        if expected and not any(names_fingerprint(e, fingerprint) for e in expected):
            verdict.fail(f"{name}: not an expected TSA certificate ({fingerprint})")
            continue
        verdict.facts.append(f"TSA certificate {match['name']}: {fingerprint}")
        found.setdefault(match["name"], []).extend(certificates)
    return found


def check_item_anchors(
    bundle: zipfile.ZipFile,
    item: Mapping[str, Any],
    segment: Sequence[SignedRecord],
    certificates: Mapping[str, Sequence[x509.Certificate]],
    verdict: _Verdict,
) -> None:
    """Verify the item's segment's anchors; state its first anchor by each TSA (or that
    it has none)."""
    label = f"item {item.get('uuid')}"
    receipt = item["receipt"]["body"]
    member = item.get("anchors")
    if not member:
        verdict.facts.append(f"{label}: no time-stamp anchor covers its receipt yet")
        return
    try:
        anchors = parse_anchors(bundle.read(member).decode("utf-8"), member)
    except (TimestampError, UnicodeDecodeError, KeyError) as exc:
        verdict.fail(f"{label}: {exc}")
        return
    good, problems = check_anchors(anchors, segment, certificates, member)
    for problem in problems:
        verdict.fail(problem)
    received = str(receipt["received_at"])
    stated = [  # one line per TSA: each vouches for the receipt on its own
        f"{label}: time-stamped by {first.tsa} at {first.gen_time:%Y-%m-%dT%H:%M:%SZ} "
        f"(chain position {first.seq}), {interval_words(received, first.gen_time)}"
        for first in first_anchors(good, int(receipt["seq"]))
        if first.gen_time is not None
    ]
    verdict.facts += stated or [f"{label}: no verified time-stamp anchor covers its receipt"]
