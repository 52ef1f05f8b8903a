"""The investigators' guide in the reviewer interface: every role reads it, in French
too; it loads nothing from elsewhere; `backupctl guide pdf` prints it with Chromium into
the instance, and the interface then offers that PDF, whose text is the guide's."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from backupctl.cli import main
from composition.runtime import Runtime
from tests.support.journalist import Account, login, make_account
from vault.models import Role

EN_TITLE = "Documenting conflict-related sexual violence: a guide for investigators"
FR_SECTION = "La chaîne de conservation, pas à pas avec BackUp"


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    """The PDF's text, by poppler's pdftotext (a test dependency: scripts/test.sh)."""
    pdftotext = shutil.which("pdftotext")
    assert pdftotext is not None, "pdftotext (Debian poppler-utils) is needed"
    path = tmp_path / "read.pdf"
    path.write_bytes(data)
    done = subprocess.run([pdftotext, "-enc", "UTF-8", str(path), "-"], capture_output=True)
    assert done.returncode == 0, done.stderr
    return re.sub(r"\s+", " ", done.stdout.decode())


@pytest.mark.parametrize("role", [Role.ANALYST, Role.ADMIN, Role.PARTNER])
def test_every_role_reads_the_guide(app: Flask, runtime: Runtime, role: Role) -> None:
    account: Account = make_account(runtime, f"{role.value}-reader", role)
    client = app.test_client()
    assert client.get("/guide/").status_code == 302  # logged out: to the login page
    assert login(client, account).status_code == 302
    response = client.get("/guide/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert EN_TITLE in html
    assert 'href="#chain-of-custody-step-by-step-with-backup"' in html
    assert 'id="chain-of-custody-step-by-step-with-backup"' in html
    assert 'href="/guide/"' in html  # in the menu
    # Nothing from elsewhere: no external address, the style inline, the strict CSP.
    assert not re.search(r"""(src|href|action)=["']?(https?:)?//""", html)
    assert "<link" not in html and "<script" not in html
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "Download as PDF" not in html  # none built yet


def test_the_guide_in_french(analyst_client: FlaskClient) -> None:
    html = analyst_client.get("/guide/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert FR_SECTION in html
    assert '<article class="guide" lang="fr"' in html
    assert "not yet translated" not in html


def test_pdf_built_then_offered(
    analyst_client: FlaskClient, cli_env: dict[str, str], runtime: Runtime, tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, ["guide", "pdf"], env=cli_env)
    assert result.exit_code == 0, result.output
    built = runtime.config.instance_dir / "guide" / "backup-guide-fr.pdf"
    assert built.is_file()
    assert "fr: " in result.output and "en: " in result.output

    page = analyst_client.get("/guide/").get_data(as_text=True)
    assert 'href="/guide/fr.pdf"' in page and 'href="/guide/en.pdf"' in page
    response = analyst_client.get("/guide/fr.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = _pdf_text(response.get_data(), tmp_path)
    assert FR_SECTION in text
    assert "backupctl custody verify" in text
    assert "Murad Code: Global Code of Conduct" in text
    english = _pdf_text(analyst_client.get("/guide/en.pdf").get_data(), tmp_path)
    assert "Chain of custody, step by step with BackUp" in english
    assert "second edition, 2017" in english
    # Only languages with a guide name a file.
    assert analyst_client.get("/guide/sw.pdf").status_code == 404
    assert analyst_client.get("/guide/..%2Fsecrets.pdf").status_code == 404


def test_pdf_elsewhere_and_refusals(tmp_path: Path) -> None:
    """`--out` needs no instance (build on another machine); an unknown language or a
    missing Chromium is a clear error, and no partial file is left."""
    out = tmp_path / "pdf"
    runner = CliRunner()
    done = runner.invoke(main, ["guide", "pdf", "--language", "en", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert [p.name for p in out.iterdir()] == ["backup-guide-en.pdf"]
    assert (out / "backup-guide-en.pdf").read_bytes().startswith(b"%PDF")
    unknown = runner.invoke(main, ["guide", "pdf", "-l", "xx", "--out", str(out)])
    assert unknown.exit_code == 1 and "no guide in xx" in unknown.output
    missing = runner.invoke(
        main, ["guide", "pdf", "-l", "fr", "--out", str(out), "--chromium", "/nonexistent"]
    )
    assert missing.exit_code == 1 and "could not run /nonexistent" in missing.output
    assert sorted(p.name for p in out.iterdir()) == ["backup-guide-en.pdf"]
