"""The root of `backupctl`; each command group lives in its own module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from backupctl._common import CliState
from backupctl.airgap.cmd_authority import authority, seal
from backupctl.airgap.cmd_custody import custody
from backupctl.airgap.cmd_workstation import workstation
from backupctl.dev.cmd_run import run
from backupctl.server.cmd_admin import admin
from backupctl.server.cmd_anchor import anchor
from backupctl.server.cmd_audit import audit
from backupctl.server.cmd_care import care_group
from backupctl.server.cmd_db import db
from backupctl.server.cmd_federation import federation
from backupctl.server.cmd_guide import guide
from backupctl.server.cmd_hold import hold_group
from backupctl.server.cmd_keys import keys
from backupctl.server.cmd_observatory import observatory
from backupctl.server.cmd_onion import onion
from backupctl.server.cmd_receipts import receipt_key, rotate_receipt_key, verify_server_log
from backupctl.server.cmd_retention import retention_group
from backupctl.server.cmd_secrets import secrets
from backupctl.server.cmd_serve import serve
from backupctl.server.cmd_store import sweep
from backupctl.server.cmd_worker import worker
from federation.errors import FederationError
from keys.errors import KeysError
from onion.errors import OnionError
from vault.errors import VaultError
from workstation.errors import WorkstationError


class _Group(click.Group):
    """The errors of each package (the domain, keys, Tor, the workstation) become one
    clear line and exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VaultError as exc:
            raise click.ClickException(str(exc)) from exc
        except KeysError as exc:
            raise click.ClickException(f"key error: {exc}") from exc
        except OnionError as exc:
            raise click.ClickException(f"Tor error: {exc}") from exc
        except FederationError as exc:
            raise click.ClickException(f"federation error: {exc}") from exc
        except WorkstationError as exc:
            raise click.ClickException(f"workstation error: {exc}") from exc
        except OperationalError as exc:
            raise click.ClickException(
                f"database error ({exc.orig}): has `backupctl db upgrade` been run?"
            ) from exc


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


for _command in (run, serve, worker, admin, db, sweep, keys, workstation, onion):
    main.add_command(_command)
for _receipt_command in (receipt_key, verify_server_log, rotate_receipt_key, anchor):
    custody.add_command(_receipt_command)  # the server's half of the custody group
for _authority_command in (authority, seal):
    custody.add_command(_authority_command)  # judicial files sealed to an authority
main.add_command(custody)  # chain of custody (server and workstation)
main.add_command(audit)  # the reviewer audit log's hash chain
main.add_command(retention_group)  # the standing retention policy (systemd timer)
main.add_command(hold_group)  # legal holds: cases exempt from automatic deletion
main.add_command(care_group)  # escalation of urgent care requests (systemd timer)
main.add_command(observatory)  # statistics releases from the workstation, on the server
main.add_command(secrets)  # each interface's secrets file (production: before first start)
main.add_command(guide)  # the investigators' guide as PDF
main.add_command(federation)  # peer instances: identity, peers, signed exchange

__all__ = ["main"]
