"""The human-readable summary of a judicial file: a PDF a court clerk can read.

It restates what the signed manifest proves, in words: what was received and when, the
fingerprints of the keys, each item's hashes, the consent to court relied on, and every
custody event. The PDF itself is covered by the signed manifest; it is a reading aid,
the JSON is authoritative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF

from workstation.judicial_consent import KEY as CONSENT_KEY
from workstation.judicial_consent import consent_lines

__all__ = ["render_summary"]

_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


def _pdf() -> tuple[FPDF, str]:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_creator("BackUp workstation")
    regular, bold = _FONT_DIR / "DejaVuSans.ttf", _FONT_DIR / "DejaVuSans-Bold.ttf"
    if regular.exists() and bold.exists():
        # A Unicode font: sources name files in Kinyarwanda, Swahili, Arabic...
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
        return pdf, "DejaVu"
    return pdf, "Helvetica"


def _text(family: str, value: object) -> str:
    text = str(value)
    if family == "Helvetica":
        return text.encode("latin-1", "replace").decode("latin-1")
    return text


def render_summary(
    manifest: Mapping[str, Any], log: Sequence[Mapping[str, Any]], out: Path
) -> None:
    pdf, family = _pdf()
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def line(text: object, size: int = 10, style: str = "") -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(width, size * 0.55, _text(family, text), new_x="LMARGIN", new_y="NEXT")

    line("Judicial file - chain of custody summary", 16, "B")
    line(str(manifest.get("title", "")), 12)
    pdf.ln(2)
    line(f"Judicial file id: {manifest['judicial_uuid']}")
    line(f"Built (UTC): {manifest['created_at']} by {manifest['created_by']}")
    line(f"Workstation key fingerprint (signs this file): {manifest['workstation_key']}")
    for fingerprint in manifest["receipt_keys"]:
        line(f"Server receipt key fingerprint: {fingerprint}")
    pdf.ln(3)
    line("Items", 13, "B")
    for item in manifest["items"]:
        receipt = item["receipt"]["body"]
        original = item["original"]
        line(f"{item['kind']} {item['uuid']} (source {item['designation']})", 11, "B")
        line(
            f"Received by the server (UTC): {receipt['received_at']}, receipt no. {receipt['seq']}"
        )
        line(f"Encrypted as received: {receipt['size']} bytes, SHA-256 {receipt['sha256']}")
        line(f"Original file: {original['name']} ({original.get('media_type') or 'unknown type'})")
        line(f"Original: {original['size']} bytes, SHA-256 {original['sha256']}")
        checked = "matches" if original.get("manifest_checked") else "has no"
        line(f"The original {checked} the manifest sealed by the server on receipt.")
        anchor = item.get("first_anchor")
        if anchor:
            line(
                f"Time-stamped (RFC 3161) by {anchor['tsa']} at {anchor['at']} (UTC), chain "
                f"position {anchor['seq']}: the receipt existed no later than that."
            )
        pdf.ln(2)
    consent = manifest.get(CONSENT_KEY)
    if consent is not None:
        line("Consent to use in court", 13, "B")
        line(
            "The source's latest consent known to the workstation, read there from the "
            "document named (which is not in this file); the receipt shows when the server "
            "received it."
        )
        for text in consent_lines(consent):
            line(text)
        pdf.ln(3)
    line("Custody events on the workstation", 13, "B")
    for entry in log:
        details = entry.get("details", {})
        what = details.get("item") or details.get("judicial_uuid") or ""
        line(f"#{entry['seq']} {entry['at']} {entry['actor']}: {entry['action']} {what}", 8)
    pdf.ln(3)
    line("How to verify", 13, "B")
    line(
        "Run `backupctl custody verify FILE.zip` with the two fingerprints above, obtained "
        "from the organisation independently of this file. It checks, with public keys "
        "only: the signature of JUDICIAL-MANIFEST.json; the hash of every file; each "
        "server receipt's signature and its place in the receipt chain; that each "
        "encrypted file is the one received; the workstation custody log; that each "
        "original is the one decrypted and checked on the workstation; and each time-stamp "
        "against its authority's certificate (compare its fingerprint too)."
    )
    pdf.output(str(out))
