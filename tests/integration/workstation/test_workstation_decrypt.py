"""decrypt_downloads with real gpg, on files sealed to the test submission key.

The documents here are crafted byte by byte (gzip header included): the workstation
must not trust the server, which could be compromised, to have written sane names.
"""

from __future__ import annotations

import os
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import GeneratedKey, generate_submission_key
from tests.conftest import SUBMISSION_PASSPHRASE
from workstation.decrypt import decrypt_downloads
from workstation.errors import DecryptFailedError, NotOurFileError

Key = tuple[GeneratedKey, Path]
Seal = Callable[[str, bytes], Path]


def gzip_bytes(data: bytes, name: bytes | None) -> bytes:
    """A gzip member with an arbitrary FNAME (or none), as any writer could make it."""
    flags = 0x08 if name is not None else 0
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0" + b"\0\xff"
    if name is not None:
        header += name + b"\0"
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush()
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


@pytest.fixture
def seal(workstation_keyring: GpgKeyring, submission_key: Key, tmp_path: Path) -> Seal:
    """Write `plaintext` sealed to the submission key as downloads/<name>."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    def _seal(name: str, plaintext: bytes) -> Path:
        path = downloads / name
        path.write_bytes(workstation_keyring.seal_bytes(plaintext, [submission_key[0].fingerprint]))
        return path

    return _seal


@pytest.fixture
def home(submission_key: Key) -> Path:
    return submission_key[1]


class TestDecryptDownloads:
    """Each stored format comes back as the bytes the source sent, under a safe name."""

    def test_message_reply_and_document(self, seal: Seal, home: Path, tmp_path: Path) -> None:
        message = "Nous avons besoin d'aide — Turakeneye ubufasha".encode()
        document = os.urandom(200_000)
        inputs = [
            seal("1-sober_moth-msg.gpg", message),
            seal("2-sober_moth-doc.gz.gpg", gzip_bytes(document, b"evidence.bin")),
            seal("3-sober_moth-reply.gpg", b"we hear you"),
        ]
        out = tmp_path / "out"
        outputs = decrypt_downloads(home, SUBMISSION_PASSPHRASE, inputs, out)
        assert [p.name for p in outputs] == [
            "1-sober_moth-msg.txt",
            "2-sober_moth-doc-evidence.bin",  # the source and the number stay with the file
            "3-sober_moth-reply.txt",
        ]
        assert outputs[0].read_bytes() == message
        assert outputs[1].read_bytes() == document
        assert outputs[2].read_bytes() == b"we hear you"
        assert out.stat().st_mode & 0o777 == 0o700
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in outputs)
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in outputs)

    @pytest.mark.parametrize(
        ("fname", "expected"),
        [
            (b"../../../../home/user/.bashrc", "4-sober_moth-doc-bashrc"),
            (b"/etc/cron.d/evil", "4-sober_moth-doc-evil"),
            (b"..", "4-sober_moth-doc"),
            (b"", "4-sober_moth-doc"),
            (None, "4-sober_moth-doc"),
            ("photo\u202egpj.desktop".encode(), "4-sober_moth-doc-photogpj.desktop.download"),
            ("témoin.jpg".encode("latin-1"), "4-sober_moth-doc-témoin.jpg"),
            (b"a\nb\tc\x1b[31m.pdf", "4-sober_moth-doc-abc[31m.pdf"),
            (b"x" * 300 + b".pdf", "4-sober_moth-doc-" + "x" * 179 + ".pdf"),
        ],
    )
    def test_document_names_are_neutralised(
        self, seal: Seal, home: Path, tmp_path: Path, fname: bytes | None, expected: str
    ) -> None:
        """Traversal, hidden and launcher names never land as such; bytes are kept."""
        data = b"plain evidence"
        inputs = [seal("4-sober_moth-doc.gz.gpg", gzip_bytes(data, fname))]
        out = tmp_path / "out"
        [output] = decrypt_downloads(home, SUBMISSION_PASSPHRASE, inputs, out)
        assert output.parent == out
        assert output.name == expected
        assert output.read_bytes() == data
        assert [p.name for p in out.iterdir()] == [expected]

    def test_never_overwrites(self, seal: Seal, home: Path, tmp_path: Path) -> None:
        """Taken names get a suffix: an earlier file, and a twin in the batch, survive."""
        out = tmp_path / "out"
        out.mkdir()
        (out / "2-sober_moth-doc-photo.jpg").write_bytes(b"analyst's own file")
        (out / "1-sober_moth-msg.txt").write_bytes(b"decrypted yesterday")
        # The same download twice (from two USB sticks): the twin gets a suffix too.
        first = seal("2-sober_moth-doc.gz.gpg", gzip_bytes(b"first", b"photo.jpg"))
        (tmp_path / "usb2").mkdir()
        first = first.rename(tmp_path / "usb2" / first.name)
        inputs = [
            seal("1-sober_moth-msg.gpg", b"message"),
            first,
            seal("2-sober_moth-doc.gz.gpg", gzip_bytes(b"second", b"photo.jpg")),
        ]
        outputs = decrypt_downloads(home, SUBMISSION_PASSPHRASE, inputs, out)
        assert [p.name for p in outputs] == [
            "1-sober_moth-msg_2.txt",
            "2-sober_moth-doc-photo_2.jpg",
            "2-sober_moth-doc-photo_3.jpg",
        ]
        assert (out / "2-sober_moth-doc-photo.jpg").read_bytes() == b"analyst's own file"
        assert (out / "1-sober_moth-msg.txt").read_bytes() == b"decrypted yesterday"
        assert [p.read_bytes() for p in outputs] == [b"message", b"first", b"second"]

    def test_streams_large_documents(self, seal: Seal, home: Path, tmp_path: Path) -> None:
        """A 24 MiB document is decrypted and gunzipped without being held in memory."""
        document = os.urandom(24 * 1024 * 1024)
        inputs = [seal("1-sober_moth-doc.gz.gpg", gzip_bytes(document, b"video.mp4"))]
        tracemalloc.start()
        try:
            [output] = decrypt_downloads(home, SUBMISSION_PASSPHRASE, inputs, tmp_path / "out")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * 1024 * 1024
        assert output.read_bytes() == document


class TestRefusals:
    """What is not ours, or cannot be opened, gives a clear error and leaves nothing."""

    def test_unknown_name_is_refused_before_anything_is_decrypted(
        self, seal: Seal, home: Path, tmp_path: Path
    ) -> None:
        good = seal("1-sober_moth-msg.gpg", b"message")
        other = seal("holiday.jpg.gpg", b"not ours")
        out = tmp_path / "out"
        with pytest.raises(NotOurFileError, match=r"holiday\.jpg\.gpg: not a BackUp download"):
            decrypt_downloads(home, SUBMISSION_PASSPHRASE, [good, other], out)
        assert not out.exists()

    def test_document_that_is_not_gzip(self, seal: Seal, home: Path, tmp_path: Path) -> None:
        """All or nothing: the message decrypted before the bad document is removed."""
        inputs = [
            seal("1-sober_moth-msg.gpg", b"message"),
            seal("2-sober_moth-doc.gz.gpg", b"plain bytes, no gzip"),
        ]
        out = tmp_path / "out"
        with pytest.raises(
            NotOurFileError, match=r"2-sober_moth-doc\.gz\.gpg: .*not a BackUp document"
        ):
            decrypt_downloads(home, SUBMISSION_PASSPHRASE, inputs, out)
        assert list(out.iterdir()) == []

    def test_damaged_gzip(self, seal: Seal, home: Path, tmp_path: Path) -> None:
        blob = bytearray(gzip_bytes(os.urandom(5000), b"x.bin"))
        blob[-6] ^= 0xFF  # the CRC no longer matches
        inputs = [seal("2-sober_moth-doc.gz.gpg", bytes(blob))]
        out = tmp_path / "out"
        with pytest.raises(NotOurFileError, match="damaged document"):
            decrypt_downloads(home, SUBMISSION_PASSPHRASE, inputs, out)
        assert list(out.iterdir()) == []

    def test_file_that_is_not_openpgp(self, home: Path, tmp_path: Path) -> None:
        path = tmp_path / "1-sober_moth-msg.gpg"
        path.write_bytes(b"this was never encrypted")
        with pytest.raises(DecryptFailedError, match=r"1-sober_moth-msg\.gpg: could not decrypt"):
            decrypt_downloads(home, SUBMISSION_PASSPHRASE, [path], tmp_path / "out")
        assert list((tmp_path / "out").iterdir()) == []

    def test_file_for_another_key_and_wrong_passphrase(self, tmp_path: Path) -> None:
        """A key of its own (no cached passphrase) to check both failures."""
        other_home = tmp_path / "other"
        key = generate_submission_key(other_home, "other passphrase 123", name="other")
        try:
            keyring = GpgKeyring(other_home, server=False)
            path = tmp_path / "1-sober_moth-msg.gpg"
            path.write_bytes(keyring.seal_bytes(b"secret", [key.fingerprint]))
            with pytest.raises(DecryptFailedError):
                decrypt_downloads(other_home, "wrong passphrase", [path], tmp_path / "out")
            empty_home = tmp_path / "empty"
            with pytest.raises(DecryptFailedError):
                decrypt_downloads(empty_home, "other passphrase 123", [path], tmp_path / "out2")
            [ok] = decrypt_downloads(other_home, "other passphrase 123", [path], tmp_path / "out3")
            assert ok.read_bytes() == b"secret"
        finally:
            kill_agent(other_home)
            kill_agent(tmp_path / "empty")
