"""The test target: a Debian 12 root tree made with debootstrap, cached between runs.

The tree is built once into /var/cache/backup-tests (outside the repository), under a
name that hashes everything that goes into it (suite, mirror, variant, packages), so a
change to the package list builds a new tree instead of reusing a stale one. Each test
run works on a copy. The wheelhouse (the runtime lock's wheels for the target's Python)
is cached the same way, keyed by the lock's content.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE_DIR = Path(os.environ.get("BACKUP_TEST_CACHE", "/var/cache/backup-tests"))
SUITE = "bookworm"
VARIANT = "minbase"
# What the playbook installs, preinstalled so a warm run downloads nothing: the apt
# tasks then only check. python3-apt lets Ansible's apt module run without installing it.
PACKAGES = (
    "ca-certificates",
    "gnupg",
    "nftables",
    "python3",
    "python3-apt",
    "python3-venv",
    "redis-server",
    "systemd",
    "tor",
    "unattended-upgrades",
)
# The booted tests' tree (test_booted.py, test_cluster.py): PostgreSQL for the database
# role and onionbalance for the cluster's frontend, one cache entry for both tests.
# debootstrap does not resolve virtual packages: python3-cffi-backend provides the
# python3-cffi-backend-api-* that onionbalance's python3-cryptography depends on.
BOOTED_EXTRA = ("postgresql", "onionbalance", "python3-cffi-backend")
# Packages of the runtime lock published as sdists only (no wheel to download for the
# target's platform). A new one makes the wheelhouse download fail loudly: add it here.
SDIST_ONLY = frozenset({"stem"})
# Debian 12's Python: the wheels are chosen for it.
TARGET_PYTHON = "3.11.2"
REPO = Path(__file__).resolve().parents[2]


def debian_mirror() -> str:
    """The Debian mirror of this machine's apt sources (deb.debian.org otherwise)."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    ):
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = line.split()
            for word in words:
                if word.startswith("http") and word.rstrip("/").endswith("/debian"):
                    return word.rstrip("/")
    return "http://deb.debian.org/debian"


def tree_key(mirror: str, extra: tuple[str, ...] = ()) -> str:
    text = "\n".join([SUITE, VARIANT, mirror, *PACKAGES, *extra])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(CACHE_DIR / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def cached_tree(extra: tuple[str, ...] = ()) -> Path:
    """The cached debootstrap tree, built if missing (about a minute, ~360 MB).

    `extra`: more packages preinstalled, so that a warm run downloads nothing (as for
    PACKAGES); each set of extras is a cache entry of its own.
    """
    mirror = debian_mirror()
    kind = "+".join((SUITE, *extra))
    tree = CACHE_DIR / f"{kind}-{tree_key(mirror, extra)}"
    with _locked(tree.name):
        if (tree / ".complete").exists():
            return tree
        staging = tree.with_name(tree.name + ".building")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(
            [
                "debootstrap",
                f"--variant={VARIANT}",
                f"--include={','.join((*PACKAGES, *extra))}",
                SUITE,
                str(staging),
                mirror,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # Package caches are not part of what a test needs.
        for deb in (staging / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        (staging / ".complete").write_text(mirror + "\n")
        shutil.rmtree(tree, ignore_errors=True)
        staging.rename(tree)
        _evict(tree, f"{kind}-*")
    return tree


def _evict(keep: Path, pattern: str) -> None:
    """Older cached builds of the same kind: nothing uses them once a new one exists."""
    for old in CACHE_DIR.glob(pattern):
        if old != keep and not old.name.endswith((".lock", ".log", ".building")):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def copy_tree(source: Path, dest: Path) -> Path:
    """A private copy of the cached tree for one run (reflinks where the disk can)."""
    subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(dest)], check=True)
    (dest / ".complete").unlink()
    # apt inside the chroot resolves names like the host does.
    shutil.copyfile("/etc/resolv.conf", dest / "etc/resolv.conf")
    return dest


def overlay_tree(source: Path, work: Path) -> Path:
    """A private, writable view of the cached tree for one run, at no copying cost: an
    overlay whose lower layer is the cache (never written) and whose upper layer holds
    what this run changes. Several containers boot from one cached tree this way.
    Undone by remove_overlay."""
    upper, scratch, merged = work / "upper", work / "overlay-work", work / "root"
    for directory in (upper, scratch, merged):
        directory.mkdir(parents=True)
    options = f"lowerdir={source},upperdir={upper},workdir={scratch}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], check=True)
    (merged / ".complete").unlink()
    shutil.copyfile("/etc/resolv.conf", merged / "etc/resolv.conf")
    return merged


def remove_overlay(merged: Path) -> None:
    """Unmount an overlay_tree (its upper layer stays for remove_tree's caller)."""
    subprocess.run(["umount", str(merged)], check=False, capture_output=True)


def _filters() -> object:
    path = REPO / "ansible/filter_plugins/backup.py"
    spec = importlib.util.spec_from_file_location("backup_filters", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runtime_lock() -> str:
    filters = _filters()
    return filters.backup_runtime_lock(  # type: ignore[attr-defined]
        (REPO / "requirements.lock").read_text(),
        (REPO / "pyproject.toml").read_text(),
        TARGET_PYTHON,
        _runtime_extra(),
    )


def _runtime_extra() -> list[str]:
    """backup_runtime_extra_packages from the playbook's defaults."""
    defaults = (REPO / "ansible/roles/backup/defaults/main.yml").read_text()
    block = defaults.split("backup_runtime_extra_packages:", 1)[1]
    names = []
    for line in block.splitlines()[1:]:
        if not line.startswith("  - "):
            break
        names.append(line[4:].strip())
    return names


def _split_lock(lock: str) -> tuple[str, str]:
    """The lock's blocks split in two: packages with wheels, sdist-only packages."""
    wheels: list[str] = []
    sdists: list[str] = []
    current = wheels
    for line in lock.splitlines():
        if line and not line[0].isspace():
            current = sdists if line.split("==")[0].lower() in SDIST_ONLY else wheels
            # The runtime lock is already chosen for the target's Python; pip download
            # would judge a marker (python_full_version) by the host's instead.
            line = re.sub(r"\s*;[^\\]*", " ", line)
        current.append(line)
    return "\n".join(wheels) + "\n", "\n".join(sdists) + "\n"


def _download(pip: Path, dest: Path, requirements: str, options: list[str]) -> None:
    listing = dest / "requirements.txt"
    listing.write_text(requirements)
    subprocess.run(
        [
            str(pip),
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "--no-build-isolation",
            *options,
            "--dest",
            str(dest),
            "-r",
            str(listing),
        ],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    listing.unlink()


def cached_wheelhouse(pip: Path) -> Path:
    """A .tar of the runtime lock's packages for the target, keyed by that lock."""
    lock = runtime_lock()
    key = hashlib.sha256((TARGET_PYTHON + lock).encode()).hexdigest()[:16]
    archive = CACHE_DIR / f"wheelhouse-{key}.tar"
    with _locked(archive.name):
        if archive.exists():
            return archive
        staging = CACHE_DIR / f"wheelhouse-{key}.building"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        wheels, sdists = _split_lock(lock)
        platforms = [f"--platform=manylinux_2_{minor}_x86_64" for minor in (17, 28, 34, 36)]
        platforms += ["--platform=manylinux2014_x86_64", "--platform=any"]
        binary = ["--only-binary=:all:", "--implementation=cp", f"--python-version={TARGET_PYTHON}"]
        _download(pip, staging, wheels, binary + platforms)
        _download(pip, staging, sdists, ["--no-binary=:all:"])
        (staging / ".complete").write_text(key + "\n")
        partial = archive.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for item in sorted(staging.iterdir()):
                tar.add(item, arcname=item.name)
        partial.rename(archive)
        shutil.rmtree(staging)
        _evict(archive, "wheelhouse-*.tar")
    return archive
