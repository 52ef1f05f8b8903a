"""`backupctl workstation decrypt` turns a sealed ALERT report into a readable page."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from click.testing import CliRunner

from backupctl.cli import main
from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from vault import codenames, reports
from vault.services import sources
from vault.store import DocumentSink


def test_report_is_decrypted_and_rendered(
    runtime: Runtime, submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    form = {"violence": ["forced_pregnancy"], "region": ["GN-N"], "account": ["<b>bold</b>"]}
    document = reports.alert_from_form(form, today=dt.date(2026, 1, 1))
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        sink = DocumentSink(
            runtime.store.begin_unassigned([runtime.submission_fingerprint]), "carte.png"
        )
        sink.write(b"\x89PNG not really" * 10)
        created = sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, reports.dumps(document),
            [sink],
        )  # fmt: skip
        sources.submit(db, runtime.store, source, runtime.submission_fingerprint, "plain", [])
        names = [created[0].filename, created[1].filename, f"3-{source.slug}-msg.gpg"]
        paths = [runtime.store.path_of(source.uuid, name) for name in names]
        slug = source.slug
    usb = tmp_path / "usb"
    usb.mkdir()
    for path in paths:
        shutil.copy(path, usb / path.name)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(SUBMISSION_PASSPHRASE + "\n")
    out = tmp_path / "out"
    args = ["workstation", "decrypt", "--home", str(submission_key[1])]
    args += ["--passphrase-file", str(passphrase), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, *[str(usb / name) for name in names]])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        f"1-{slug}-msg.txt",
        f"1-{slug}-report.html",
        f"2-{slug}-doc-carte.png",  # the attachment keeps its source and number
        f"3-{slug}-msg.txt",  # an ordinary message gets no page
    ]
    assert reports.loads((out / f"1-{slug}-msg.txt").read_text()) == document
    page = (out / f"1-{slug}-report.html").read_text()
    assert "Forced pregnancy <code>forced_pregnancy</code>" in page
    assert "<tr><th>Country</th><td>Guinea <code>GN</code></td></tr>" in page
    assert "Nzérékoré <code>GN-N</code>" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    # The file sent with it is listed; the time received is not in a plain download.
    files = page.split("<h2>Files sent with it</h2>")[1]
    assert f"<li><code>2-{slug}-doc-carte.png</code> — no. 2, 150 bytes</li>" in files
    assert f"3-{slug}" not in files
    assert "Received by the server: not known from a plain download" in page
    assert f"1-{slug}-report.html (report, readable page)" in result.output
