"""`backupctl db upgrade`, `backupctl sweep` and `backupctl worker` on a real instance."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from backupctl.cli import main
from composition.runtime import Runtime
from vault import codenames
from vault.models import Source
from vault.services import deletion, sources


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """RQ installs its own SIGINT/SIGTERM handlers; give pytest its own back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--instance", str(tmp_path / "instance"), "db", "upgrade"]
    for _ in range(2):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "instance" / "backup.sqlite").exists()


def test_sweep_shreds_stale_partials_only(runtime: Runtime, cli_env: dict[str, str]) -> None:
    incoming = runtime.store.root / "incoming"
    incoming.mkdir(exist_ok=True)
    stale = incoming / ".partial-stale"
    fresh = incoming / ".partial-fresh"
    stale.write_bytes(b"ciphertext of a crashed upload")
    fresh.write_bytes(b"ciphertext of an upload in progress")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    result = CliRunner().invoke(main, ["sweep"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "Shredded 1 stale file(s)." in result.output
    assert not stale.exists()
    assert fresh.exists()
    too_soon = CliRunner().invoke(main, ["sweep", "--older-than", "10"], env=cli_env)
    assert too_soon.exit_code == 2


@pytest.mark.usefixtures("keep_signal_handlers")
def test_worker_carries_out_a_deletion(runtime: Runtime, cli_env: dict[str, str]) -> None:
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        sources.submit(db, runtime.store, source, runtime.submission_fingerprint, "hello", [])
        deletion.request_source_deletion(db, runtime.redis, source)
        source_dir = runtime.store.source_dir(source.uuid)
        assert source_dir.exists()
    result = CliRunner().invoke(main, ["worker", "--burst"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert not source_dir.exists()
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Source)) == 0
    assert source.uuid not in result.output
