"""The workstation installs offline: `scripts/workstation.sh bundle` builds, on a
connected machine, a folder with every wheel the workstation needs (checked against
requirements.lock) and BackUp's own; `offline-install` from that folder, in a network
namespace with no network at all (and pip told --no-index), makes a fresh venv whose
`backupctl workstation --help` runs. A folder changed after it was built is refused.

The bundle is made with --no-debs: the Debian packages (WORKSTATION_PACKAGES) are
already installed here, by scripts/test.sh.
"""

from __future__ import annotations

import subprocess  # nosec B404
from pathlib import Path

import pytest

from tests.support.product import REPO

SCRIPT = REPO / "scripts" / "workstation.sh"


def _offline() -> list[str]:
    """A command prefix that leaves the process no network: a new, empty namespace."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)  # nosec B603 B607
    assert probe.returncode == 0, f"unshare -n: {probe.stderr!r} (the test runs as root)"
    return ["unshare", "-n"]


@pytest.mark.timeout(1800)
def test_offline_install_from_the_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "backup-workstation"
    built = subprocess.run(  # nosec B603 B607
        ["bash", str(SCRIPT), "bundle", str(bundle), "--no-debs"],
        capture_output=True, text=True, check=False, timeout=1500,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = sorted(p.name for p in (bundle / "wheels").iterdir())
    assert all(name.endswith(".whl") for name in wheels)  # nothing to build offline
    assert any(name.startswith("backup_dropbox-") for name in wheels)
    assert any(name.startswith("opendp-") for name in wheels)  # the workstation extra
    assert not any(name.startswith(("pytest-", "playwright-", "ansible")) for name in wheels)
    required = (bundle / "requirements.txt").read_text()
    assert "--hash=sha256:" in required and "\nflask==" in required
    assert not (REPO / "build").exists()

    venv = tmp_path / "venv"
    installed = subprocess.run(  # nosec B603 B607
        [*_offline(), "bash", str(bundle / "scripts" / "workstation.sh"), "offline-install",
         str(venv)],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    helped = subprocess.run(  # nosec B603
        [str(venv / "bin" / "backupctl"), "workstation", "--help"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    assert "decrypt" in helped.stdout and "Air-gapped workstation tools" in helped.stdout
    decrypt_help = subprocess.run(  # nosec B603
        [str(venv / "bin" / "backupctl"), "workstation", "decrypt", "--help"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert "CLEANED copy" in decrypt_help.stdout

    # Changed on the way (here: one byte of the requirements): refused before anything.
    with (bundle / "requirements.txt").open("a") as handle:
        handle.write("\n")
    refused = subprocess.run(  # nosec B603 B607
        [*_offline(), "bash", str(bundle / "scripts" / "workstation.sh"), "offline-install",
         str(tmp_path / "venv2")],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "requirements.txt: FAILED" in refused.stdout + refused.stderr
    assert not (tmp_path / "venv2").exists()
