"""`backupctl custody` on the server: the receipt key and the receipt chain in the database.

`receipt-key` shows (and exports) the receipt public key, `verify-log` verifies the whole
chain, `rotate-receipt-key` hands the chain over to a new key. They join the `custody`
group (backupctl/airgap/cmd_custody.py) in backupctl/cli.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy.orm import Session

from backupctl._common import CliState
from composition.timestamps import token_checker
from keys.lifecycle import fingerprint_groups
from keys.receipts import RECEIPT_KEY_FILE, SigningKey, TrustedKeys, VerifyKey
from vault.config import Config
from vault.db import make_engine, make_session_factory
from vault.errors import ConfigError
from vault.services import anchors
from vault.services import custody as custody_service
from vault.transaction import unit_of_work

RETIRED_DIR = "retired_receipt_keys"


@click.command("receipt-key")
@click.option("--export", "export_to", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def receipt_key(state: CliState, export_to: Path | None) -> None:
    """SERVER: show the receipt key's fingerprint (and export its public key)."""
    key = SigningKey.load_or_generate(state.config().instance_dir / RECEIPT_KEY_FILE)
    click.echo(fingerprint_groups(key.fingerprint))
    if export_to is not None:
        export_to.write_text(key.verify_key.pem())
        click.echo(f"public key written to {export_to}")


@click.command("verify-log")
@click.pass_obj
def verify_server_log(state: CliState) -> None:
    """SERVER: verify the whole receipt chain in the database."""
    config = state.config()
    key = SigningKey.load(config.instance_dir / RECEIPT_KEY_FILE)
    retired = config.instance_dir / RETIRED_DIR
    keys = [key.verify_key] + [
        VerifyKey.from_pem(p.read_bytes()) for p in sorted(retired.glob("*.pem"))
    ]
    engine = make_engine(config.database_url)
    try:
        with make_session_factory(engine)() as db, unit_of_work(db):
            count = custody_service.verify_log(db, TrustedKeys(keys))
            anchored = verified_anchors(db, config, anchors.CUSTODY)
    finally:
        engine.dispose()
    click.echo(f"VERIFIED: {count} receipts, chained and signed; current key {key.fingerprint}")
    click.echo(anchored)


def verified_anchors(db: Session, config: Config, chain: str) -> str:
    """Check `chain`'s stored time-stamps against the configured TSA certificates
    (offline); a line saying what the latest proves. ChainError if one fails."""
    try:
        checker = token_checker(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    rows = anchors.verify_anchors(db, chain, checker, checker.trusted)
    unchecked = anchors.count_anchors(db, chain) - len(rows)
    note = (
        f"; {unchecked} by a TSA no longer configured not checked (no certificate)"
        if unchecked
        else ""
    )
    if not rows:
        return f"{chain} chain: no time-stamp anchor checked{note}"
    last = rows[-1]
    return (
        f"{chain} chain: {len(rows)} time-stamp anchor(s) verified; the latest, by {last.tsa}, "
        f"proves links up to {last.seq} existed at {last.gen_time:%Y-%m-%dT%H:%M:%SZ}{note}"
    )


@click.command("rotate-receipt-key")
@click.pass_obj
def rotate_receipt_key(state: CliState) -> None:
    """SERVER: replace the receipt key (stop the apps and workers first).

    The current key signs a receipt handing the chain over to the new key; its public
    half is kept (for verifying older receipts), its private half is deleted.
    """
    config = state.config()
    current_path = config.instance_dir / RECEIPT_KEY_FILE
    old = SigningKey.load(current_path)
    next_path = config.instance_dir / f"{RECEIPT_KEY_FILE}.next"
    if next_path.exists():
        raise click.ClickException(f"{next_path} exists: an earlier rotation was interrupted")
    new = SigningKey.generate(next_path)
    engine = make_engine(config.database_url)
    try:
        factory = make_session_factory(engine)
        custody_service.bind_signer(factory, old)
        with factory() as db, unit_of_work(db):
            custody_service.rotate_receipt_key(db, new)
    except BaseException:
        next_path.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    retired = config.instance_dir / RETIRED_DIR
    retired.mkdir(mode=0o700, exist_ok=True)
    (retired / f"{old.fingerprint}.pem").write_text(old.verify_key.pem())
    os.replace(next_path, current_path)
    click.echo(f"new receipt key: {fingerprint_groups(new.fingerprint)}")
    click.echo("restart the apps and workers; publish the new fingerprint")


__all__ = ["RETIRED_DIR", "receipt_key", "rotate_receipt_key", "verify_server_log"]
