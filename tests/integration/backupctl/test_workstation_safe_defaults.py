"""`backupctl workstation decrypt` is safe by default (real gpg, mat2, SQLite, Redis):

a photo carrying its GPS position, phone and author, and a PDF carrying its author,
sent by a source, are decrypted; the originals are kept as they are, and each also gets
a cleaned copy (mat2) under a neutral name with none of that metadata, and the analyst
is told what was removed. Without mat2 on PATH nothing is decrypted at all, the error
names the package, and the same files decrypt once it is there. After a decryption the
workstation's gpg-agent holds no passphrase: a wrong one decrypts nothing.
"""

from __future__ import annotations

import shutil
import subprocess  # nosec B404
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from backupctl.cli import main
from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.workstation_files import (
    GPS_IFD,
    PERSON,
    PHONE,
    backupctl,
    jpeg_with_gps,
    path_without_mat2,
    pdf_with_author,
)
from vault import codenames
from vault.services import sources
from vault.store import DocumentSink

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

GPG_BATCH = ("gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase-fd", "0")


def _sink(runtime: Runtime, filename: str, data: bytes) -> DocumentSink:
    sink = DocumentSink(runtime.store.begin_unassigned([runtime.submission_fingerprint]), filename)
    sink.write(data)
    return sink


@pytest.fixture
def downloads(runtime: Runtime, tmp_path: Path) -> list[Path]:
    """A report with a photo and a medical certificate, as a reviewer downloads them."""
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        sinks = [
            _sink(runtime, "IMG_20240305_GPS.jpg", jpeg_with_gps()),
            _sink(runtime, f"certificat_medical_{PERSON.split()[0]}.pdf", pdf_with_author()),
        ]
        created = sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, "voir les pièces", sinks
        )
        stored = [(source.uuid, s.filename) for s in created]
    usb = tmp_path / "usb"
    usb.mkdir()
    for source_uuid, name in stored:
        shutil.copy(runtime.store.path_of(source_uuid, name), usb / name)
    return sorted(usb.iterdir())


@pytest.fixture
def home(submission_key: tuple[GeneratedKey, Path], tmp_path: Path) -> Path:
    """A copy of the workstation's GnuPG home, as it was before this change (no conf)."""
    copy = tmp_path / "gnupg"
    shutil.copytree(
        submission_key[1], copy, ignore=shutil.ignore_patterns("S.*", "*.lock", "gpg-agent.conf")
    )
    return copy


def _decrypt_args(home: Path, passphrase_file: Path, out: Path, files: list[Path]) -> list[str]:
    return [
        "workstation",
        "decrypt",
        "--home",
        str(home),
        "--passphrase-file",
        str(passphrase_file),
        "--out",
        str(out),
        *map(str, files),
    ]


def _passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(SUBMISSION_PASSPHRASE + "\n")
    return path


def test_decrypt_keeps_originals_and_makes_cleaned_copies(
    downloads: list[Path], home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "case"
    result = CliRunner().invoke(
        main, _decrypt_args(home, _passphrase_file(tmp_path), out, downloads)
    )
    assert result.exit_code == 0, result.output

    originals = {p.name: p for p in out.iterdir() if p.is_file()}
    photo = next(p for name, p in originals.items() if name.endswith("-doc-IMG_20240305_GPS.jpg"))
    certificate = next(p for name, p in originals.items() if name.endswith("_Jeanne.pdf"))
    # The originals are the evidence: metadata and all.
    original_exif = Image.open(photo).getexif()
    assert original_exif[0x0110] == PHONE and GPS_IFD in original_exif
    assert PERSON.encode() in certificate.read_bytes()

    # Cleaned copies: neutral names (number, kind, extension), no metadata.
    cleaned = {p.name: p for p in (out / "cleaned").iterdir()}
    assert set(cleaned) == {"2-image.jpg", "3-document.pdf"}
    clean_exif = Image.open(cleaned["2-image.jpg"]).getexif()
    assert GPS_IFD not in clean_exif and 0x0110 not in clean_exif and 0x013B not in clean_exif
    assert PHONE.encode() not in cleaned["2-image.jpg"].read_bytes()
    assert PERSON.encode() not in cleaned["2-image.jpg"].read_bytes()
    assert b"Jeanne" not in cleaned["3-document.pdf"].read_bytes()
    for copy in cleaned.values():
        shown = subprocess.run(  # nosec B603 B607
            ["mat2", "--show", str(copy)], capture_output=True, text=True, check=True
        )
        assert PERSON not in shown.stdout and "GPS" not in shown.stdout, shown.stdout
        assert "author" not in shown.stdout and "Model" not in shown.stdout, shown.stdout
        assert copy.stat().st_mode & 0o777 == 0o600

    # The analyst is told what the originals carry and where the copies are.
    assert f"{photo.name} -> {cleaned['2-image.jpg']} (cleaned copy: share only this)" in (
        result.output
    )
    assert f"WARNING: {photo.name} carries metadata" in result.output
    assert f"WARNING: {certificate.name} carries metadata" in result.output
    for removed in ("GPSLatitude:", f"Model: {PHONE}", f"Artist: {PERSON}", f"author: Dr {PERSON}"):
        assert f"removed  {removed}" in result.output
    assert not list(out.glob(".backup-*"))  # no scratch left behind


def test_without_mat2_nothing_is_decrypted_and_later_it_works(
    downloads: list[Path], home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "case"
    args = _decrypt_args(home, _passphrase_file(tmp_path), out, downloads)
    refused = backupctl(*args, path=path_without_mat2(tmp_path))
    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "mat2 is not installed" in refused.stderr
    assert "install the Debian package `mat2`" in refused.stderr
    assert not out.exists()  # nothing written, not even the folder

    done = backupctl(*args)  # mat2 installed now: the same files decrypt
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (out / "cleaned").iterdir()} == {"2-image.jpg", "3-document.pdf"}
    assert len([p for p in out.iterdir() if p.is_file()]) == 3


def test_the_agent_keeps_no_passphrase_after_a_decryption(
    downloads: list[Path], home: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, _decrypt_args(home, _passphrase_file(tmp_path), tmp_path / "case", downloads)
    )
    assert result.exit_code == 0, result.output

    def gpg_decrypt(passphrase: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # nosec B603 B607
            [*GPG_BATCH, "--homedir", str(home), "--decrypt", str(downloads[0])],
            input=passphrase.encode() + b"\n",
            capture_output=True,
            check=False,
        )

    # The agent that served the decryption is still running, and has nothing cached.
    wrong = gpg_decrypt("not the passphrase")
    assert wrong.returncode != 0 and wrong.stdout == b"", wrong.stderr
    assert b"Bad passphrase" in wrong.stderr or b"decryption failed" in wrong.stderr
    assert gpg_decrypt(SUBMISSION_PASSPHRASE).returncode == 0
    assert gpg_decrypt("not the passphrase").returncode != 0
