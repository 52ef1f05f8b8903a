"""scripts/bootstrap.sh: Debian's policy-rc.d is put back as it was, whatever happens,
and every step prints a line with the elapsed time.

apt-get, dpkg-query and sudo are stand-ins on PATH (the real ones would change this
machine); the shell logic under test, traps included, is the script's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

BOOTSTRAP = Path(__file__).resolve().parents[3] / "scripts" / "bootstrap.sh"
OURS = "#!/bin/sh\nexit 101\n"
THEIRS = "#!/bin/sh\n# the admin's own policy\nexit 0\n"

FAKE_APT = """#!/bin/bash
# Records each call and the policy-rc.d that maintainer scripts would see.
echo "apt-get $* | policy: $(tr '\\n' ' ' < "$POLICY_RC_D" 2>/dev/null || echo none)" >>"$CALLS"
case " $* " in
    *" $FAIL_PKG "*) echo "E: Unable to locate package $FAIL_PKG" >&2; exit 100 ;;
    *" $HANG_PKG "*) sleep 60 ;;
esac
exit 0
"""
FAKE_DPKG_QUERY = """#!/bin/bash
# Packages named in $INSTALLED are installed; the others are not.
for pkg in $INSTALLED; do
    [ "${@: -1}" = "$pkg" ] && { printf 'install ok installed'; exit 0; }
done
exit 1
"""


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (
        ("apt-get", FAKE_APT),
        ("dpkg-query", FAKE_DPKG_QUERY),
        ("sudo", '#!/bin/sh\nexec "$@"\n'),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "POLICY_RC_D": str(tmp_path / "policy-rc.d"),
        "CALLS": str(tmp_path / "calls.log"),
        "FAIL_PKG": "",
        "HANG_PKG": "",
        "INSTALLED": "",
        "LANG": "C.UTF-8",
    }


def _bootstrap(env: dict[str, str], *packages: str) -> subprocess.CompletedProcess[str]:
    # As scripts/run.sh and scripts/test.sh use it: sourced, under set -euo pipefail.
    script = f'set -euo pipefail; . "{BOOTSTRAP}"; bootstrap_system "$@"; echo AFTER'
    return subprocess.run(
        ["bash", "-c", script, "bootstrap", *packages],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _calls(env: dict[str, str]) -> list[str]:
    path = Path(env["CALLS"])
    return path.read_text().splitlines() if path.exists() else []


class TestPolicyRcD:
    """Packages never start services during the install, and the host's policy stays."""

    def test_none_before_none_after(self, fake: dict[str, str]) -> None:
        done = _bootstrap(fake, "tor", "redis-server")
        assert done.returncode == 0, done.stderr
        assert done.stdout.rstrip().endswith("AFTER")
        calls = _calls(fake)
        assert [call.split(" | ")[0] for call in calls] == [
            "apt-get update -qq",
            "apt-get install -y -qq --no-install-recommends tor",
            "apt-get install -y -qq --no-install-recommends redis-server",
        ]
        assert all(call.endswith("policy: #!/bin/sh exit 101 ") for call in calls)
        assert not Path(fake["POLICY_RC_D"]).exists()

    def test_the_previous_one_comes_back_after_success(self, fake: dict[str, str]) -> None:
        policy = Path(fake["POLICY_RC_D"])
        policy.write_text(THEIRS)
        policy.chmod(0o750)
        done = _bootstrap(fake, "tor")
        assert done.returncode == 0, done.stderr
        assert all("exit 101" in call for call in _calls(fake))  # ours during the install
        assert policy.read_text() == THEIRS
        assert policy.stat().st_mode & 0o777 == 0o750
        assert not Path(f"{policy}.bootstrap-saved").exists()

    def test_a_failed_install_puts_it_back_and_fails(self, fake: dict[str, str]) -> None:
        policy = Path(fake["POLICY_RC_D"])
        policy.write_text(THEIRS)
        fake["FAIL_PKG"] = "no-such-package"
        done = _bootstrap(fake, "tor", "no-such-package", "gnupg")
        assert done.returncode != 0
        assert "AFTER" not in done.stdout  # the calling script stops too
        assert "Unable to locate package no-such-package" in done.stderr  # apt's own words
        assert "apt-get install no-such-package failed" in done.stderr
        assert policy.read_text() == THEIRS
        assert not any("gnupg" in call for call in _calls(fake))

    def test_a_failed_install_with_none_before_leaves_none(self, fake: dict[str, str]) -> None:
        fake["FAIL_PKG"] = "tor"
        done = _bootstrap(fake, "tor")
        assert done.returncode != 0
        assert not Path(fake["POLICY_RC_D"]).exists()

    def test_an_interrupted_install_puts_it_back(self, fake: dict[str, str]) -> None:
        policy = Path(fake["POLICY_RC_D"])
        policy.write_text(THEIRS)
        fake["HANG_PKG"] = "tor"
        script = f'set -euo pipefail; . "{BOOTSTRAP}"; bootstrap_system tor'
        proc = subprocess.Popen(
            ["bash", "-c", script],
            env=fake,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not any("install" in call for call in _calls(fake)):
            assert time.monotonic() < deadline, "apt-get install never started"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the group
        proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert policy.read_text() == THEIRS

    def test_a_copy_left_by_a_killed_run_is_not_overwritten(self, fake: dict[str, str]) -> None:
        policy = Path(fake["POLICY_RC_D"])
        saved = Path(f"{policy}.bootstrap-saved")
        policy.write_text(OURS)  # what a kill -9 in the middle leaves
        saved.write_text(THEIRS)
        done = _bootstrap(fake, "tor")
        assert done.returncode != 0
        assert "an earlier bootstrap was cut off" in done.stderr
        assert saved.read_text() == THEIRS
        assert _calls(fake) == []


class TestProgress:
    def test_a_line_per_step_with_the_elapsed_time(self, fake: dict[str, str]) -> None:
        done = _bootstrap(fake, "tor", "gnupg")
        assert done.returncode == 0, done.stderr
        lines = [line for line in done.stdout.splitlines() if line.startswith("==> [")]
        steps = [line.split("] ", 1)[1] for line in lines]
        assert steps == [
            "installing Debian packages: tor gnupg",
            "apt-get update",
            "installing tor (1/2)",
            "installing gnupg (2/2)",
            "Debian packages installed",
        ]
        assert all(line.startswith("==> [0m0") for line in lines)

    def test_nothing_to_do_prints_nothing(self, fake: dict[str, str]) -> None:
        fake["INSTALLED"] = "tor gnupg"
        done = _bootstrap(fake, "tor", "gnupg")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "AFTER\n"
        assert _calls(fake) == []


@pytest.mark.parametrize("script", ["run.sh", "test.sh", "reliability.sh"])
def test_the_scripts_that_source_it_parse(script: str) -> None:
    path = BOOTSTRAP.parent / script
    checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert '. "$(dirname "$0")/bootstrap.sh"' in path.read_text()
