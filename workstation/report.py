"""Render a decrypted ALERT / ASSIST / consent document as a page an analyst can read.

A report arrives as a message (`N-designation-msg.txt` once decrypted) whose text is a
`vault.reports` JSON document. `render_html` turns it into one self-contained HTML page:
no script, no outside resource, every value escaped (what a source typed is data, never
markup). Labels are English for the analysts; the codes stay visible beside them, so
coding an incident never depends on a translation. A country is named in words as the
source's form names it in English (CLDR, through Babel: `Congo - Kinshasa CD`), a
region by its official ISO 3166-2 name (`vault.regions`).

The page also says when the server received the report and which files came with it:

- **Received**: from the signed custody receipt (`received_at`, UTC) when the item came
  in an export bundle (`backupctl custody decrypt`). A plain download carries no time:
  the page says so, and how to get it. For an ASSIST request whose violence was less
  than 72 hours old, the page gives the latest time the 72 hours can end (received +
  72 h): medical care that must start within 72 hours is measured against it.
- **Files sent with it**: a source's message and the files sent in the same submission
  get consecutive numbers (N, N+1, …). For a workspace, the files are the items of the
  same source whose receipts directly follow the message's in the signed chain (one
  submission is receipted in one transaction, under the chain lock), received within
  the same minute; for plain downloads, the files of the same designation numbered
  N+1, N+2, … decrypted in the same run.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale

from vault import reports
from vault.regions import REGIONS
from workstation.errors import NotOurFileError
from workstation.filenames import reserve_unique

__all__ = ["Attachment", "Receipt", "render_html", "render_report_file", "write_report"]


@dataclass(frozen=True)
class Attachment:
    """A file sent with the report: its decrypted name (or stored name, if not decrypted
    yet), and a note (size, or how to decrypt it)."""

    name: str
    note: str = ""


@dataclass(frozen=True)
class Receipt:
    """When the server received the item, from its signed custody receipt."""

    received_at: str  # ISO 8601 UTC, as in the receipt ("2026-12-05T21:43:10.123456Z")
    seq: int


_NOT_RECEIPTED = (
    "not known from a plain download: import the export bundle "
    "(backupctl custody import, then custody decrypt) to read it from the signed "
    "custody receipt"
)

_LABELS: dict[str, str] = {
    # who
    "survivor": "Survivor (it happened to them)",
    "family": "Family member",
    "witness": "Witness",
    "activist": "Activist or investigator",
    "health": "Health professional",
    "legal": "Legal professional",
    "social": "Social worker",
    # what (International Protocol categories)
    "rape": "Rape",
    "sexual_slavery": "Sexual slavery",
    "forced_prostitution": "Forced prostitution",
    "forced_pregnancy": "Forced pregnancy",
    "enforced_sterilisation": "Enforced sterilisation",
    "sexual_mutilation_torture": "Sexual mutilation or torture",
    "forced_nudity": "Forced nudity",
    "female": "Female",
    "male": "Male",
    "state_forces": "State forces",
    "armed_group": "Armed group",
    "police": "Police",
    "civilians": "Civilians",
    "unknown": "Unknown",
    "photos": "Photos or videos",
    "medical_records": "Medical records",
    "witnesses": "Witnesses",
    "documents": "Other documents",
    "medical": "Urgent medical care",
    "psychosocial": "Psychosocial support",
    "safety": "Safety / shelter",
    "livelihood": "Livelihood",
    "today": "Today",
    "this_week": "This week",
    "later": "Can wait",
    "handle_case": "WWoW may handle the case",
    "refer_partner": "WWoW may refer to a partner professional",
    "contact_partner": "The partner may contact the source directly",
    "statistics": "Anonymous statistics",
    "court": "Use in a court case",
    "backup": "Only through BackUp replies",
    "yes": "Yes",
    "no": "No",
    "unsure": "Not sure",
    "other": "Other",
}
_REGION_NAMES = {code: name for regions in REGIONS.values() for code, name in regions.items()}
# The names the source's form shows in English (source_app.forms_labels.countries).
_COUNTRY_NAMES = Locale("en").territories
_STYLE = (
    "body{font:16px/1.5 sans-serif;max-width:50rem;margin:1rem auto;padding:0 1rem}"
    "th{text-align:start;vertical-align:top;padding-inline-end:1rem}"
    ".free{white-space:pre-wrap;overflow-wrap:anywhere;border:1px solid #999;padding:.5rem}"
    ".none{color:#666}.clock{border-left:4px solid #a00;padding-left:.5rem}"
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _code(value: Any) -> str:
    if value is None or value == []:
        return '<span class="none">not answered</span>'
    if isinstance(value, list):
        return "<br>".join(_code(item) for item in value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    label = _LABELS.get(str(value)) or _REGION_NAMES.get(str(value))
    return f"{_e(label)} <code>{_e(value)}</code>" if label else _e(value)


def _country(value: Any) -> str:
    """`Congo - Kinshasa CD`: the country's name in words, its code beside it."""
    name = _COUNTRY_NAMES.get(value) if isinstance(value, str) else None
    return f"{_e(name)} <code>{_e(value)}</code>" if name else _code(value)


def _free(value: Any) -> str:
    if value is None:
        return '<span class="none">not answered</span>'
    return f'<div class="free">{_e(value)}</div>'


def _when(when: Mapping[str, Any] | None) -> str:
    if not when:
        return _code(None)
    text = _e(when.get("date", "no date"))
    if when.get("precision"):
        text += f" (precision: {_e(when['precision'])})"
    return text + ("; still ongoing" if when.get("ongoing") else "")


def _consent_rows(consent: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One row per use. From version 2, a use the source left "as before" is absent from
    the document: the answer of an earlier document stands (`vault.consent`)."""
    rows = []
    for name in reports.CONSENTS:
        if name not in consent:
            answer = "unchanged (the earlier answer stands; none: treat as no)"
        elif consent[name] is None:
            answer = "not now (treat as no)"
        else:
            answer = "Yes" if consent[name] else "No"
        rows.append((_LABELS[name], _e(answer)))
    return rows


def _alert_rows(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    where = alert.get("where") or {}
    victims = alert.get("victims") or {}
    perpetrators = alert.get("perpetrators") or {}
    return [
        ("Who is reporting", _code(alert.get("reporter"))),
        ("What happened", _code(alert.get("violence"))),
        ("When", _when(alert.get("when"))),
        ("Country", _country(where.get("country"))),
        ("Region", _code(where.get("region"))),
        ("Place (as written)", _free(where.get("place"))),
        ("Number of victims", _code(victims.get("count"))),
        ("Sex of victims", _code(victims.get("sex"))),
        ("Age bands", _code(victims.get("age_bands"))),
        ("Perpetrators", _code(perpetrators.get("categories"))),
        ("Number of perpetrators", _code(perpetrators.get("count"))),
        ("Evidence available", _code(alert.get("evidence"))),
        ("In their own words", _free(alert.get("account"))),
    ]


def _assist_rows(assist: Mapping[str, Any]) -> list[tuple[str, str]]:
    contact = assist.get("contact") or {}
    where = assist.get("where") or {}
    return [
        ("Needs", _code(assist.get("needs"))),
        ("How urgent", _code(assist.get("urgency"))),
        ("Violence in the last 72 hours", _code(assist.get("within_72_hours"))),
        ("Country", _country(where.get("country"))),
        ("Region", _code(where.get("region"))),
        *_consent_rows(assist.get("consent") or {}),
        ("Reach them", _code(contact.get("method"))),
        ("Contact given (sealed)", _free(contact.get("details"))),
    ]


_TITLES = {"alert": "ALERT report", "assist": "ASSIST request", "consent": "Change of consent"}


def _parse_utc(stamp: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None


def _received_block(document: Mapping[str, Any], receipt: Receipt | None) -> str:
    if receipt is None:
        return f'<p class="received">Received by the server: {_e(_NOT_RECEIPTED)}.</p>'
    when = _parse_utc(receipt.received_at)
    shown = when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else receipt.received_at
    block = (
        f'<p class="received">Received by the server: <strong>{_e(shown)}</strong> '
        f"(signed custody receipt no. {_e(receipt.seq)}).</p>"
    )
    body = document.get(str(document.get("kind")))
    recent = body.get("within_72_hours") if isinstance(body, Mapping) else None
    if when is not None and recent == "yes":
        end = (when + dt.timedelta(hours=72)).strftime("%Y-%m-%d %H:%M UTC")
        block += (
            '<p class="clock">The violence was less than 72 hours old when this was sent: '
            f"the 72 hours end <strong>before {_e(end)}</strong> (received + 72 hours).</p>"
        )
    return block


def _attachments_block(attachments: Sequence[Attachment] | None) -> str:
    if attachments is None:
        return ""
    if not attachments:
        return '<h2>Files sent with it</h2>\n<p class="none">none</p>'
    items = "\n".join(
        f"<li><code>{_e(a.name)}</code>" + (f" — {_e(a.note)}" if a.note else "") + "</li>"
        for a in attachments
    )
    return f"<h2>Files sent with it</h2>\n<ul>\n{items}\n</ul>"


def render_html(
    document: Mapping[str, Any],
    *,
    label: str = "",
    receipt: Receipt | None = None,
    attachments: Sequence[Attachment] | None = None,
) -> str:
    """One readable page for a report document (as returned by `reports.loads`): when
    it was received (`receipt`, if known) and the files sent with it (`attachments`;
    None leaves the list out)."""
    kind = str(document["kind"])
    body = document[kind]
    if kind == "alert":
        rows = _alert_rows(body)
    elif kind == "assist":
        rows = _assist_rows(body)
    else:
        rows = _consent_rows(body)
    title = _TITLES.get(kind, kind) + (f" — {label}" if label else "")
    table = "\n".join(f"<tr><th>{_e(name)}</th><td>{value}</td></tr>" for name, value in rows)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{_e(title)}</h1>\n{_received_block(document, receipt)}\n"
        f"<p>Schema {_e(document['schema'])}, version {_e(document['version'])}.</p>\n"
        f"<table>\n{table}\n</table>\n{_attachments_block(attachments)}\n</body></html>\n"
    )


def _document(message: Path) -> dict[str, Any] | None:
    try:
        return reports.loads(message.read_text(encoding="utf-8"))
    except reports.ReportError as exc:
        raise NotOurFileError(f"{message.name}: a report this workstation cannot read") from exc
    except UnicodeDecodeError:
        return None


def render_report_file(
    message: Path,
    out_dir: Path,
    *,
    attachments: Sequence[Attachment] | None = None,
    receipt: Receipt | None = None,
) -> Path | None:
    """`N-designation-msg.txt` -> `N-designation-report.html`, if it holds a report
    (never overwriting: a taken name gets a suffix).

    Returns None for an ordinary message. Raises NotOurFileError for a report of a
    version or kind this workstation does not know (update the workstation).
    """
    document = _document(message)
    if document is None:
        return None
    prefix = message.name.removesuffix("-msg.txt")
    page = render_html(document, label=prefix, receipt=receipt, attachments=attachments)
    path, fd = reserve_unique(out_dir, f"{prefix}-report.html")
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(page)
    return path


def write_report(
    message: Path,
    target: Path,
    *,
    label: str,
    attachments: Sequence[Attachment] | None = None,
    receipt: Receipt | None = None,
) -> Path | None:
    """Write (or replace) the report page `target` for a decrypted message: a derived
    view, rewritten as more of its files are decrypted. None for an ordinary message."""
    document = _document(message)
    if document is None:
        return None
    page = render_html(document, label=label, receipt=receipt, attachments=attachments)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.new")
    scratch.unlink(missing_ok=True)
    fd = os.open(
        scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
    )
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(page)
    os.replace(scratch, target)
    return target
