"""Print the entries of requirements.lock that the workstation needs, hashes and all.

The lock pins everything, the development tools included (pytest, Playwright,
ansible...): the air-gapped workstation needs only BackUp's own dependencies and the
`workstation` extra, with theirs. Their closure is read from the metadata installed in
the venv this runs in (scripts/bootstrap.sh made it from the same lock), and each entry
is copied from the lock unchanged, so `pip install --require-hashes` still checks
every file against the hash pinned here.

Usage: python scripts/workstation_lock.py requirements.lock > requirements.txt
       python scripts/workstation_lock.py --hash-built requirements.txt WHEELS_DIR
"""

from __future__ import annotations

import hashlib
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT_DIST = "backup-dropbox"
EXTRAS = ("workstation",)


def closure(dist: str, extras: tuple[str, ...]) -> set[str]:
    """Canonical names of every distribution `dist[extras]` needs, itself excluded."""
    names: set[str] = set()
    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo = [(dist, extras)]
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        name, with_extras = item
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            # "" stands for no extra: markers without one are evaluated as they are.
            if marker is not None and not any(
                marker.evaluate({"extra": extra}) for extra in (*with_extras, "")
            ):
                continue
            key = canonicalize_name(requirement.name)
            names.add(key)
            todo.append((key, tuple(sorted(requirement.extras))))
    return names


def lock_entries(lock: str) -> list[tuple[str, str]]:
    """(canonical name, entry text) for each pinned entry: its line and hash lines."""
    entries: list[tuple[str, str]] = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock):
        lines = [line for line in block.splitlines() if not line.lstrip().startswith("#")]
        if not lines or "==" not in lines[0]:
            continue
        name = canonicalize_name(lines[0].split("==", 1)[0].strip())
        entries.append((name, "\n".join(lines).rstrip(" \\\n")))
    return entries


def add_built_hashes(requirements: Path, wheels: Path) -> None:
    """Pin the wheels built here from source-only packages (their sdist was checked
    against the lock when downloaded): each wheel whose hash is not in `requirements`
    has it added to its package's entry."""
    text = requirements.read_text()
    for wheel in sorted(wheels.glob("*.whl")):
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest in text:
            continue
        name = canonicalize_name(wheel.name.split("-", 1)[0])
        entries = [n for n, _ in lock_entries(text)]
        if name not in entries:
            raise SystemExit(f"{wheel.name}: no entry for {name} in {requirements}")
        text = re.sub(
            rf"(?ms)^({re.escape(name)}==.*?--hash=sha256:[0-9a-f]{{64}})(?! \\)",
            rf"\1 \\\n    --hash=sha256:{digest}",
            text,
            count=1,
        )
    requirements.write_text(text)


def main(argv: list[str]) -> int:
    if argv[1:2] == ["--hash-built"]:
        add_built_hashes(Path(argv[2]), Path(argv[3]))
        return 0
    wanted = closure(ROOT_DIST, EXTRAS)
    entries = [(n, text) for n, text in lock_entries(Path(argv[1]).read_text()) if n in wanted]
    missing = wanted - {name for name, _ in entries}
    if missing:
        print(f"not pinned in {argv[1]}: {', '.join(sorted(missing))}", file=sys.stderr)
        return 1
    print("# The workstation's part of requirements.lock (scripts/workstation_lock.py).")
    for _, text in entries:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
