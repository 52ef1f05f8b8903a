"""Export bundles for the air-gapped workstation: ciphertext plus everything needed to
prove its custody, with public keys only.

A bundle is a ZIP (stored, not compressed: it holds ciphertext) with:

    MANIFEST.json        what is in the bundle, who exported it and when
    MANIFEST.json.sig    Ed25519 signature of MANIFEST.json by the receipt key (base64)
    receipt-key.pem      the receipt public key (the workstation pins its fingerprint)
    receipts.jsonl       the contiguous chain segment from the first to the last
                         receipt of the exported items, one signed record a line
    anchors.jsonl        RFC 3161 time-stamps of the chain within the segment, one a
                         line (vault.services.anchors), when there are any
    tsa/<name>.pem       the certificate each time-stamping authority's tokens chain to
    files/<source uuid>/<stored name>                 the ciphertext, as stored
    files/<source uuid>/<stored name>.manifest.gpg    its sealed manifest, if any

The segment includes receipts of items not exported (other sources' ciphertext facts
only: kind, size, hash) because without them a verifier could not see that no receipt
is missing between two exported ones. When the chain has been time-stamped after the
last exported receipt, the segment runs on to the first such anchor, so the time-stamp
covers every exported receipt. Every export is audited: one `export_created`
event naming the export, and one `item_exported` event per item.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid as uuidlib
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import NotFoundError
from vault.models import Reply, Reviewer, Submission
from vault.services import anchors, audit, custody, inbox
from vault.store import Store

__all__ = ["BUNDLE_FORMAT", "ExportSummary", "build_export"]

BUNDLE_FORMAT = "backup-export/1"
MANIFEST_NAME = "MANIFEST.json"
SIGNATURE_NAME = "MANIFEST.json.sig"
KEY_NAME = "receipt-key.pem"
RECEIPTS_NAME = "receipts.jsonl"
ANCHORS_NAME = "anchors.jsonl"


@dataclass(frozen=True)
class ExportSummary:
    export_uuid: str
    items: int
    first_seq: int
    last_seq: int


def _items(
    db: Session, reviewer: Reviewer, source_uuids: Sequence[str], only: set[str] | None
) -> list[tuple[str, Submission | Reply]]:
    chosen: list[tuple[str, Submission | Reply]] = []
    for source_uuid in dict.fromkeys(source_uuids):  # each source once
        source = inbox.get_source(db, reviewer, source_uuid)  # checks the role
        subs = db.scalars(
            select(Submission).where(
                Submission.source_id == source.id, Submission.deleted_at.is_(None)
            )
        )
        reps = db.scalars(
            select(Reply).where(Reply.source_id == source.id, Reply.deleted_at.is_(None))
        )
        chosen += [
            (source.uuid, item) for item in [*subs, *reps] if only is None or item.uuid in only
        ]
    return chosen


def build_export(
    db: Session,
    store: Store,
    reviewer: Reviewer,
    source_uuids: Sequence[str],
    out: IO[bytes],
    *,
    item_uuids: Sequence[str] | None = None,
    tsa_certificates: Mapping[str, bytes] | None = None,
) -> ExportSummary:
    """Write a bundle of the chosen sources' submissions and replies to `out`; audited.

    `item_uuids`, if given, narrows the export to those submissions and replies.
    `tsa_certificates`: the configured TSAs' certificates (PEM) by name; the segment's
    time-stamps by those TSAs go with the bundle.

    Raises NotFoundError (unknown source, or nothing with a receipt to export) and
    AccessDeniedError (a role that may not read sources).
    """
    chosen = _items(db, reviewer, source_uuids, None if item_uuids is None else set(item_uuids))
    receipts = {
        row.object_uuid: row for row in custody.receipts_for(db, [i.uuid for _, i in chosen])
    }
    # Only what has a receipt leaves: anything else could not be verified anyway.
    chosen = [(s, item) for s, item in chosen if item.uuid in receipts]
    if not chosen:
        raise NotFoundError("nothing to export")
    first = min(receipts[i.uuid].seq for _, i in chosen)
    last = max(receipts[i.uuid].seq for _, i in chosen)
    certificates = dict(tsa_certificates or {})
    anchored = anchors.first_anchored_seq(db, anchors.CUSTODY, last, certificates)
    end = last if anchored is None else anchored
    segment = custody.chain_segment(db, first, end)
    stamps = [
        row
        for row in anchors.anchors_between(db, anchors.CUSTODY, first, end)
        if row.tsa in certificates
    ]
    key = custody.signer_of(db)
    export_uuid = str(uuidlib.uuid4())
    entries = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as bundle:
        for source_uuid, item in chosen:
            receipt = receipts[item.uuid]
            path = f"files/{source_uuid}/{item.filename}"
            bundle.write(store.path_of(source_uuid, item.filename), path)
            entry: dict[str, object] = {
                "uuid": item.uuid,
                "kind": receipt.kind,
                "source_uuid": source_uuid,
                "designation": item.source.designation,
                "path": path,
                "receipt_seq": receipt.seq,
            }
            if receipt.sealed_manifest is not None:
                entry["manifest_path"] = f"{path}.manifest.gpg"
                bundle.writestr(f"{path}.manifest.gpg", receipt.sealed_manifest)
            entries.append(entry)
            audit.record(db, reviewer, "item_exported", receipt.kind, item.uuid)
        bundle.writestr(
            RECEIPTS_NAME, "".join(custody.to_record(row).to_json() + "\n" for row in segment)
        )
        bundle.writestr(KEY_NAME, key.verify_key.pem())
        anchor_files: dict[str, str] = {}
        if stamps:
            lines = "".join(json.dumps(anchors.to_record(r), sort_keys=True) + "\n" for r in stamps)
            written = {ANCHORS_NAME: lines.encode("utf-8")}
            for name in sorted({r.tsa for r in stamps}):
                written[f"tsa/{name}.pem"] = certificates[name]
            for name, data in written.items():
                bundle.writestr(name, data)
                anchor_files[name] = hashlib.sha256(data).hexdigest()
        manifest: dict[str, object] = {
            "format": BUNDLE_FORMAT,
            "export_uuid": export_uuid,
            "exported_at": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "exported_by": reviewer.uuid,
            "receipt_key": key.fingerprint,
            "chain": {"first_seq": first, "last_seq": end},
            "items": entries,
        }
        if anchor_files:
            manifest["anchors"] = anchor_files  # name -> SHA-256, under the signature
        manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
        bundle.writestr(MANIFEST_NAME, manifest_bytes)
        bundle.writestr(SIGNATURE_NAME, base64.b64encode(key.sign(manifest_bytes)))
    audit.record(db, reviewer, "export_created", "export", export_uuid)
    return ExportSummary(export_uuid, len(entries), first, last)
