"""Run Ansible's tasks inside a chroot: the test target (a debootstrap tree of Debian 12).

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
author: BackUp
options:
  chroot_root:
    description: The chroot directory (defaults to the inventory host name).
    vars:
      - name: ansible_chroot_root
"""

_CHROOT = "/usr/sbin/chroot"


class Connection(ConnectionBase):
    """Local chroot: every command and file transfer stays under one directory."""

    transport = "backup_chroot"
    has_pipelining = True
    default_user = "root"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._root = ""
        self._connected: bool = False

    def _connect(self) -> Connection:
        if not self._connected:
            root = self.get_option("chroot_root") or self._play_context.remote_addr
            self._root = os.path.realpath(root)
            if not os.path.isfile(os.path.join(self._root, "bin", "sh")):
                raise AnsibleError(f"{self._root} is not a chroot tree (no /bin/sh)")
            if os.geteuid() != 0:
                raise AnsibleError("the backup_chroot connection needs root")
            self._connected = True
        return self

    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        argv = [_CHROOT, self._root, "/bin/sh", "-c", cmd]
        proc = subprocess.run(  # nosec B603
            argv,
            input=in_data,
            capture_output=True,
            check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        )
        return proc.returncode, proc.stdout, proc.stderr

    def _inside(self, path: str) -> str:
        # Normalise inside the chroot: a remote path can never climb out of the root.
        normal = os.path.normpath(os.path.join("/", path))
        return os.path.join(self._root, normal.lstrip("/"))

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        self._connect()
        target = self._inside(out_path)
        try:
            shutil.copyfile(in_path, target)
        except OSError as exc:
            raise AnsibleError(f"cannot copy {in_path} to {target}: {exc}") from exc

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        self._connect()
        source = self._inside(in_path)
        try:
            shutil.copyfile(source, out_path)
        except OSError as exc:
            raise AnsibleError(f"cannot fetch {source}: {exc}") from exc

    def close(self) -> None:
        self._connected = False


__all__ = ["Connection"]
