"""Coding from what the workspace holds: the imported item a record rests on (its
designation and source, from the export bundle's signed metadata) and, for a decrypted
report, the prefill."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from vault import reports
from workstation.bundle import load_item
from workstation.custody_log import Workspace
from workstation.errors import WorkstationError
from workstation.observatory.model import SourceLink
from workstation.observatory.prefill import Prefill, prefill_from_report

__all__ = ["item_prefill", "source_link"]

_MAX_REPORT_BYTES = 1_000_000


def _original(workspace: Workspace, item_uuid: str) -> Path | None:
    directory = workspace.dir("originals") / item_uuid
    found = [p for p in directory.glob("*") if p.is_file()] if directory.exists() else []
    return found[0] if len(found) == 1 else None


def _document(workspace: Workspace, item_uuid: str) -> dict[str, object] | None:
    original = _original(workspace, item_uuid)
    if original is None or not original.name.endswith("-msg.txt"):
        return None
    if original.stat().st_size > _MAX_REPORT_BYTES:
        return None
    try:
        return reports.loads(original.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return None
    except reports.ReportError as exc:
        raise WorkstationError(
            f"{item_uuid}: a report this workstation cannot read (update the workstation)"
        ) from exc


def source_link(workspace: Workspace, item_uuid: str) -> SourceLink:
    """The link to an imported, decrypted item (WorkstationError otherwise)."""
    item = load_item(workspace, item_uuid)
    if _original(workspace, item_uuid) is None:
        raise WorkstationError(
            f"{item_uuid}: not decrypted in this workspace (backupctl custody decrypt)"
        )
    meta = json.loads((item.directory / "item.json").read_text())
    document = _document(workspace, item_uuid)
    if document is not None:
        kind = str(document["kind"])
    else:
        kind = "message" if item.ciphertext.name.endswith("-msg.gpg") else "document"
    return SourceLink(
        item=item.uuid,
        document=item.ciphertext.name,
        # As in file names (`sober_moth`), the form consent readings are keyed by.
        designation=item.ciphertext.name.split("-")[1],
        source=meta.get("source_uuid"),
        kind=kind,
    )


def item_prefill(workspace: Workspace, item_uuid: str) -> Prefill:
    """What the decrypted report of an item says (an empty prefill for anything else)."""
    document = _document(workspace, item_uuid)
    if document is None:
        return Prefill()
    received = load_item(workspace, item_uuid).receipt.body.get("received_at")
    received_on = dt.date.fromisoformat(str(received)[:10]) if received else None
    return prefill_from_report(document, received_on=received_on)
