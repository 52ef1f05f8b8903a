"""Cleaned copies: what may leave the workstation, stripped of metadata by mat2.

A photo keeps the GPS position where it was taken, the phone's make and model and
often its owner's name; a PDF or an office file keeps its author. Any of these can
identify a source, or a survivor named in a file name (`certificat_medical_Jeanne.pdf`).
So every decrypted document also gets a cleaned copy: metadata removed by mat2, under a
neutral name, `<N>-<kind>.<ext>` (N the submission number, kind image, audio, video or
document, the original extension). Originals stay as they are: they are the evidence.

mat2 is required, and looked for before anything is decrypted: without it there would
be only originals, and someone would share one. A copy is cleaned in a scratch folder
and moved into the shared folder only once mat2 has finished with it, so nothing
unstripped is ever found there, even after a crash. A format mat2 cannot clean gets no
cleaned copy, and the analyst is told (never an uncleaned copy under a clean name).
"""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import subprocess  # nosec B404
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workstation.decrypt import download_parts
from workstation.errors import WorkstationError
from workstation.filenames import reserve_unique

__all__ = [
    "CLEANED_DIR",
    "MAT2_PACKAGE",
    "Cleaned",
    "Mat2FailedError",
    "Mat2MissingError",
    "clean_copy",
    "clean_downloads",
    "neutral_name",
    "require_mat2",
    "show_metadata",
]

CLEANED_DIR = "cleaned"  # beside the originals in `workstation decrypt --out`
MAT2_PACKAGE = "mat2"  # the Debian package (bookworm: 0.13), which brings its parsers
_MAT2_TIMEOUT = 600
_SAFE_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}")
_MAX_SHOWN = 120


class Mat2MissingError(WorkstationError):
    """mat2 is not installed: nothing may be decrypted, since nothing could be cleaned."""


class Mat2FailedError(WorkstationError):
    """mat2 did not finish (killed, timed out): nothing of this run is kept."""


@dataclass(frozen=True)
class Cleaned:
    """The outcome of cleaning one file: the copy (None when mat2 cannot clean the
    format, `refused` then says why) and the metadata found in the original."""

    copy: Path | None
    removed: list[str]
    refused: str | None = None


def require_mat2() -> str:
    """The path of mat2 on PATH, or Mat2MissingError naming the package to install."""
    found = shutil.which("mat2")
    if found is None:
        raise Mat2MissingError(
            "mat2 is not installed, and decrypted files must be cleaned of their metadata "
            f"before anything is shared: install the Debian package `{MAT2_PACKAGE}` "
            "(`bash scripts/workstation.sh install`, or offline from the workstation "
            "bundle: docs/workstation.md, 'Installing the workstation'). Nothing was "
            "decrypted."
        )
    return found


def neutral_name(number: int, original: str, kind: str | None = None) -> str:
    """`<N>-<kind>.<ext>`: nothing of the original name but a plain extension."""
    suffix = Path(original).suffix.lower()
    # Only an extension that names a known type: anything else may be part of a name.
    guessed = mimetypes.guess_type(f"x{suffix}")[0] if _SAFE_EXTENSION.fullmatch(suffix) else None
    ext = suffix if guessed else ""
    if kind is None:
        major = (guessed or "").split("/", 1)[0]
        kind = major if major in ("image", "audio", "video") else "document"
    return f"{number}-{kind}{ext}"


def show_metadata(mat2: str, path: Path) -> list[str]:
    """The metadata mat2 finds in `path`, one `name: value` per entry (values cut short)."""
    result = subprocess.run(  # nosec B603
        [mat2, "--show", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        timeout=_MAT2_TIMEOUT,
    )
    found = []
    for line in result.stdout.splitlines():
        if line.startswith("    ") and ": " in line:
            entry = "".join(ch if ch.isprintable() else "?" for ch in line.strip())
            found.append(entry if len(entry) <= _MAX_SHOWN else entry[: _MAX_SHOWN - 1] + "…")
    return found


def clean_copy(mat2: str, original: Path, target_dir: Path, name: str, scratch: Path) -> Cleaned:
    """Clean a copy of `original` in `scratch` with mat2, then move it to `target_dir/name`
    (or `name_2`...): `target_dir` only ever receives a file mat2 has cleaned.

    `scratch` must be on the same file system as `target_dir` and outside it; the
    caller removes it. Raises (and leaves nothing in `target_dir`) if mat2 cannot run or
    does not finish (Mat2FailedError, subprocess.TimeoutExpired).
    """
    removed = show_metadata(mat2, original)
    work = scratch / name
    shutil.copyfile(original, work)
    os.chmod(work, 0o600)
    # mat2 runs its parsers in a bubblewrap sandbox where it can: the file is hostile.
    result = subprocess.run(  # nosec B603
        [mat2, "--inplace", str(work)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        timeout=_MAT2_TIMEOUT,
    )
    if result.returncode < 0:  # killed (out of memory, by hand): not a verdict on the file
        work.unlink(missing_ok=True)
        raise Mat2FailedError(f"{original.name}: mat2 was stopped while cleaning it")
    if result.returncode != 0:  # a format it does not know, or a file it cannot parse
        work.unlink(missing_ok=True)
        return Cleaned(None, removed, "mat2 cannot clean this format")
    left = set(show_metadata(mat2, work))  # a PDF always says its format, for one
    removed = [entry for entry in removed if entry not in left]
    target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path, fd = reserve_unique(target_dir, name)
    os.close(fd)
    try:
        os.replace(work, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Cleaned(path, removed)


def clean_downloads(
    mat2: str, pairs: Sequence[tuple[Path, Path]], out_dir: Path
) -> list[tuple[Path, Cleaned]]:
    """Cleaned copies, in `out_dir/cleaned/`, of the documents among the (download,
    decrypted output) pairs of one `workstation decrypt` run; each with its original.

    All or nothing, like the decryption: if one cannot be made, none is kept.
    """
    target = out_dir / CLEANED_DIR
    done: list[tuple[Path, Cleaned]] = []
    scratch = Path(tempfile.mkdtemp(prefix=".backup-clean-", dir=out_dir))
    try:
        for download, output in pairs:
            parts = download_parts(download.name)
            if parts is None or parts[2] != "doc":
                continue  # messages and replies: text the source typed, no metadata
            name = neutral_name(parts[0], output.name)
            done.append((output, clean_copy(mat2, output, target, name, scratch)))
    except BaseException:
        for _, cleaned in done:
            if cleaned.copy is not None:
                cleaned.copy.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return done
