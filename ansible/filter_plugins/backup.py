"""Filters that let the playbook reuse the project's own code on the controller.

- `backup_server_torrc`: the production torrc, rendered by `onion.torrc` (the same
  function the tests and `backupctl onion torrc` use), never a second template.
- `backup_client_auth_lock`: the reviewer service's "nobody" key (`onion.clientauth`).
- `backup_runtime_lock`: the part of requirements.lock the server needs. The lock also
  pins the test and lint tools (ansible, playwright, mypy...): none of them belongs on a
  server that holds survivors' submissions, so only the runtime closure of the project
  is kept, with its hashes, and pip still installs it with --require-hashes.

Both run on the controller, inside the repository's venv (`.venv/bin/ansible-playbook`),
where the project is installed.
"""

from __future__ import annotations

import re
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_BLOCK_START = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def backup_server_torrc(settings: dict[str, Any]) -> str:
    """Render the server torrc from the tor role's settings (roles/tor/tasks/main.yml)."""
    from onion.torrc import ServerTorrc, render_server_torrc

    paths = ("data_dir", "services_dir", "control_socket", "client_socket", "client_auth_dir")
    values: dict[str, Any] = {
        key: PurePosixPath(value) if key in paths and value is not None else value
        for key, value in settings.items()
    }
    return render_server_torrc(ServerTorrc(**values))


def backup_client_auth_lock(_unused: object = None) -> dict[str, str]:
    """The key nobody holds, made by `onion.clientauth.lock`: file name and content.

    A v3 service with an empty authorized_clients/ is PUBLIC. The reviewer service must
    carry this key before tor first starts, so it is closed until a reviewer is added
    and stays closed when the last one is revoked. The private half is discarded here.
    """
    from onion.clientauth import AUTHORIZED_CLIENTS, LOCK_NAME, lock

    with tempfile.TemporaryDirectory(prefix="backup-lock-") as tmp:
        lock(Path(tmp))
        name = f"{LOCK_NAME}.auth"
        return {"name": name, "content": (Path(tmp) / AUTHORIZED_CLIENTS / name).read_text()}


def _requires(name: str) -> list[str]:
    try:
        return metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        # Needed on the target only (a marker false here): its own dependencies, if any,
        # must be in the lock too, or pip --require-hashes refuses to install.
        return []


def _runtime_closure(root_requirements: list[str], python_full_version: str) -> set[str]:
    env: dict[str, str] = {key: str(value) for key, value in default_environment().items()}
    major_minor = ".".join(python_full_version.split(".")[:2])
    env.update(python_version=major_minor, python_full_version=python_full_version)
    wanted: set[str] = set()
    # (requirement, extras asked of the package that declares it)
    todo: list[tuple[str, frozenset[str]]] = [(spec, frozenset()) for spec in root_requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        spec, asked = todo.pop()
        req = Requirement(spec)
        if req.marker is not None and not any(
            req.marker.evaluate(dict(env, extra=extra)) for extra in asked | {""}
        ):
            continue
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        wanted.add(key[0])
        todo += [(child, key[1]) for child in _requires(req.name)]
    return wanted


def backup_runtime_lock(
    lock_text: str,
    pyproject_text: str,
    python_full_version: str,
    extra: list[str] | None = None,
) -> str:
    """The blocks of `lock_text` the project needs at run time on the target's Python.

    The project's own dependencies come from `pyproject_text` (the code being deployed,
    not whatever metadata the controller's venv holds); theirs from the installed
    distributions, whose versions are the lock's.
    """
    pyproject = tomllib.loads(pyproject_text)
    # The build backend too: the project itself is installed with --no-build-isolation.
    roots = pyproject["project"]["dependencies"] + pyproject["build-system"]["requires"]
    # Imported by the code but not (yet) declared in pyproject.toml: see the role's defaults.
    roots += list(extra or [])
    wanted = _runtime_closure(roots, python_full_version)
    kept: list[str] = []
    keep = False
    for line in lock_text.splitlines():
        match = _BLOCK_START.match(line)
        if match:
            keep = canonicalize_name(match.group(1)) in wanted
        elif line and not line.startswith((" ", "\t", "#")):
            keep = False
        if keep and not line.lstrip().startswith("#"):
            kept.append(line)
    found = {canonicalize_name(m.group(1)) for m in map(_BLOCK_START.match, kept) if m}
    missing = wanted - found
    if missing:
        raise ValueError(f"requirements.lock lacks runtime packages: {sorted(missing)}")
    return "\n".join(kept) + "\n"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "backup_server_torrc": backup_server_torrc,
            "backup_runtime_lock": backup_runtime_lock,
            "backup_client_auth_lock": backup_client_auth_lock,
        }
