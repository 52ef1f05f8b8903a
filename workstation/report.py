"""Render a decrypted ALERT / ASSIST / consent document as a page an analyst can read.

A report arrives as a message (`N-designation-msg.txt` once decrypted) whose text is a
`vault.reports` JSON document. `render_html` turns it into one self-contained HTML page:
no script, no outside resource, every value escaped (what a source typed is data, never
markup). Labels are English for the analysts; the codes stay visible beside them, so
coding an incident never depends on a translation.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vault import reports
from vault.regions import REGIONS
from workstation.errors import NotOurFileError
from workstation.filenames import reserve_unique

__all__ = ["render_html", "render_report_file"]

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
_STYLE = (
    "body{font:16px/1.5 sans-serif;max-width:50rem;margin:1rem auto;padding:0 1rem}"
    "th{text-align:start;vertical-align:top;padding-inline-end:1rem}"
    ".free{white-space:pre-wrap;overflow-wrap:anywhere;border:1px solid #999;padding:.5rem}"
    ".none{color:#666}"
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
        ("Country", _code(where.get("country"))),
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
        ("Country", _code(where.get("country"))),
        ("Region", _code(where.get("region"))),
        *_consent_rows(assist.get("consent") or {}),
        ("Reach them", _code(contact.get("method"))),
        ("Contact given (sealed)", _free(contact.get("details"))),
    ]


_TITLES = {"alert": "ALERT report", "assist": "ASSIST request", "consent": "Change of consent"}


def render_html(document: Mapping[str, Any], *, label: str = "") -> str:
    """One readable page for a report document (as returned by `reports.loads`)."""
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
        f"<h1>{_e(title)}</h1>\n<p>Schema {_e(document['schema'])}, version "
        f"{_e(document['version'])}.</p>\n<table>\n{table}\n</table>\n</body></html>\n"
    )


def render_report_file(message: Path, out_dir: Path) -> Path | None:
    """`N-designation-msg.txt` -> `N-designation-report.html`, if it holds a report.

    Returns None for an ordinary message. Raises NotOurFileError for a report of a
    version or kind this workstation does not know (update the workstation).
    """
    try:
        document = reports.loads(message.read_text(encoding="utf-8"))
    except reports.ReportError as exc:
        raise NotOurFileError(f"{message.name}: a report this workstation cannot read") from exc
    except UnicodeDecodeError:
        return None
    if document is None:
        return None
    prefix = message.name.removesuffix("-msg.txt")
    path, fd = reserve_unique(out_dir, f"{prefix}-report.html")
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(render_html(document, label=prefix))
    return path
