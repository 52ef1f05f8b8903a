"""The workstation shows a decrypted report as a readable, inert page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from vault import reports
from workstation.errors import NotOurFileError
from workstation.report import render_html, render_report_file


def _alert() -> dict[str, object]:
    form = {
        "reporter": ["survivor"],
        "violence": ["rape", "sexual_slavery"],
        "region": ["CD-SK"],
        "victims_count": ["2"],
        "victims_sex": ["male"],
        "account": ["<script>alert(1)</script> they came"],
    }
    return reports.alert_from_form(form, today=dt.date(2026, 1, 1))


class TestRender:
    """Every answer is shown, labelled, and escaped."""

    def test_alert_page(self) -> None:
        page = render_html(_alert(), label="3-sober_moth")
        assert "<title>ALERT report — 3-sober_moth</title>" in page
        assert "Sexual slavery <code>sexual_slavery</code>" in page
        assert "Sud-Kivu <code>CD-SK</code>" in page
        assert "Male <code>male</code>" in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; they came" in page
        assert "<script" not in page and "http" not in page
        assert "not answered" in page  # skipped questions are shown as skipped

    def test_assist_page_shows_consent_plainly(self) -> None:
        document = reports.assist_from_form(
            {
                "needs": ["legal"],
                "consent_court": ["yes"],
                "consent_statistics": ["no"],
                "consent_contact_partner": ["not_now"],
                "region": ["BI-GI"],
            }
        )
        page = render_html(document)
        assert "<tr><th>Use in a court case</th><td>Yes</td></tr>" in page
        assert "<tr><th>Anonymous statistics</th><td>No</td></tr>" in page
        assert (
            "<tr><th>The partner may contact the source directly</th>"
            "<td>not now (treat as no)</td></tr>"
        ) in page
        assert "unchanged (the earlier answer stands; none: treat as no)" in page
        assert "Gitega <code>BI-GI</code>" in page
        assert "Only through BackUp replies" in page

    def test_change_of_consent_in_both_versions(self) -> None:
        """Version 2 is flat and may leave uses unchanged; version 1 (nested) still reads."""
        change = reports.consent_from_form({"consent_refer_partner": ["yes"]})
        page = render_html(change)
        assert "<tr><th>WWoW may refer to a partner professional</th><td>Yes</td></tr>" in page
        assert "<tr><th>Use in a court case</th><td>unchanged" in page
        old = reports.loads(
            '{"schema": "backup.source-report", "version": 1, "kind": "consent", "consent": '
            '{"consent": {"handle_case": null, "refer_partner": null, "statistics": null, '
            '"court": true}}}'
        )
        assert old is not None
        page = render_html(old)
        assert "<tr><th>Use in a court case</th><td>Yes</td></tr>" in page
        assert "Schema backup.source-report, version 1." in page


class TestFiles:
    """`N-designation-msg.txt` beside its readable page."""

    def test_report_message(self, tmp_path: Path) -> None:
        message = tmp_path / "1-sober_moth-msg.txt"
        message.write_text(reports.dumps(_alert()), encoding="utf-8")
        page = render_report_file(message, tmp_path)
        assert page == tmp_path / "1-sober_moth-report.html"
        assert "Sud-Kivu" in page.read_text()
        again = render_report_file(message, tmp_path)
        assert again == tmp_path / "1-sober_moth-report_2.html"  # never overwritten

    def test_plain_message(self, tmp_path: Path) -> None:
        message = tmp_path / "2-sober_moth-msg.txt"
        message.write_text("just words", encoding="utf-8")
        assert render_report_file(message, tmp_path) is None

    def test_future_version(self, tmp_path: Path) -> None:
        message = tmp_path / "2-sober_moth-msg.txt"
        message.write_text('{"schema": "backup.source-report", "version": 9}', encoding="utf-8")
        with pytest.raises(NotOurFileError):
            render_report_file(message, tmp_path)
