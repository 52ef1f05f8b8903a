"""The release the app role packs holds every package the project installs: a package
left out breaks `backupctl` on the server at its first import."""

from __future__ import annotations

import tomllib

import yaml

from tests.ansible.conftest import ANSIBLE_DIR, SOURCE_ITEMS

REPO = ANSIBLE_DIR.parent


def _packed() -> set[str]:
    tasks = yaml.safe_load((ANSIBLE_DIR / "roles" / "app" / "tasks" / "main.yml").read_text())
    [pack] = [t for t in tasks if t.get("name", "").startswith("Pack the code")]
    return {arg for arg in pack["ansible.builtin.command"]["argv"] if not arg.startswith("-")}


def _installed_packages() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*") for pattern in include}


def test_every_installed_package_is_packed() -> None:
    missing = _installed_packages() - _packed()
    assert not missing, f"not in the release archive (roles/app/tasks/main.yml): {missing}"


def test_the_tests_pack_what_the_role_packs() -> None:
    assert set(SOURCE_ITEMS) <= _packed() and _packed() - {"tar"} <= set(SOURCE_ITEMS)
