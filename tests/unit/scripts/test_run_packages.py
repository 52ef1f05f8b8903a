"""docs/admin.md lists exactly the Debian packages scripts/run.sh installs: the one list
is RUN_PACKAGES in scripts/bootstrap.sh, which run.sh installs and the doc quotes."""

from __future__ import annotations

import re
import subprocess

from tests.support.product import REPO


def _run_packages() -> list[str]:
    done = subprocess.run(
        ["bash", "-c", '. scripts/bootstrap.sh && printf "%s\\n" "${RUN_PACKAGES[@]}"'],
        cwd=REPO, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return done.stdout.split()


def test_run_sh_installs_the_list() -> None:
    script = (REPO / "scripts" / "run.sh").read_text(encoding="utf-8")
    installs = [line for line in script.splitlines() if line.startswith("bootstrap_system")]
    assert installs == ['bootstrap_system "${RUN_PACKAGES[@]}"']


def test_the_admin_guide_quotes_the_list() -> None:
    packages = _run_packages()
    assert {"python3", "gnupg", "redis-server", "tor"} <= set(packages)
    guide = (REPO / "docs" / "admin.md").read_text(encoding="utf-8")
    quoted = re.search(r"`RUN_PACKAGES` in\n`scripts/bootstrap.sh`:\n\n    (.+)\n", guide)
    assert quoted is not None
    assert quoted.group(1).split() == packages
