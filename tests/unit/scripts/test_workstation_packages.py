"""docs/workstation.md lists exactly the Debian packages the workstation needs: the one
list is WORKSTATION_PACKAGES in scripts/workstation.sh, which its `install` and
`offline-install` install, and scripts/test.sh installs them too (the tests use them)."""

from __future__ import annotations

import re
import subprocess

from tests.support.product import REPO


def _workstation_packages() -> list[str]:
    script = (REPO / "scripts" / "workstation.sh").read_text(encoding="utf-8")
    found = re.search(r"^WORKSTATION_PACKAGES=\((.+)\)$", script, re.MULTILINE)
    assert found is not None
    listed = subprocess.run(
        ["bash", "-c", f'{found.group(0)}; printf "%s\\n" "${{WORKSTATION_PACKAGES[@]}}"'],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return listed.stdout.split()


def test_the_workstation_guide_quotes_the_list() -> None:
    packages = _workstation_packages()
    assert {"gnupg", "mat2"} <= set(packages)
    guide = (REPO / "docs" / "workstation.md").read_text(encoding="utf-8")
    quoted = re.search(r"`WORKSTATION_PACKAGES` in\n`scripts/workstation.sh`:\n\n    (.+)\n", guide)
    assert quoted is not None
    assert quoted.group(1).split() == packages


def test_the_test_script_installs_them() -> None:
    script = (REPO / "scripts" / "test.sh").read_text(encoding="utf-8")
    installs = script.split("bootstrap_system", 1)[1].split("bootstrap_venv", 1)[0]
    assert set(_workstation_packages()) <= set(installs.replace("\\", " ").split())
