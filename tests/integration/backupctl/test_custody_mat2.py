"""`backupctl custody decrypt` and mat2 (real gpg, mat2, SQLite, Redis; the real command
in a process of its own, with the PATH it is given):

without mat2, nothing is decrypted, the error names the package and the item stays
decryptable; if mat2 is stopped mid-way, nothing unstripped is left in `working/` (the
folder that is shared), nothing is logged, and the item can be decrypted again; with
mat2, the working copy carries a neutral name and no metadata, and the analyst is told
what was removed. The original keeps its name and metadata: it is the evidence.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from backupctl.cli import main
from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import FAST_HASHER
from tests.support.workstation_files import (
    PERSON,
    backupctl,
    path_without_mat2,
    pdf_with_author,
)
from vault import codenames
from vault.models import Role
from vault.services import export, reviewers, sources
from vault.store import DocumentSink

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WS_PASSPHRASE = "workstation key passphrase for tests"
NAME = "certificat_medical_Jeanne.pdf"


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _bundle(runtime: Runtime, tmp_path: Path) -> Path:
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        sink = DocumentSink(runtime.store.begin_unassigned([runtime.submission_fingerprint]), NAME)
        sink.write(pdf_with_author())
        fingerprint = runtime.submission_fingerprint
        sources.submit(db, runtime.store, source, fingerprint, "certificat", [sink])
        analyst, _ = reviewers.create_reviewer(db, "analyst9", Role.ANALYST, hasher=FAST_HASHER)
        bundle = tmp_path / "export.zip"
        with bundle.open("wb") as out:
            export.build_export(db, runtime.store, analyst, [source.uuid], out)
    return bundle


def test_custody_decrypt_needs_mat2_and_leaves_nothing_unstripped(
    runtime: Runtime, submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    bundle = _bundle(runtime, tmp_path)
    pub = tmp_path / "receipt.pem"
    pub.write_text(runtime.receipt_key.verify_key.pem())
    ws, key_pass, sub_pass = tmp_path / "ws", tmp_path / "ws-pass", tmp_path / "sub-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    sub_pass.write_text(SUBMISSION_PASSPHRASE + "\n")
    home = tmp_path / "gnupg"
    shutil.copytree(submission_key[1], home, ignore=shutil.ignore_patterns("S.*", "*.lock"))
    common = ["--key-passphrase-file", str(key_pass), "--actor", "analyst-m"]
    assert _run("custody", "init", str(ws), *common).exit_code == 0
    fingerprint = runtime.receipt_key.fingerprint
    assert _run("custody", "trust", str(ws), str(pub), "--fingerprint", fingerprint, *common)
    imported = _run("custody", "import", str(ws), str(bundle), *common)
    assert imported.exit_code == 0, imported.output
    [short] = [line.split()[2] for line in imported.output.splitlines() if "-doc.gz.gpg" in line]
    [evidence] = list((ws / "evidence").glob(f"{short}*"))
    uuid = evidence.name

    def decrypt(path: str | None = None) -> tuple[int, str]:
        done = backupctl(
            "custody", "decrypt", str(ws), short, "--home", str(home),
            "--passphrase-file", str(sub_pass), *common, path=path,
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    def decryptable_still() -> None:
        assert not (ws / "originals" / uuid).exists()
        assert not any((ws / "working").glob(f"{uuid}/*"))  # nothing unstripped to share
        listed = _run("custody", "items", str(ws), *common)
        assert listed.exit_code == 0 and f"{short}  " in listed.output
        assert "not decrypted" in listed.output
        log = _run("custody", "log", str(ws))
        assert log.exit_code == 0, log.output
        assert "decrypted" not in log.output.replace("not decrypted", "")

    # 1. No mat2 on PATH: a clear error naming the package; nothing written.
    bare = path_without_mat2(tmp_path)
    status, output = decrypt(bare)
    assert status == 1 and "Traceback" not in output, output
    assert "mat2 is not installed" in output and "Debian package `mat2`" in output
    decryptable_still()

    # 2. mat2 stopped mid-way (killed while cleaning): rolled back, nothing logged.
    killed = tmp_path / "bin-mat2-killed"
    killed.mkdir()
    real_mat2 = shutil.which("mat2")
    assert real_mat2 is not None
    stand_in = killed / "mat2"
    stand_in.write_text(
        f'#!/bin/sh\ncase "$1" in --show) exec {real_mat2} "$@";; esac\nkill -9 $$\n'
    )
    os.chmod(stand_in, 0o700)
    status, output = decrypt(f"{killed}:{bare}")
    assert status == 1 and "Traceback" not in output, output
    assert "mat2 was stopped while cleaning it" in output
    decryptable_still()

    # 3. With mat2: the working copy has a neutral name and no metadata.
    status, output = decrypt()
    assert status == 0, output
    [original] = list((ws / "originals" / uuid).iterdir())
    assert original.name.endswith(f"-doc-{NAME}")  # the evidence keeps its name ...
    assert PERSON.encode() in original.read_bytes()  # ... and its metadata
    [working] = list((ws / "working" / uuid).iterdir())
    number = original.name.split("-", 1)[0]
    assert working.name == f"{number}-document.pdf"
    assert b"Jeanne" not in working.read_bytes()
    assert f"working copy (cleaned, share only this): {working}" in output
    assert f"WARNING: {original.name} carries metadata" in output
    assert f"removed  author: Dr {PERSON}" in output
    assert not list((ws / "originals").glob(".cleaning-*"))
    again = _run("custody", "decrypt", str(ws), short, "--home", str(home),
                 "--passphrase-file", str(sub_pass), *common)  # fmt: skip
    assert again.exit_code != 0 and "already decrypted" in again.output
