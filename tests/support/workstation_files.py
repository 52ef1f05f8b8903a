"""Files that carry identifying metadata, and the real `backupctl` run with a chosen
PATH: what the workstation tests feed to mat2 and gpg."""

from __future__ import annotations

import io
import os
import shutil
import subprocess  # nosec B404
import sys
from pathlib import Path

from fpdf import FPDF
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PERSON = "Jeanne Mukamana"
PHONE = "SM-A145F"
GPS_IFD = 0x8825


def jpeg_with_gps() -> bytes:
    """A real JPEG whose EXIF says where it was taken, with which phone, and by whom."""
    exif = Image.Exif()
    exif[0x010F] = "samsung"  # Make
    exif[0x0110] = PHONE  # Model
    exif[0x013B] = PERSON  # Artist
    exif[GPS_IFD] = {1: "S", 2: (3.0, 22.0, 51.0), 3: "E", 4: (29.0, 21.0, 34.0)}
    out = io.BytesIO()
    Image.new("RGB", (48, 32), (120, 40, 40)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def pdf_with_author() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_author(f"Dr {PERSON}")
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Certificat medical")
    return bytes(pdf.output())


def path_without_mat2(tmp_path: Path) -> str:
    """A PATH holding gpg's programs and nothing else: mat2 is absent."""
    bin_dir = tmp_path / "bin-without-mat2"
    bin_dir.mkdir()
    for program in ("gpg", "gpgconf", "gpg-agent", "gpg-connect-agent"):
        found = shutil.which(program)
        assert found is not None, program
        (bin_dir / program).symlink_to(found)
    assert shutil.which("mat2", path=str(bin_dir)) is None
    return str(bin_dir)


def backupctl(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, in a process of its own (with PATH as given)."""
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(  # nosec B603
        [sys.executable, "-m", "backupctl", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
