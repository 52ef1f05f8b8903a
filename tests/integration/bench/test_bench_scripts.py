"""Every benchmark runs as a module of the `bench` package from the repository root
(`python -m bench.X`, as docs/benchmarks.md shows), importing the project and its
sibling scripts normally: no script edits `sys.path`, and each one's `--help` works."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.product import REPO

BENCH = REPO / "bench"
SCRIPTS = sorted(
    p.stem for p in BENCH.glob("*.py") if 'if __name__ == "__main__":' in p.read_text()
)


def test_every_script_is_found() -> None:
    # The ones docs/benchmarks.md and docs/reliability.md describe, at least.
    assert {"upload_throughput", "inbox_scale", "reliability", "reviewer_day"} <= set(SCRIPTS)
    assert (BENCH / "__init__.py").is_file()


def test_no_script_touches_the_import_path() -> None:
    touching = {
        p.name: hit.group(0)
        for p in BENCH.glob("*.py")
        if (hit := re.search(r"sys\.path|PYTHONPATH|spec_from_file_location", p.read_text()))
    }
    assert touching == {}


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_runs_as_a_module(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{script}", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: "), done.stdout
    assert "Traceback" not in done.stderr
