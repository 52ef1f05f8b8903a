"""Names from gzip headers are untrusted: what the workstation makes of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workstation.filenames import (
    MAX_NAME_BYTES,
    attachment_name,
    decode_gzip_name,
    reserve_unique,
    sanitize_filename,
)


class TestSanitizeFilename:
    """sanitize_filename keeps a plain, visible, inert base name, or gives up."""

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("report.pdf", "report.pdf"),
            ("témoignage vocal.ogg", "témoignage vocal.ogg"),
            ("../../etc/passwd", "passwd"),
            ("/etc/shadow", "shadow"),
            ("..\\..\\Windows\\win.ini", "win.ini"),
            ("C:\\Users\\x\\photo.jpg", "photo.jpg"),
            (".bashrc", "bashrc"),
            ("...hidden.txt", "hidden.txt"),
            ("-rf", "rf"),
            ("~root", "root"),
            ("name\x00.pdf", "name.pdf"),
            ("line\nbreak.txt", "linebreak.txt"),
            ("invoice\u202efdp.exe", "invoicefdp.exe.download"),
            ("zero\u200bwidth.txt", "zerowidth.txt"),
            ("what?.txt", "what_.txt"),
            ("a<b>c:d|e*.txt", "a_b_c_d_e_.txt"),
            ("$(reboot).txt", "_(reboot).txt"),
            ("trailing dots...", "trailing dots"),
            ("CON.txt", "_CON.txt"),
            ("nul", "_nul"),
            ("launcher.desktop", "launcher.desktop.download"),
            ("script.SH", "script.SH.download"),
            ("setup.exe", "setup.exe.download"),
            ("notes.txt.exe", "notes.txt.exe.download"),
        ],
    )
    def test_cleans(self, raw: str, expected: str) -> None:
        """Each dangerous trait is removed, the rest of the name is kept."""
        assert sanitize_filename(raw) == expected

    @pytest.mark.parametrize("raw", ["", ".", "..", "../..", "/", "...", "___", " . ", "\u202e"])
    def test_nothing_left(self, raw: str) -> None:
        """A name that is only traversal or decoration gives None (caller falls back)."""
        assert sanitize_filename(raw) is None

    def test_long_names_keep_their_extension(self) -> None:
        """Truncation stays under the byte budget and keeps the extension."""
        name = sanitize_filename("é" * 300 + ".tar.gz")
        assert name is not None
        assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
        assert name.endswith(".tar.gz")

    def test_truncation_cannot_expose_a_launcher_extension(self) -> None:
        """An extension too long to keep is cut; if the cut ends in one, it is neutralised."""
        raw = "a." + "b" * (MAX_NAME_BYTES - 5) + ".sh" + "x" * 400
        name = sanitize_filename(raw)
        assert name is not None
        assert not name.lower().endswith(".sh")

    def test_result_is_never_a_path(self) -> None:
        """Whatever the input, the result has no separator and is not hidden."""
        for raw in ["a/b", "a\\b", "/..", "x/../../y", ".git/config"]:
            name = sanitize_filename(raw)
            assert name is None or ("/" not in name and "\\" not in name)
            assert name is None or not name.startswith(".")


class TestAttachmentName:
    """A decrypted document keeps its source and number before its own name."""

    @pytest.mark.parametrize(
        ("original", "expected"),
        [
            ("photo.jpg", "7-sober_moth-doc-photo.jpg"),
            ("../../etc/passwd", "7-sober_moth-doc-passwd"),  # the prefix is never cut off
            ("a/b\\c.pdf", "7-sober_moth-doc-c.pdf"),
            ("-rf .jpg", "7-sober_moth-doc-rf .jpg"),
            ("x\u202egpj.exe", "7-sober_moth-doc-xgpj.exe.download"),
            ("tab\there\x07.txt", "7-sober_moth-doc-tabhere.txt"),
            ("..", "7-sober_moth-doc"),
            ("", "7-sober_moth-doc"),
            (None, "7-sober_moth-doc"),
        ],
    )
    def test_names(self, original: str | None, expected: str) -> None:
        assert attachment_name("7-sober_moth", original) == expected

    def test_long_names_keep_prefix_and_extension(self) -> None:
        name = attachment_name("12-sober_moth", "é" * 400 + ".pdf")
        assert name.startswith("12-sober_moth-doc-é") and name.endswith(".pdf")
        assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
        assert "/" not in name and not name.startswith(".")


class TestDecodeGzipName:
    """FNAME bytes: UTF-8 when valid, latin-1 (the RFC's encoding) otherwise."""

    def test_utf8(self) -> None:
        assert decode_gzip_name("свидетельство.ogg".encode()) == "свидетельство.ogg"

    def test_latin1(self) -> None:
        assert decode_gzip_name("témoin.txt".encode("latin-1")) == "témoin.txt"


class TestReserveUnique:
    """Outputs are created exclusively: an existing file is never overwritten."""

    def test_suffixes_taken_names(self, tmp_path: Path) -> None:
        (tmp_path / "photo.tar.gz").write_bytes(b"original")
        first, fd1 = reserve_unique(tmp_path, "photo.tar.gz")
        second, fd2 = reserve_unique(tmp_path, "photo.tar.gz")
        for fd in (fd1, fd2):
            os.close(fd)
        assert first.name == "photo_2.tar.gz"
        assert second.name == "photo_3.tar.gz"
        assert (tmp_path / "photo.tar.gz").read_bytes() == b"original"
        assert first.stat().st_mode & 0o777 == 0o600

    def test_does_not_follow_a_planted_symlink(self, tmp_path: Path) -> None:
        """A symlink under the wanted name counts as taken; its target is untouched."""
        target = tmp_path / "target"
        target.write_bytes(b"keep")
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "doc.txt").symlink_to(target)
        path, fd = reserve_unique(tmp_path / "out", "doc.txt")
        os.close(fd)
        assert path.name == "doc_2.txt"
        assert target.read_bytes() == b"keep"
