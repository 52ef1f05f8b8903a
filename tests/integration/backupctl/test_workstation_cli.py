"""From a source's submission to plaintext on the workstation: vault services seal,
`backupctl workstation decrypt` opens, and the bytes are the ones the source sent."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from click.testing import CliRunner

from backupctl.cli import main
from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from vault import codenames
from vault.services import replies, sources
from vault.store import DocumentSink


def _sink(runtime: Runtime, filename: str, data: bytes) -> DocumentSink:
    sink = DocumentSink(runtime.store.begin_unassigned([runtime.submission_fingerprint]), filename)
    for start in range(0, len(data), 100_000):
        sink.write(data[start : start + 100_000])
    return sink


def test_submission_decrypted_on_the_workstation(
    runtime: Runtime,
    workstation_keyring: GpgKeyring,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> None:
    message = "Twahunze i Bujumbura. Nous avons besoin d'un médecin.\nAsante."
    documents = {
        "evidence.bin": os.urandom(700_000),  # incompressible: stored at gzip level 0
        "../../../root/.ssh/authorized_keys": b"ssh-ed25519 AAAA attacker\n",
        "rapport médical.txt": "Rapport: témoin, 3 pages.\n".encode() * 2000,
        "голос.ogg": b"OggS" + os.urandom(20_000),
    }
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        sinks = [_sink(runtime, name, data) for name, data in documents.items()]
        created = sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, message, sinks
        )
        reply = replies.send_reply(
            db,
            runtime.store,
            runtime.keyring,
            source,
            None,
            "Nous vous avons entendu.",
            runtime.submission_fingerprint,
        )
        stored = [s.filename for s in created] + [reply.filename]
        source_uuid, slug = source.uuid, source.slug

    # What a reviewer downloads: the stored ciphertext, under its stored name.
    downloads = tmp_path / "usb"
    downloads.mkdir()
    for name in stored:
        shutil.copy(runtime.store.path_of(source_uuid, name), downloads / name)

    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(SUBMISSION_PASSPHRASE + "\n")
    out = tmp_path / "plaintext"
    result = CliRunner().invoke(
        main,
        [
            "workstation",
            "decrypt",
            "--home",
            str(submission_key[1]),
            "--passphrase-file",
            str(passphrase_file),
            *[str(downloads / name) for name in stored],
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output

    # Every file keeps the source's designation and its number N.
    expected = {
        f"1-{slug}-msg.txt": message.encode("utf-8"),
        f"2-{slug}-doc-evidence.bin": documents["evidence.bin"],
        # The server already kept only the base name; nothing lands outside `out`.
        f"3-{slug}-doc-authorized_keys": documents["../../../root/.ssh/authorized_keys"],
        f"4-{slug}-doc-rapport médical.txt": documents["rapport médical.txt"],
        # gzip headers carry the UTF-8 name: non-Latin names survive.
        f"5-{slug}-doc-голос.ogg": documents["голос.ogg"],
        f"6-{slug}-reply.txt": b"Nous vous avons entendu.",
    }
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == expected
    # Documents in a format mat2 can clean also get a cleaned copy, under a neutral name;
    # the others (random bytes, a name without extension) none, and the output says so.
    assert [p.name for p in (out / "cleaned").iterdir()] == ["4-document.txt"]
    assert f"2-{slug}-doc-evidence.bin: mat2 cannot clean this format" in result.output
    for name in stored:
        assert f"{name} -> " in result.output
    assert not list(tmp_path.glob("**/.backup-decrypt-*"))


def test_decrypt_refuses_a_file_that_is_not_ours(
    submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    stray = tmp_path / "IMG_2024.jpg"
    stray.write_bytes(b"\xff\xd8\xff not ours")
    result = CliRunner().invoke(
        main,
        [
            "workstation",
            "decrypt",
            "--home",
            str(submission_key[1]),
            str(stray),
            "--out",
            str(tmp_path / "out"),
        ],
        input=SUBMISSION_PASSPHRASE + "\n",
    )
    assert result.exit_code == 1
    assert "IMG_2024.jpg: not a BackUp download" in result.output
