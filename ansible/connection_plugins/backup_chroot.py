"""Run Ansible's tasks inside a local Debian 12 tree: a chroot, or that tree booted.

The test target is a debootstrap tree. Through a plain chroot no systemd runs, so the
playbook only lays down files (backup_start_services: false). The same tree booted with
systemd-nspawn runs systemd as its PID 1: given that PID (`ansible_chroot_booted_pid`),
commands and file transfers enter all of the container's namespaces with nsenter, so
services really start, restart and answer, as on a server.

ansible-core ships no chroot connection (it lives in community.general, which is not
installed and not in requirements.lock), so this minimal one ships with the playbook.
It is for tests and for preparing an image offline; real servers are reached over SSH.
"""

from __future__ import annotations

import os
import shutil
import subprocess  # nosec B404
from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = """
name: backup_chroot
short_description: run tasks inside a local chroot directory (tests)
description:
  - Executes commands with C(chroot ROOT /bin/sh -c CMD) and copies files into ROOT.
  - Needs root on the controller. The host name is the chroot's directory.
  - With booted_pid, runs inside that booted container instead (nsenter).
author: BackUp
options:
  chroot_root:
    description: The chroot directory (defaults to the inventory host name).
    vars:
      - name: ansible_chroot_root
  booted_pid:
    description: >-
      Host PID of the systemd (PID 1) of the tree booted with systemd-nspawn; empty for
      a plain chroot.
    default: ""
    vars:
      - name: ansible_chroot_booted_pid
"""

_CHROOT = "/usr/sbin/chroot"
_NSENTER = "/usr/bin/nsenter"
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


class Connection(ConnectionBase):
    """Local chroot: every command and file transfer stays under one directory."""

    transport = "backup_chroot"
    has_pipelining = True
    default_user = "root"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._root = ""
        self._booted_pid = ""
        self._connected: bool = False

    def _connect(self) -> Connection:
        if not self._connected:
            root = self.get_option("chroot_root") or self._play_context.remote_addr
            self._root = os.path.realpath(root)
            if not os.path.isfile(os.path.join(self._root, "bin", "sh")):
                raise AnsibleError(f"{self._root} is not a chroot tree (no /bin/sh)")
            if os.geteuid() != 0:
                raise AnsibleError("the backup_chroot connection needs root")
            self._booted_pid = str(self.get_option("booted_pid") or "")
            if self._booted_pid and not self._booted_pid.isdigit():
                raise AnsibleError(f"booted_pid must be a PID, not {self._booted_pid!r}")
            self._connected = True
        return self

    def _argv(self, *command: str) -> list[str]:
        if self._booted_pid:
            # All namespaces of the container, its root and working directory.
            return [_NSENTER, "--target", self._booted_pid, "--all", "-r", "-w", *command]
        return [_CHROOT, self._root, *command]

    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        proc = subprocess.run(  # nosec B603
            self._argv("/bin/sh", "-c", cmd),
            input=in_data,
            capture_output=True,
            check=False,
            env=_ENV,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def _booted_copy(self, script: str, path: str, stdin: Any, stdout: Any) -> None:
        # A booted container mounts its own /tmp, /run, …: its files are only reached
        # from inside, through a pipe.
        proc = subprocess.run(  # nosec B603
            self._argv("/bin/sh", "-c", script, "sh", path),
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            check=False,
            env=_ENV,
        )
        if proc.returncode != 0:
            raise AnsibleError(f"cannot copy {path}: {proc.stderr.decode(errors='replace')}")

    def _inside(self, path: str) -> str:
        # Normalise inside the chroot: a remote path can never climb out of the root.
        normal = os.path.normpath(os.path.join("/", path))
        return os.path.join(self._root, normal.lstrip("/"))

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        self._connect()
        if self._booted_pid:
            with open(in_path, "rb") as source:
                self._booted_copy('cat > "$1"', out_path, source, subprocess.DEVNULL)
            return
        target = self._inside(out_path)
        try:
            shutil.copyfile(in_path, target)
        except OSError as exc:
            raise AnsibleError(f"cannot copy {in_path} to {target}: {exc}") from exc

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        self._connect()
        if self._booted_pid:
            with open(out_path, "wb") as target:
                self._booted_copy('cat -- "$1"', in_path, subprocess.DEVNULL, target)
            return
        source = self._inside(in_path)
        try:
            shutil.copyfile(source, out_path)
        except OSError as exc:
            raise AnsibleError(f"cannot fetch {source}: {exc}") from exc

    def close(self) -> None:
        self._connected = False


__all__ = ["Connection"]
