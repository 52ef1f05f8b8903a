"""The leak scanner finds a planted marker in every form a leak can take, wherever the
form sits in a blob, and flags nothing in random data or in real OpenPGP ciphertext."""

from __future__ import annotations

import base64
import bz2
import gzip
import html
import io
import json
import logging
import lzma
import os
import random
import re
import subprocess
import tarfile
import unicodedata
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from keys.gpg import GpgKeyring, kill_agent
from tests.support.leaks import IncompleteScanError, LeakScanner, assert_no_leak
from tests.support.leaks import streams as leak_streams

ARABIC = "MARKER-ar-5d2e ابنتي كانت هناك"
LATIN = "MARKER-msg-4f9c2a71 they came at night"
ASTRAL = "MARKER-emoji-77c1 😢 𝕏 night"
HTML = "MARKER-html-2b1c <b>Tom & Jerry</b>"
# Stands for ciphertext; fixed, so that every run reports the same offsets.
NOISE = random.Random(14).randbytes(4096)


def _forms(blob: bytes, marker: str = ARABIC) -> list[str]:
    return [hit.form for hit in LeakScanner(marker).scan(blobs={"blob": blob})]


def _inside(data: bytes) -> bytes:
    """`data` at offset 1000 between random bytes, as in a file, a page or a cell. NULs
    on either side keep random bytes from joining it: from extending its text, or from
    reading as a container header (an OpenPGP packet's is up to six bytes long)."""
    return NOISE[:994] + b"\0" * 6 + data + b"\0" * 6 + NOISE[1000:1777]


class TestDirectEncodings:
    """Forms that keep the marker's bytes contiguous: searched for as they are."""

    @pytest.mark.parametrize("codec", ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le"])
    def test_unicode_encodings(self, codec: str) -> None:
        assert _forms(_inside(ARABIC.encode(codec))) == [codec]

    def test_decomposed_unicode(self) -> None:
        marker = "MARKER-fr-31a0 Elle était là"
        decomposed = unicodedata.normalize("NFD", marker).encode()
        assert decomposed != marker.encode()
        assert _forms(_inside(decomposed), marker) == ["utf-8 (NFD)"]

    @pytest.mark.parametrize("upper", [False, True])
    def test_hex(self, upper: bool) -> None:
        text = ARABIC.encode().hex()
        assert _forms(_inside((text.upper() if upper else text).encode())) == [
            "HEX" if upper else "hex"
        ]

    @pytest.mark.parametrize("shift", [0, 1, 2])
    @pytest.mark.parametrize("urlsafe", [False, True])
    def test_base64_at_every_alignment(self, shift: int, urlsafe: bool) -> None:
        """The marker starts 0, 1 or 2 bytes into a 3-byte group of a larger blob."""
        encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
        # The tail's bytes encode to "+/" or "-_": the two alphabets differ in the blob.
        encoded = encode(b"?>"[:shift] + ARABIC.encode() + b"\xfb\xff tail")
        assert encoded != (base64.b64encode if urlsafe else base64.urlsafe_b64encode)(
            b"?>"[:shift] + ARABIC.encode() + b"\xfb\xff tail"
        )
        [form] = _forms(b"token=" + encoded + b";")
        # Where the marker's own characters are the same in both alphabets, one needle.
        assert form in {f"base64 at alignment {shift}", f"urlsafe base64 at alignment {shift}"}

    def test_form_encoded_spaces(self) -> None:
        assert _forms(_inside(LATIN.replace(" ", "+").encode()), LATIN) == [
            "form-encoded spaces (+)"
        ]


class TestEscapedText:
    """Forms whose look depends on the encoder: undone, then searched again."""

    def test_json_escapes_lower_and_upper_hex(self) -> None:
        lower = json.dumps({"account": ARABIC}).encode()
        assert b"\\u0627" in lower and ARABIC.encode() not in lower
        upper = re.sub(rb"\\u([0-9a-f]{4})", lambda m: b"\\u" + m.group(1).upper(), lower)
        assert b"\\u062A" in upper
        for text in (lower, upper):
            assert _forms(_inside(text)) == ["string escapes undone at 1000 > utf-8"]

    def test_json_surrogate_pairs(self) -> None:
        text = json.dumps([ASTRAL]).encode()
        assert b"\\ud83d\\ude22" in text
        assert _forms(text, ASTRAL) == ["string escapes undone at 0 > utf-8"]

    def test_json_every_character_escaped_and_quoted_twice(self) -> None:
        """`\\u002d` for `-`, and a JSON document inside a JSON string."""
        escaped = "".join(f"\\u{ord(c):04x}" for c in LATIN)
        assert _forms(_inside(f'{{"m": "{escaped}"}}'.encode()), LATIN)
        twice = json.dumps(json.dumps({"m": ARABIC})).encode()
        assert b"\\\\u0627" in twice
        assert _forms(twice) == ["string escapes undone at 0 > string escapes undone at 0 > utf-8"]

    def test_python_and_c_escapes(self) -> None:
        """A logged bytes repr (`\\xd8\\xa7`) and C/PostgreSQL octal escapes."""
        assert _forms(_inside(repr(ARABIC.encode()).encode())) == [
            "string escapes undone at 1000 > utf-8"
        ]
        octal = "".join(f"\\{b:03o}" for b in ARABIC.encode()).encode()
        assert _forms(_inside(octal)) == ["string escapes undone at 1000 > utf-8"]

    def test_logged_through_python_logging(self) -> None:
        stream = io.StringIO()
        logger = logging.getLogger("leak-form-test")
        handler = logging.StreamHandler(stream)
        logger.addHandler(handler)
        try:
            logger.warning("body=%r", ARABIC.encode())
            logger.warning("%s", json.dumps({"m": ARABIC}))
        finally:
            logger.removeHandler(handler)
        assert _forms(stream.getvalue().encode()) == ["string escapes undone at 0 > utf-8"]

    @pytest.mark.parametrize(
        "encode",
        [
            lambda s: urllib.parse.quote_plus(s),
            lambda s: urllib.parse.quote(s, safe=""),
            lambda s: re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(s)),
            lambda s: "".join(f"%{b:02X}" for b in s.encode()),
            lambda s: "".join(c if c.isascii() else f"%u{ord(c):04X}" for c in s),
        ],
        ids=["quote_plus", "quote", "lowercase", "every-byte", "percent-u"],
    )
    def test_percent_encoding(self, encode: object) -> None:
        text = f"GET /lookup?q={encode(ARABIC)}&x=1 HTTP/1.1".encode()  # type: ignore[operator]
        assert _forms(_inside(text)) == ["percent-encoding undone at 1000 > utf-8"]

    @pytest.mark.parametrize(
        ("marker", "encoded"),
        [
            (ARABIC, ARABIC.encode("ascii", "xmlcharrefreplace").decode()),
            (ARABIC, "".join(f"&#x{ord(c):X};" for c in ARABIC)),
            (HTML, html.escape(HTML)),
        ],
        ids=["decimal", "hex-every-character", "named"],
    )
    def test_html_character_references(self, marker: str, encoded: str) -> None:
        assert marker not in encoded
        text = f"<p>{encoded}</p>".encode()
        assert _forms(_inside(text), marker) == ["HTML character references undone at 1000 > utf-8"]

    def test_wrapped_base64_of_anything(self) -> None:
        """MIME-wrapped base64 of UTF-16 text: decoded, then the UTF-16 needle."""
        wrapped = base64.encodebytes(b"\xff\xfe" + ARABIC.encode("utf-16-le") * 3)
        assert b"\n" in wrapped.strip()
        assert _forms(wrapped) == ["base64 decoded at 0 > utf-16-le"]


class TestCompressedStreams:
    """Streams found by magic bytes or container headers, at any offset, decompressed."""

    def test_gzip(self) -> None:
        assert _forms(_inside(gzip.compress(ARABIC.encode() * 3))) == [
            "gzip stream at 1000 > utf-8"
        ]

    @pytest.mark.parametrize("wbits", [9, 12, 15])
    @pytest.mark.parametrize("level", [1, 9])
    def test_zlib_any_window_any_level(self, wbits: int, level: int) -> None:
        packer = zlib.compressobj(level, zlib.DEFLATED, wbits)
        stream = packer.compress(ARABIC.encode() * 3) + packer.flush()
        assert _forms(_inside(stream)) == ["zlib stream at 1000 > utf-8"]

    def test_raw_deflate_at_the_start_of_a_large_blob(self) -> None:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        stream = packer.compress(ARABIC.encode() * 3) + packer.flush()
        assert _forms(stream + os.urandom(1_000_000)) == ["raw deflate stream at 0 > utf-8"]

    @pytest.mark.parametrize("offset", [1, 2, 3, 400])
    def test_raw_deflate_anywhere_in_a_small_blob(self, offset: int) -> None:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        stream = packer.compress(ARABIC.encode()) + packer.flush()
        # 0xff: an invalid block type, so no earlier offset starts a stream by chance.
        assert _forms(b"\xff" * offset + stream) == [f"raw deflate stream at {offset} > utf-8"]

    def test_raw_deflate_behind_a_short_header_in_a_large_blob(self) -> None:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        stream = packer.compress(ARABIC.encode()) + packer.flush()
        framed = b"\xffv1:" + stream + os.urandom(100_000)
        assert _forms(framed) == ["raw deflate stream at 4 > utf-8"]

    def test_bzip2_and_xz(self) -> None:
        assert _forms(_inside(bz2.compress(ARABIC.encode()))) == ["bzip2 stream at 1000 > utf-8"]
        assert _forms(_inside(lzma.compress(ARABIC.encode() * 5))) == ["xz stream at 1000 > utf-8"]

    def test_zip_archive_and_tarball(self) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("note.txt", ARABIC * 3)
        assert _forms(buffer.getvalue()) == ["ZIP entry (deflate) at 0 > utf-8"]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            data = (ARABIC * 3).encode()
            info = tarfile.TarInfo("note.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        assert _forms(buffer.getvalue()) == ["gzip stream at 0 > utf-8"]

    def test_nested_cookie_base64_zlib_json(self) -> None:
        """An itsdangerous-style cookie: URL-safe base64 of zlib of JSON with escapes."""
        payload = base64.urlsafe_b64encode(zlib.compress(json.dumps({"m": ARABIC}).encode()))
        cookie = b"Cookie: session=." + payload.rstrip(b"=") + b".Zx1q.sig"
        assert _forms(_inside(cookie)) == [
            "base64 decoded at 1017 > zlib stream at 0 > string escapes undone at 0 > utf-8"
        ]

    def test_a_stream_too_large_to_open_makes_the_scan_incomplete(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(leak_streams, "STREAM_OUTPUT_CAP", 1 << 20)
        bomb = gzip.compress(b"\0" * (2 << 20) + ARABIC.encode())
        with pytest.raises(IncompleteScanError, match="opened only to"):
            LeakScanner(ARABIC).scan(blobs={"bomb": bomb})


class TestNothingFoundWhereNothingIs:
    def test_random_data_and_plain_text(self) -> None:
        text = ("the camp near the river " * 4000).encode()
        assert_no_leak(
            [ARABIC, LATIN, ASTRAL], blobs={"random": os.urandom(3_000_000), "text": text}
        )

    def test_a_short_marker_is_refused(self) -> None:
        with pytest.raises(ValueError, match="shorter than"):
            LeakScanner("abc")

    def test_the_failure_names_the_place_and_the_form(self) -> None:
        blob = gzip.compress(json.dumps({"m": ARABIC}).encode())
        with pytest.raises(AssertionError) as failure:
            assert_no_leak(ARABIC, blobs={"the queue": blob})
        assert "in the queue: gzip stream at 0 > string escapes undone at 0 > utf-8" in str(
            failure.value
        )


@pytest.fixture(scope="module")
def gpg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    ring = GpgKeyring(tmp_path_factory.mktemp("leak-gpg") / "gnupg", server=False)
    fingerprint = ring.generate_reply_key("leak test", "leak test passphrase")
    yield ring.home, fingerprint
    kill_agent(ring.home)


def _gpg(home: Path, *args: str, data: bytes) -> bytes:
    return subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--yes", "--trust-model", "always",
         "--pinentry-mode", "loopback", "--passphrase", "leak test passphrase", *args],
        input=data, capture_output=True, check=True,
    ).stdout  # fmt: skip


class TestOpenPGP:
    """Real gpg: ciphertext of the marker is clean; a signed-only message is a leak."""

    @pytest.mark.parametrize("armor", [False, True])
    @pytest.mark.parametrize("compress", ["none", "zip", "zlib", "bzip2"])
    def test_ciphertext_is_not_a_leak(
        self, gpg_home: tuple[Path, str], armor: bool, compress: str
    ) -> None:
        home, fingerprint = gpg_home
        for plaintext in (ARABIC.encode(), (ARABIC + "\n").encode() * 20_000):
            args = ["--encrypt", "--recipient", fingerprint, "--compress-algo", compress]
            sealed = _gpg(home, *(["--armor"] if armor else []), *args, data=plaintext)
            assert_no_leak([ARABIC, LATIN], blobs={"ciphertext": sealed})
            assert _gpg(home, "--decrypt", data=sealed) == plaintext  # it was the marker

    @pytest.mark.parametrize(("compress", "algorithm"), [("zip", 1), ("zlib", 2), ("bzip2", 3)])
    def test_a_signed_message_is_a_leak(
        self, gpg_home: tuple[Path, str], compress: str, algorithm: int
    ) -> None:
        home, _ = gpg_home
        # Longer than the blobs where raw deflate is tried at every offset.
        plaintext = ARABIC.encode() + os.urandom(4096).hex().encode()
        signed = _gpg(home, "--sign", "--compress-algo", compress, data=plaintext)
        assert len(signed) > leak_streams.RAW_DEFLATE_EVERY_OFFSET
        assert ARABIC.encode() not in signed
        [form] = _forms(signed)
        assert form.startswith(f"OpenPGP compressed packet (algorithm {algorithm}) at 0"), form
        armored = _gpg(home, "--sign", "--armor", data=ARABIC.encode() * 3)
        [form] = _forms(armored)
        assert form.startswith("base64 decoded at "), form
