"""`backupctl guide pdf`: the investigators' guide as PDF, one file per language.

Printed by headless Chromium from the same Markdown source the reviewer interface shows
(journalist_app.guide_text), as one self-contained page with network lookups disabled.
By default the files go into the instance directory (`guide/backup-guide-<code>.pdf`),
where the reviewer interface offers them for download; `--out` writes them anywhere else
(to build them on another machine than the server, which does not need Chromium).
"""

from __future__ import annotations

import os
import subprocess  # nosec B404: runs Chromium, a fixed argument list
import tempfile
from pathlib import Path

import click

from backupctl._common import CliState
from journalist_app import guide_text
from journalist_app.guide import PDF_FOLDER, pdf_name

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_SECONDS = 120


def build_pdf(language: str, out_dir: Path, chromium: str = CHROMIUM) -> Path:
    """Print the guide in `language` to `out_dir`/backup-guide-<language>.pdf; the file
    appears whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / pdf_name(language)
    with tempfile.TemporaryDirectory(prefix="backup-guide-") as tmp:
        page = Path(tmp) / "guide.html"
        page.write_text(guide_text.standalone_html(language), encoding="utf-8")
        printed = Path(tmp) / "guide.pdf"
        args = [
            chromium,
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            # Nothing is fetched: the page is self-contained, and no name resolves.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={printed}",
            page.as_uri(),
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses root otherwise
        try:
            done = subprocess.run(  # nosec B603: a fixed argument list, no shell
                args, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise click.ClickException(f"could not run {chromium}: {exc}") from exc
        if not printed.is_file() or not printed.read_bytes().startswith(b"%PDF"):
            detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise click.ClickException(
                f"{chromium} printed no PDF (exit {done.returncode}): {' '.join(detail)}"
            )
        partial = target.with_suffix(".pdf.part")
        partial.write_bytes(printed.read_bytes())
        partial.replace(target)
    return target


@click.group("guide")
def guide() -> None:
    """The investigators' guide (read in the reviewer interface, printed as PDF)."""


@guide.command("pdf")
@click.option(
    "--language",
    "-l",
    "languages",
    multiple=True,
    help="A language code with a guide (repeat; default: every language that has one).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the PDFs (default: the instance's guide/ folder, served there).",
)
@click.option("--chromium", default=CHROMIUM, show_default=True, help="The Chromium to print with.")
@click.pass_obj
def pdf(state: CliState, languages: tuple[str, ...], out: Path | None, chromium: str) -> None:
    """Build the guide's PDF, one file per language."""
    available = guide_text.available_languages()
    unknown = [code for code in languages if code not in available]
    if unknown:
        raise click.ClickException(
            f"no guide in {', '.join(unknown)}; there is one in {', '.join(available)}"
        )
    out_dir = out if out is not None else state.config().instance_dir / PDF_FOLDER
    for code in languages or tuple(available):
        click.echo(f"{code}: {build_pdf(code, out_dir, chromium)}")
