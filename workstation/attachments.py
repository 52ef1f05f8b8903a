"""Which files were sent with a report, and the report pages that list them.

A source's message and the files sent in the same submission get consecutive numbers
N, N+1, … (`vault.services.sources`); a reply or a later submission takes the next
number. Two ways to tell which files belong to a message:

- In a workspace (items imported from export bundles): the items of the same source
  whose signed receipts directly follow the message's (one submission is receipted in
  one transaction, under the chain lock: nothing else can come between), numbered
  N+1, N+2, …, received within `SAME_SUBMISSION` of it.
- For plain downloads decrypted with `backupctl workstation decrypt`: the documents of
  the same designation numbered N+1, N+2, … in the same run (no receipt, so no time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

from workstation.bundle import EvidenceItem, imported_items
from workstation.custody_log import Workspace
from workstation.decrypt import download_parts
from workstation.report import Attachment, Receipt, write_report

__all__ = ["SAME_SUBMISSION", "in_run", "in_workspace", "refresh_reports", "report_path"]

SAME_SUBMISSION = dt.timedelta(minutes=1)
REPORTS_DIR = "reports"


def in_run(pairs: Sequence[tuple[Path, Path]]) -> dict[Path, list[Attachment]]:
    """For each decrypted message of a run ((download, output) pairs), its files."""
    parsed: dict[tuple[str, int], tuple[str, Path]] = {}
    for download, output in pairs:
        parts = download_parts(download.name)
        if parts is not None:
            number, designation, kind = parts
            parsed[(designation, number)] = (kind, output)
    found: dict[Path, list[Attachment]] = {}
    for (designation, number), (kind, output) in parsed.items():
        if kind != "msg":
            continue
        files = []
        following = number + 1
        while (entry := parsed.get((designation, following))) and entry[0] == "doc":
            size = entry[1].stat().st_size
            files.append(Attachment(entry[1].name, f"no. {following}, {size:,} bytes"))
            following += 1
        found[output] = files
    return found


def _stamp(item: EvidenceItem) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(item.received_at.replace("Z", "+00:00"))
    except ValueError:
        return None


def _original(workspace: Workspace, item: EvidenceItem) -> Path | None:
    folder = workspace.dir("originals") / item.uuid
    found = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return found[0] if len(found) == 1 else None


def in_workspace(
    workspace: Workspace, message: EvidenceItem, items: Sequence[EvidenceItem] | None = None
) -> list[Attachment]:
    """The files imported in `workspace` that were sent with `message`."""
    by_seq = {i.receipt_seq: i for i in (items if items is not None else imported_items(workspace))}
    sent = _stamp(message)
    files: list[Attachment] = []
    while True:
        item = by_seq.get(message.receipt_seq + len(files) + 1)
        if (
            item is None
            or item.kind != "file"
            or item.source_uuid != message.source_uuid
            or item.number != message.number + len(files) + 1
        ):
            break
        when = _stamp(item)
        if sent is None or when is None or abs(when - sent) > SAME_SUBMISSION:
            break
        original = _original(workspace, item)
        if original is not None:
            note = f"item {item.uuid[:8]}, decrypted: originals/{item.uuid}/{original.name}"
            files.append(Attachment(original.name, note))
        else:
            note = f"item {item.uuid[:8]}, not decrypted yet (custody decrypt {item.uuid[:8]})"
            files.append(Attachment(item.ciphertext.name, note))
    return files


def report_path(workspace: Workspace, message: EvidenceItem) -> Path:
    """`reports/N-designation-report.html` in the workspace."""
    prefix = message.ciphertext.name.removesuffix("-msg.gpg")
    return workspace.dir(REPORTS_DIR) / f"{prefix}-report.html"


def refresh_reports(workspace: Workspace, source_uuids: Iterable[str]) -> list[Path]:
    """(Re)write the report page of every decrypted report of these sources, with the
    time received and the files sent with it as the workspace knows them now."""
    wanted = set(source_uuids)
    items = imported_items(workspace)
    written = []
    for message in items:
        if message.kind != "message" or message.source_uuid not in wanted:
            continue
        original = _original(workspace, message)
        if original is None:
            continue
        target = report_path(workspace, message)
        page = write_report(
            original,
            target,
            label=target.name.removesuffix("-report.html"),
            receipt=Receipt(message.received_at, message.receipt_seq),
            attachments=in_workspace(workspace, message, items),
        )
        if page is not None:
            written.append(page)
    return written
