"""Names for decrypted files: what a source (or a compromised server) chose is untrusted.

The original name of a document travels inside the ciphertext, in the gzip FNAME
header. Whoever wrote that header controls it, so before it names a file on the
air-gapped workstation it is reduced to a plain base name: no directories, no
traversal, nothing hidden, no control or bidirectional-override characters (which
disguise `evil\u202efdp.exe` as `evilexe.pdf`), no names a shell or another OS treats
specially, and no extension a desktop would run on a double click.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

MAX_NAME_BYTES = 200  # well under NAME_MAX (255) so a de-duplication suffix still fits

# A double click on these runs code on some desktop (Linux launchers and installers,
# Windows, macOS), even without an executable bit. The bytes are kept as they are; only
# the name gets a harmless extension appended. (Outputs are created 0600: a plain
# script or binary cannot be run by a click on the workstation.)
LAUNCHER_EXTENSIONS = frozenset(
    """desktop directory sh bash zsh csh ksh run appimage flatpakref snap deb rpm jar
    exe com bat cmd scr pif msi msp mst cpl lnk url scf reg inf hta vb vbs vbe js jse ws
    wsf wsh ps1 psm1 app command tool workflow""".split()
)
NEUTRAL_SUFFIX = ".download"

_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{i}" for i in range(1, 10)]
    + [f"lpt{i}" for i in range(1, 10)]
)
# Characters Windows refuses, plus those a shell would expand; '?' is also what the
# server writes for a character gzip's latin-1 header could not hold.
_REPLACED = re.compile(r'[<>:"|?*\\/$`]')


def decode_gzip_name(raw: bytes) -> str:
    """FNAME is latin-1 by the RFC, but many tools write UTF-8: try UTF-8 first."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def sanitize_filename(name: str) -> str | None:
    """A safe base name for `name`, or None when nothing usable is left.

    The result contains no path separator, does not start with a dot, a dash or a
    tilde, has no control or format characters, is not a reserved device name, fits in
    MAX_NAME_BYTES of UTF-8, and does not end in a launcher extension.
    """
    name = unicodedata.normalize("NFC", name)
    # Keep only the last component, whichever separator the writer used.
    name = re.split(r"[/\\]", name)[-1]
    # Drop control (Cc), format (Cf: bidi overrides, zero-width) and separator characters.
    name = "".join(
        ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
    )
    name = _REPLACED.sub("_", name)
    name = re.sub(r"\s+", " ", name)
    # Leading dots hide a file (and make '..'); leading dashes read as options; '~' as home.
    name = name.lstrip(" .-~").rstrip(" .")
    if not name or set(name) <= {"_"}:
        return None
    if name.split(".", 1)[0].lower() in _WINDOWS_RESERVED:
        name = f"_{name}"
    name = _truncate(name)
    # After truncation, which could otherwise expose a launcher extension.
    if "." in name and name.rsplit(".", 1)[-1].lower() in LAUNCHER_EXTENSIONS:
        name += NEUTRAL_SUFFIX
    return name


def attachment_name(prefix: str, original: str | None) -> str:
    """The name of a decrypted document: `N-designation-doc-<original name>`.

    `prefix` is `N-designation`, from a download name the workstation matched against
    `[0-9]+-[a-z0-9_]+` (safe as it is); it comes first so that the file keeps the link
    to the source and to the submission number wherever it is copied, and sorts beside
    the message it came with. The original name, untrusted, is sanitised on its own
    first (a separator in it must not cut the prefix off), then the whole is truncated
    to MAX_NAME_BYTES keeping the extension. Without a usable original name:
    `N-designation-doc`.
    """
    safe = sanitize_filename(original) if original else None
    if safe is None:
        return f"{prefix}-doc"
    return sanitize_filename(f"{prefix}-doc-{safe}") or f"{prefix}-doc"


def _truncate(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, ext = _split_extension(name)
    if len(ext.encode("utf-8")) > MAX_NAME_BYTES // 4:
        stem, ext = name, ""
    budget = MAX_NAME_BYTES - len(ext.encode("utf-8"))
    cut = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(" .")
    return cut + ext


def _split_extension(name: str) -> tuple[str, str]:
    """'report.tar.gz' -> ('report', '.tar.gz'): de-duplication keeps all extensions."""
    stem, dot, ext = name.partition(".")
    return (stem, dot + ext) if stem else (name, "")


def reserve_unique(directory: Path, name: str) -> tuple[Path, int]:
    """Create `directory/name` (0600, exclusively) or, if taken, `stem_2.ext`, `stem_3.ext`...

    Returns the path and an open file descriptor for writing. Creating with O_EXCL is
    what guarantees nothing is ever overwritten, even by a concurrent run; it also works
    on file systems without hard links (a FAT-formatted USB stick).
    """
    stem, ext = _split_extension(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for counter in range(1, 10_000):
        candidate = name if counter == 1 else f"{stem}_{counter}{ext}"
        path = directory / candidate
        try:
            return path, os.open(path, flags, 0o600)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for {name} in {directory}")
