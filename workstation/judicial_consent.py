"""The consent to court a judicial file (workstation.judicial) relied on: what goes into
its signed manifest, what the workstation prints, and what the verifier checks of it.

`court_consent` in JUDICIAL-MANIFEST.json, one entry per consent document relied on
(a source's latest consent-bearing document decrypted on the workstation):

    {"purpose": "court", "court": "yes", "designation": "sober moth",
     "for_items": [the file's items of that source],
     "document":  {"item", "name", "received_at", "receipt"},   the latest document
     "stated_in": {"item", "name", "received_at", "receipt"}}   the one stating court

`stated_in` is `document` itself unless the latest document left court "as before":
then it is the earlier document whose yes still stands. Each `receipt` is the server's
signed custody receipt of that document, so a verifier with public keys only can check
which document it was and when the server received it; the custody log says it was
imported and decrypted on the workstation. The documents themselves stay out of the
file (an ASSIST request holds the source's needs and contact): that the document says
yes to court is the workstation's statement, signed with the manifest.

Files built before `court_consent` existed have only the custody log's `judicial-file`
entry, which names the documents by item id: the verifier says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from keys.receipts import ChainError, SignedRecord, VerifyKey, verify_chain
from workstation.bundle import EvidenceItem, load_item
from workstation.consent import ConsentReading, stated_in
from workstation.custody_log import Workspace
from workstation.errors import WorkstationError

__all__ = ["KEY", "PURPOSE", "check_consent", "consent_entries", "consent_lines", "receipt_keys_of"]

PURPOSE = "court"
KEY = "court_consent"


class _Verdict(Protocol):
    facts: list[str]

    def fail(self, problem: str) -> None: ...


def _item(workspace: Workspace, reading: ConsentReading) -> EvidenceItem:
    if reading.item_uuid is None:
        raise WorkstationError(f"{reading.document_name}: not an item of this workspace")
    return load_item(workspace, reading.item_uuid)


def _document(workspace: Workspace, reading: ConsentReading) -> dict[str, Any]:
    receipt = _item(workspace, reading).receipt
    return {
        "item": reading.item_uuid,
        "name": reading.document_name,
        "received_at": str(receipt.body.get("received_at", "")),
        "receipt": json.loads(receipt.to_json()),
    }


def consent_entries(
    workspace: Workspace,
    by_item: Mapping[str, ConsentReading],
    readings: Sequence[ConsentReading],
) -> list[dict[str, Any]]:
    """The manifest's `court_consent` for the consent each item was allowed by
    (`require_consent_by_item`); `readings`: the workspace's (`workspace_readings`)."""
    grouped: dict[str, tuple[ConsentReading, list[str]]] = {}
    for item_uuid, reading in by_item.items():
        key = reading.item_uuid or reading.document_name
        grouped.setdefault(key, (reading, []))[1].append(item_uuid)
    entries = []
    for reading, items in grouped.values():
        stating = stated_in(readings, reading, PURPOSE)
        if stating is None or not reading.allows(PURPOSE):
            raise WorkstationError(f"{reading.document_name}: no consent to court stated")
        latest = _document(workspace, reading)
        entries.append(
            {
                "purpose": PURPOSE,
                PURPOSE: reading.answers[PURPOSE].value,
                # As the file's items name the source: `sober moth`.
                "designation": _item(workspace, reading).designation,
                "for_items": items,
                "document": latest,
                "stated_in": (
                    latest
                    if stating.item_uuid == reading.item_uuid
                    else _document(workspace, stating)
                ),
            }
        )
    return sorted(entries, key=lambda e: (e["designation"], e["document"]["name"]))


def receipt_keys_of(entries: Sequence[Mapping[str, Any]]) -> set[str]:
    """The fingerprints of the receipt keys that signed the entries' receipts."""
    return {
        str(doc["receipt"]["body"]["key"])
        for entry in entries
        for doc in (entry["document"], entry["stated_in"])
    }


def _described(doc: Mapping[str, Any]) -> str:
    seq = doc["receipt"]["body"].get("seq")
    return (
        f"{doc['name']} (item {doc['item']}), given (received by the server) "
        f"{doc['received_at']} (receipt no. {seq})"
    )


def consent_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """In words, two lines per consent document relied on."""
    lines = []
    for entry in entries:
        document, stating = entry["document"], entry["stated_in"]
        answer = entry[PURPOSE]
        lines.append(
            f"Consent to court for item(s) {', '.join(entry['for_items'])}: relied on "
            f"{_described(document)}, the latest consent of source {entry['designation']}"
        )
        if stating["item"] == document["item"]:
            lines.append(f"  it says court: {answer}")
        else:
            lines.append(
                f"  it leaves court as before: {answer}, as stated in {_described(stating)}"
            )
    return lines


def _logged(log: Sequence[SignedRecord], judicial_uuid: object) -> list[str] | None:
    for record in log:
        details = record.body.get("details", {})
        if record.body.get("action") == "judicial-file" and (
            details.get("judicial_uuid") == judicial_uuid
        ):
            return [str(i) for i in details.get(KEY, [])]
    return None


def _check_document(
    doc: Mapping[str, Any], keys: list[VerifyKey], log: Sequence[SignedRecord], verdict: _Verdict
) -> None:
    label = f"consent document {doc['name']} (item {doc['item']})"
    receipt = SignedRecord(doc["receipt"]["body"], doc["receipt"]["sig"])
    try:
        verify_chain([receipt], keys, f"{label} receipt")
    except ChainError as exc:
        verdict.fail(str(exc))
        return
    body = receipt.body
    if (
        body.get("uuid") != doc["item"]
        or body.get("received_at") != doc["received_at"]
        or body.get("filename", doc["name"]) != doc["name"]
    ):
        verdict.fail(f"{label}: not the item, name or time its signed receipt states")
    if not log:
        return  # the log did not verify: already a problem of its own
    imported = decrypted = False
    for record in log:
        details = record.body.get("details", {})
        if details.get("item") != doc["item"]:
            continue
        action = record.body.get("action")
        imported |= action == "imported" and details.get("receipt_hash") == receipt.hash
        decrypted |= action == "decrypted"
    if not imported:
        verdict.fail(f"{label}: the custody log has no import of this receipt")
    if not decrypted:
        verdict.fail(f"{label}: the custody log records no decryption of it")


def check_consent(
    manifest: Mapping[str, Any],
    keys: list[VerifyKey],
    log: Sequence[SignedRecord],
    verdict: _Verdict,
) -> None:
    """Check the file's `court_consent` against the receipts and the custody log, and
    state it in the verdict (for an older file, what its custody log names)."""
    entries = manifest.get(KEY)
    logged = _logged(log, manifest.get("judicial_uuid"))
    if entries is None:
        if logged:
            verdict.facts.append(
                "Consent to court: not described in this file (built before judicial files "
                "described it); its custody log names the consent document(s) relied on, "
                f"by item id: {', '.join(logged)}"
            )
        else:
            verdict.facts.append("Consent to court: not recorded in this file")
        return
    try:
        for entry in entries:
            document, stating = entry["document"], entry["stated_in"]
            for doc in [document] if stating == document else [document, stating]:
                _check_document(doc, keys, log, verdict)
            if entry["purpose"] != PURPOSE or entry[PURPOSE] != "yes":
                verdict.fail(f"{KEY}: {entry['document']['name']} is not a consent to court")
        covered = {str(item) for entry in entries for item in entry["for_items"]}
        for item in manifest.get("items", []):
            if item.get("uuid") not in covered:
                verdict.fail(f"item {item.get('uuid')}: the file names no consent to court for it")
        relied = sorted({str(entry["document"]["item"]) for entry in entries})
        if log and logged != relied:
            verdict.fail(
                f"{KEY}: the custody log's judicial-file entry names other consent documents "
                f"({', '.join(logged or []) or 'none'})"
            )
        lines = consent_lines(entries)
    except (KeyError, TypeError, AttributeError) as exc:
        verdict.fail(f"{KEY}: malformed ({exc!r})")
        return
    verdict.facts.extend(lines)
