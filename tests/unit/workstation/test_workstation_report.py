"""The workstation shows a decrypted report as a readable, inert page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from vault import reports
from workstation.attachments import in_run
from workstation.errors import NotOurFileError
from workstation.report import Attachment, Receipt, render_html, render_report_file


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
        # The country in words, as the source's form names it (CLDR), its code beside it.
        assert "<tr><th>Country</th><td>Congo - Kinshasa <code>CD</code></td></tr>" in page
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
        assert "<tr><th>Country</th><td>Burundi <code>BI</code></td></tr>" in page
        assert "Only through BackUp replies" in page

    @pytest.mark.parametrize(
        ("code", "name"),
        [("SS", "South Sudan"), ("CF", "Central African Republic"), ("MM", "Myanmar (Burma)")],
        ids=["SS", "CF", "MM"],
    )
    def test_a_country_without_region_is_named(self, code: str, name: str) -> None:
        document = reports.alert_from_form({"country": [code]}, today=dt.date(2026, 1, 1))
        page = render_html(document)
        assert f"<tr><th>Country</th><td>{name} <code>{code}</code></td></tr>" in page
        assert '<tr><th>Region</th><td><span class="none">not answered</span></td></tr>' in page

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


class TestReceivedAndAttachments:
    """The page says when the server received the report and which files came with it."""

    def test_receipt_time_and_72_hour_clock(self) -> None:
        document = reports.assist_from_form({"needs": ["medical"], "recent": ["yes"]})
        receipt = Receipt("2026-12-05T21:43:10.123456Z", 41)
        page = render_html(document, receipt=receipt, attachments=[])
        assert "Received by the server: <strong>2026-12-05 21:43:10 UTC</strong>" in page
        assert "(signed custody receipt no. 41)" in page
        assert "the 72 hours end <strong>before 2026-12-08 21:43 UTC</strong>" in page
        assert '<h2>Files sent with it</h2>\n<p class="none">none</p>' in page

    def test_no_clock_when_not_recent(self) -> None:
        document = reports.assist_from_form({"needs": ["medical"], "recent": ["no"]})
        page = render_html(document, receipt=Receipt("2026-12-05T21:43:10Z", 1))
        assert "72 hours end" not in page and "Files sent with it" not in page

    def test_plain_download_says_time_unknown(self) -> None:
        page = render_html(_alert())
        assert "Received by the server: not known from a plain download" in page
        assert "backupctl custody import" in page

    def test_attachments_listed_and_escaped(self) -> None:
        files = [
            Attachment("3-sober_moth-doc-photo.jpg", "no. 3, 1,024 bytes"),
            Attachment("4-sober_moth-doc-<b>.pdf"),
        ]
        page = render_html(_alert(), attachments=files)
        assert "<li><code>3-sober_moth-doc-photo.jpg</code> — no. 3, 1,024 bytes</li>" in page
        assert "<code>4-sober_moth-doc-&lt;b&gt;.pdf</code>" in page


class TestInRun:
    """Plain downloads: a message's files are the next numbers of the same designation."""

    def test_consecutive_documents_only(self, tmp_path: Path) -> None:
        def out(name: str, size: int = 10) -> Path:
            path = tmp_path / name
            path.write_bytes(b"x" * size)
            return path

        pairs = [
            (Path("1-sober_moth-msg.gpg"), out("1-sober_moth-msg.txt")),
            (Path("2-sober_moth-doc.gz.gpg"), out("2-sober_moth-doc-a.jpg", 2048)),
            (Path("3-sober_moth-doc.gz.gpg"), out("3-sober_moth-doc-b.pdf")),
            (Path("4-sober_moth-reply.gpg"), out("4-sober_moth-reply.txt")),
            (Path("5-sober_moth-doc.gz.gpg"), out("5-sober_moth-doc-c.ogg")),  # after a reply
            (Path("2-quiet_fox-doc.gz.gpg"), out("2-quiet_fox-doc-d.jpg")),  # another source
            (Path("6-sober_moth-msg.gpg"), out("6-sober_moth-msg.txt")),
        ]
        found = in_run(pairs)
        assert [a.name for a in found[tmp_path / "1-sober_moth-msg.txt"]] == [
            "2-sober_moth-doc-a.jpg",
            "3-sober_moth-doc-b.pdf",
        ]
        assert found[tmp_path / "1-sober_moth-msg.txt"][0].note == "no. 2, 2,048 bytes"
        assert found[tmp_path / "6-sober_moth-msg.txt"] == []
