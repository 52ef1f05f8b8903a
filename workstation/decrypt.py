"""Decrypt files downloaded from the reviewer interface, on the air-gapped workstation.

Downloads keep the store's names: `N-designation-msg.gpg` (OpenPGP of UTF-8 text),
`N-designation-doc.gz.gpg` (gzip inside OpenPGP, the original file name in the gzip
FNAME header) and `N-designation-reply.gpg`. They become `N-designation-msg.txt`,
`N-designation-doc-<original name, sanitised>` and `N-designation-reply.txt`: every
decrypted file keeps the source's designation and its submission number N (a source's
message and the files sent with it have consecutive numbers), so an attachment copied
anywhere still says which source sent it, and sorts beside its message.

Everything streams: gpg writes its output to a scratch file, which is copied or
gunzipped into place in 1 MiB chunks, so a file of any size never sits in memory.
Nothing is ever overwritten: each output is created exclusively, under a suffixed name
if its name is taken. A call is all or nothing: if one file fails, the outputs this
call already wrote are removed and the error names the file.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from keys.errors import DecryptionError
from keys.gpg import GpgKeyring
from workstation.errors import DecryptFailedError, NotOurFileError
from workstation.filenames import attachment_name, decode_gzip_name, reserve_unique

__all__ = ["decrypt_downloads", "download_parts", "gzip_original_name"]

_CHUNK = 1024 * 1024
_DOWNLOAD_NAME = re.compile(
    r"^(?P<number>[0-9]{1,9})-(?P<designation>[a-z0-9_]{1,64})-"
    r"(?P<kind>msg\.gpg|doc\.gz\.gpg|reply\.gpg)$"
)
_EXPECTED = "N-designation-msg.gpg, N-designation-doc.gz.gpg or N-designation-reply.gpg"

# gzip header (RFC 1952): flags, and the longest FNAME we accept before calling it damaged.
_FEXTRA, _FNAME = 0x04, 0x08
_FRESERVED = 0xE0
_MAX_FNAME_BYTES = 4096


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class _Download:
    path: Path
    number: int
    designation: str
    kind: str  # "msg", "doc" or "reply"

    @property
    def prefix(self) -> str:
        return f"{self.number}-{self.designation}"


def download_parts(name: str) -> tuple[int, str, str] | None:
    """`3-sober_moth-doc.gz.gpg` -> (3, "sober_moth", "doc"); None for another name."""
    match = _DOWNLOAD_NAME.match(name)
    if match is None:
        return None
    return int(match["number"]), match["designation"], match["kind"].split(".", 1)[0]


def _classify(path: Path) -> _Download:
    match = _DOWNLOAD_NAME.match(path.name)
    if match is None:
        raise NotOurFileError(f"{path.name}: not a BackUp download (expected {_EXPECTED})")
    if not path.is_file():
        raise NotOurFileError(f"{path}: no such file")
    kind = match["kind"].split(".", 1)[0]
    return _Download(path, int(match["number"]), match["designation"], kind)


def decrypt_downloads(
    keyring_home: Path, passphrase: str, inputs: Sequence[Path], out_dir: Path
) -> list[Path]:
    """Decrypt `inputs` into `out_dir` with the submission secret key in `keyring_home`.

    Returns the output paths, in the order of `inputs`.

    Raises:
        NotOurFileError: a name or a content is not that of a BackUp download. Names
            are all checked before anything is decrypted.
        DecryptFailedError: gpg could not decrypt a file.
    """
    downloads = [_classify(Path(path)) for path in inputs]
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keyring = GpgKeyring(keyring_home, server=False)
    written: list[Path] = []
    # Scratch space beside the outputs, not in /tmp: plaintext stays where the analyst
    # chose to put plaintext (on a persistent /tmp it would outlive the session).
    scratch = Path(tempfile.mkdtemp(prefix=".backup-decrypt-", dir=out_dir))
    try:
        for index, download in enumerate(downloads):
            written.append(_decrypt_one(keyring, passphrase, download, out_dir, scratch, index))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return written


def _decrypt_one(
    keyring: GpgKeyring,
    passphrase: str,
    download: _Download,
    out_dir: Path,
    scratch: Path,
    index: int,
) -> Path:
    plain = scratch / f"{index}.plain"
    try:
        keyring.decrypt_file(download.path, passphrase, plain)
    except (DecryptionError, ValueError) as exc:  # ValueError: python-gnupg's passphrase check
        raise DecryptFailedError(
            f"{download.path.name}: could not decrypt (not encrypted to this key, "
            "wrong passphrase, or damaged file)"
        ) from exc
    try:
        if download.kind == "doc":
            return _gunzip_into(plain, download, out_dir)
        with open(plain, "rb") as source:
            return _write_new(out_dir, f"{download.prefix}-{download.kind}.txt", source)
    finally:
        plain.unlink(missing_ok=True)


def _gunzip_into(plain: Path, download: _Download, out_dir: Path) -> Path:
    with open(plain, "rb") as handle:
        raw_name = gzip_original_name(handle, download.path.name)
    name = attachment_name(download.prefix, decode_gzip_name(raw_name) if raw_name else None)
    try:
        with gzip.open(plain, "rb") as source:
            return _write_new(out_dir, name, source)
    except (
        gzip.BadGzipFile,
        EOFError,
        zlib.error,
    ) as exc:  # not OSError: a full disk is not damage
        raise NotOurFileError(f"{download.path.name}: damaged document (bad gzip data)") from exc


def gzip_original_name(handle: IO[bytes], label: str) -> bytes | None:
    """The FNAME field of a gzip header, or None; NotOurFileError if it is not gzip."""
    header = handle.read(10)
    if len(header) < 10 or header[:2] != b"\x1f\x8b" or header[2] != 8:
        raise NotOurFileError(f"{label}: decrypted, but it is not a BackUp document (no gzip)")
    flags = header[3]
    if flags & _FRESERVED:
        raise NotOurFileError(f"{label}: damaged document (bad gzip header)")
    if flags & _FEXTRA:
        length = int.from_bytes(handle.read(2), "little")
        if len(handle.read(length)) != length:
            raise NotOurFileError(f"{label}: damaged document (bad gzip header)")
    if not flags & _FNAME:
        return None
    raw = bytearray()
    while len(raw) <= _MAX_FNAME_BYTES:
        byte = handle.read(1)
        if not byte:
            raise NotOurFileError(f"{label}: damaged document (bad gzip header)")
        if byte == b"\0":
            return bytes(raw)
        raw += byte
    raise NotOurFileError(f"{label}: damaged document (gzip file name too long)")


def _write_new(out_dir: Path, name: str, source: _Readable) -> Path:
    """Copy `source` into a new file named `name` (or a suffixed variant), durably."""
    path, fd = reserve_unique(out_dir, name)
    try:
        with os.fdopen(fd, "wb") as sink:
            shutil.copyfileobj(source, sink, _CHUNK)
            sink.flush()
            os.fsync(sink.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
