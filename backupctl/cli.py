"""The root of `backupctl`; each command group lives in its own module.

A command's module is imported only when that command runs (or `--help` lists it), as
click's documentation describes for lazily loaded subcommands: `backupctl serve`, the
gunicorn master of each interface, then holds gunicorn and the serving policy, not the
workstation, the reviewer app, PDF fonts and Alembic that other commands need. Its
workers fork from it, so they would inherit all of those too.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from backupctl._common import CliState
from federation.errors import FederationError
from keys.errors import KeysError
from onion.errors import OnionError
from vault.errors import VaultError

__all__ = ["main"]

# Each command of the root: the module that defines it and the attribute that is it.
_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("backupctl.dev.cmd_run", "run"),
    "serve": ("backupctl.server.cmd_serve", "serve"),
    "worker": ("backupctl.server.cmd_worker", "worker"),
    "admin": ("backupctl.server.cmd_admin", "admin"),
    "db": ("backupctl.server.cmd_db", "db"),
    "sweep": ("backupctl.server.cmd_store", "sweep"),
    "keys": ("backupctl.server.cmd_keys", "keys"),
    "workstation": ("backupctl.airgap.cmd_workstation", "workstation"),
    "onion": ("backupctl.server.cmd_onion", "onion"),
    # chain of custody (server and workstation): see _custody
    "custody": ("backupctl.airgap.cmd_custody", "custody"),
    # the reviewer audit log's hash chain
    "audit": ("backupctl.server.cmd_audit", "audit"),
    # the standing retention policy (systemd timer)
    "retention": ("backupctl.server.cmd_retention", "retention_group"),
    # legal holds: cases exempt from automatic deletion
    "hold": ("backupctl.server.cmd_hold", "hold_group"),
    # escalation of urgent care requests (systemd timer)
    "care": ("backupctl.server.cmd_care", "care_group"),
    # statistics releases from the workstation, on the server
    "observatory": ("backupctl.server.cmd_observatory", "observatory"),
    # each interface's secrets file (production: before first start)
    "secrets": ("backupctl.server.cmd_secrets", "secrets"),
    # the investigators' guide as PDF
    "guide": ("backupctl.server.cmd_guide", "guide"),
    # peer instances: identity, peers, signed exchange
    "federation": ("backupctl.server.cmd_federation", "federation"),
}
# Commands defined elsewhere that join the custody group: the server's half of the
# chain (receipts, anchoring) and judicial files sealed to an authority.
_CUSTODY_EXTRA: tuple[tuple[str, str], ...] = (
    ("backupctl.server.cmd_receipts", "receipt_key"),
    ("backupctl.server.cmd_receipts", "verify_server_log"),
    ("backupctl.server.cmd_receipts", "rotate_receipt_key"),
    ("backupctl.server.cmd_anchor", "anchor"),
    ("backupctl.airgap.cmd_authority", "authority"),
    ("backupctl.airgap.cmd_authority", "seal"),
)


def _load(module: str, attribute: str) -> click.Command:
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{module}.{attribute} is not a click command")
    return command


def _custody(group: click.Command) -> click.Command:
    if isinstance(group, click.Group):
        for module, attribute in _CUSTODY_EXTRA:
            command = _load(module, attribute)
            if command.name not in group.commands:
                group.add_command(command)
    return group


def _one_line(exc: Exception) -> str | None:
    """The operator's line for an error of one of our packages; None for any other."""
    if isinstance(exc, VaultError):
        return str(exc)
    if isinstance(exc, KeysError):
        return f"key error: {exc}"
    if isinstance(exc, OnionError):
        return f"Tor error: {exc}"
    if isinstance(exc, FederationError):
        return f"federation error: {exc}"
    # The workstation and SQLAlchemy are imported by the commands that use them, not by
    # this module (nor by `serve`): a process that never imported one cannot have raised
    # its error.
    workstation_errors = sys.modules.get("workstation.errors")
    if workstation_errors is not None and isinstance(exc, workstation_errors.WorkstationError):
        return f"workstation error: {exc}"
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.OperationalError):
        return f"database error ({exc.orig}): has `backupctl db upgrade` been run?"
    return None


class _Group(click.Group):
    """The root group: commands loaded when used, and the errors of each package (the
    domain, keys, Tor, the workstation, the database) as one clear line and exit status
    1, not a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in _COMMANDS:
            return command
        command = _load(*_COMMANDS[cmd_name])
        if cmd_name == "custody":
            command = _custody(command)
        self.add_command(command, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            line = _one_line(exc)
            if line is None:
                raise
            raise click.ClickException(line) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--instance",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instance directory (default: $BACKUP_INSTANCE_DIR, else ./instance).",
)
@click.version_option(package_name="backup-dropbox", prog_name="backupctl")
@click.pass_context
def main(ctx: click.Context, instance: Path | None) -> None:
    """Operate a BackUp instance (and, with `workstation`, its air-gapped side)."""
    ctx.obj = CliState(instance=instance)
