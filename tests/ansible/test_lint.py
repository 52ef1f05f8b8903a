"""The playbooks pass ansible-lint's production profile and ansible-playbook's syntax check."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.ansible.conftest import ANSIBLE_DIR, VENV_BIN

PLAYBOOKS = ("site.yml", "backup.yml", "restore.yml", "cluster.yml")
# Each playbook's syntax is checked against the example inventory it is meant for.
INVENTORIES = {"cluster.yml": "inventory/cluster.example.yml"}
pytestmark = pytest.mark.timeout(600)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"), NO_COLOR="1")
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    return subprocess.run(
        list(argv), cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, check=False
    )


def test_ansible_lint_production_profile() -> None:
    result = _run(str(VENV_BIN / "ansible-lint"), "--profile", "production", *PLAYBOOKS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_syntax_check(playbook: str) -> None:
    result = _run(
        str(VENV_BIN / "ansible-playbook"),
        "--syntax-check",
        "-i",
        INVENTORIES.get(playbook, "inventory/hosts.example.yml"),
        playbook,
    )
    assert result.returncode == 0, result.stdout + result.stderr
