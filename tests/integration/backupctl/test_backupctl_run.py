"""`backupctl run` as a real process on a fresh instance: it starts everything, serves
both interfaces, and on SIGTERM (or Ctrl-C) leaves nothing running behind it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from secrets import token_hex

import pytest
import requests
from click.testing import CliRunner
from redis import Redis
from rq import Worker

from backupctl.cli import main
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import SUBMISSION_KEY_FILE
from tests.integration.source_app.helpers import csrf_token
from tests.support.product import (
    REPO,
    Run,
    alive,
    descendants,
    make_instance_root,
    refuses,
    run_env,
)
from tests.support.servers import free_port
from vault import codenames, notifications
from vault.config import KEYRING_SIDES, Secrets, SourceSecrets, load_config
from vault.db import make_engine, make_session_factory
from vault.services import deletion, reply_keys, sources
from vault.transaction import unit_of_work


@pytest.fixture
def instance() -> Iterator[Path]:
    root = make_instance_root()
    path = root / "instance"
    yield path
    for side in KEYRING_SIDES:
        kill_agent(path / "gnupg" / side)
    kill_agent(path / "dev-workstation-gnupg")
    shutil.rmtree(root, ignore_errors=True)


def test_run_from_nothing_then_stop(instance: Path, tmp_path: Path) -> None:
    source_port, journalist_port = free_port(), free_port()
    env = run_env(source_port, journalist_port)
    sock = instance / "run" / "redis.sock"

    run = Run(instance, env, tmp_path / "run1.log")
    try:
        run.wait_until_serving(source_port, journalist_port)

        # A private Redis on a unix socket in the instance, with no TCP port.
        assert sock.is_socket()
        redis = Redis(unix_socket_path=str(sock))
        assert redis.config_get("port") == {"port": "0"}
        assert redis.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
        deadline = time.monotonic() + 30
        while not Worker.all(connection=redis) and time.monotonic() < deadline:
            time.sleep(0.25)
        [worker] = Worker.all(connection=redis)
        # Notifications first: a care notification must not wait behind deletions.
        assert worker.queue_names() == [notifications.QUEUE_NAME, deletion.QUEUE_NAME]
        redis.close()

        # A development key: public half on the server, secret half beside it, apart.
        fingerprint = (instance / SUBMISSION_KEY_FILE).read_text().strip()
        assert len(fingerprint) == 40
        server = GpgKeyring(instance / "gnupg" / "source")
        assert server.has_public_key(fingerprint)
        assert not server.has_secret_key(fingerprint)
        dev_home = instance / "dev-workstation-gnupg"
        assert GpgKeyring(dev_home, server=False).has_secret_key(fingerprint)
        assert (instance / "dev-workstation-passphrase").stat().st_mode & 0o777 == 0o600
        out = run.output
        assert "DEVELOPMENT SUBMISSION KEY" in out
        assert f"http://127.0.0.1:{source_port}/" in out
        assert f"http://127.0.0.1:{journalist_port}/" in out
        # The printed command works as printed: pasted into a shell whose PATH has no
        # venv, from another directory.
        venv_backupctl = Path(sys.executable).parent / "backupctl"
        printed = f"{venv_backupctl} --instance {instance} admin create USERNAME --role admin"
        assert printed in out
        assert "127.0.0.1 only" in out
        # Each app's secrets in a file of its own, owner-only, made before they started.
        directory = instance / "secrets"
        assert sorted(path.name for path in directory.iterdir()) == [
            "journalist.json",
            "source.json",
        ]
        assert {path.stat().st_mode & 0o777 for path in directory.iterdir()} == {0o600}
        pasted = subprocess.run(
            ["/bin/sh", "-c", printed.replace("USERNAME", "firstadmin")],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert pasted.returncode == 0, pasted.stderr
        assert "Reviewer 'firstadmin' created (role: admin)" in pasted.stdout
        assert not (tmp_path / "instance").exists()

        children = descendants(run.proc.pid)
        assert len(children) >= 6  # redis, 2 gunicorn masters + workers, the RQ worker
        assert run.stop(signal.SIGTERM) == 0
    finally:
        run.kill()
    assert not [pid for pid in children if alive(pid)], run.output
    assert not sock.exists()
    assert refuses(source_port)
    assert refuses(journalist_port)
    assert "stopped." in run.output

    # A second run keeps the key, reuses the instance, and stops on Ctrl-C too.
    rerun = Run(instance, env, tmp_path / "run2.log")
    try:
        rerun.wait_until_serving(source_port, journalist_port)
        assert (instance / SUBMISSION_KEY_FILE).read_text().strip() == fingerprint
        assert "Generated a development submission key" not in rerun.output
        assert "DEVELOPMENT SUBMISSION KEY" in rerun.output  # the warning, every time
        children = descendants(rerun.proc.pid)
        assert rerun.stop(signal.SIGINT) == 0
    finally:
        rerun.kill()
    assert not [pid for pid in children if alive(pid)], rerun.output
    assert not sock.exists()


def test_second_run_on_the_same_instance_is_refused(instance: Path, tmp_path: Path) -> None:
    source_port, journalist_port = free_port(), free_port()
    run = Run(instance, run_env(source_port, journalist_port), tmp_path / "run1.log")
    try:
        run.wait_until_serving(source_port, journalist_port)
        other = subprocess.run(
            [sys.executable, "-m", "backupctl", "run", "--instance", str(instance)],
            cwd=REPO,
            env=run_env(free_port(), free_port()),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode == 1
        assert "another `backupctl run` is using" in other.stderr
        assert run.proc.poll() is None
        assert run.stop(signal.SIGTERM) == 0
    finally:
        run.kill()


def test_run_refuses_a_production_instance(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "--instance", str(tmp_path / "instance")],
        env={"BACKUP_PRODUCTION": "1", "REDIS_URL": ""},
    )
    assert result.exit_code == 1
    assert "for development" in result.output
    assert not (tmp_path / "instance" / SUBMISSION_KEY_FILE).exists()


def test_an_instance_from_before_the_split_keeps_its_sources(
    instance: Path, tmp_path: Path
) -> None:
    """Development: an instance with one secrets.json (before each app had its own) is
    split on the first `backupctl run`; a source made under the old file still logs in
    with its codename through the served app, and the old file is gone."""
    source_port, journalist_port = free_port(), free_port()
    env = run_env(source_port, journalist_port)
    cli_env = {**env, "BACKUP_INSTANCE_DIR": str(instance)}
    assert CliRunner().invoke(main, ["db", "upgrade"], env=cli_env).exit_code == 0
    legacy = {
        name: token_hex(32)
        for name in (
            "source_secret_key",
            "journalist_secret_key",
            "lookup_pepper",
            "reply_key_pepper",
            "session_pepper",
        )
    }
    (instance / "secrets.json").write_text(json.dumps(legacy))
    base = load_config(cli_env)  # the CLI's configuration: no secrets, none created
    assert base.secrets.source is None and (instance / "secrets.json").exists()
    old = SourceSecrets(
        cookie_key=bytes.fromhex(legacy["source_secret_key"]),
        session_pepper=bytes.fromhex(legacy["session_pepper"]),
        lookup_pepper=bytes.fromhex(legacy["lookup_pepper"]),
        reply_key_pepper=bytes.fromhex(legacy["reply_key_pepper"]),
    )
    codename = codenames.generate_codename()
    engine = make_engine(base.database_url)
    factory = make_session_factory(engine)
    # The source app's sessions seal reply keys with a key from its secrets.
    reply_keys.bind_wrap_key(factory, reply_keys.wrap_key(old.reply_key_pepper))
    with factory() as db, unit_of_work(db):
        sources.create_source(
            db,
            GpgKeyring(base.gnupg_home("source")),
            replace(base, secrets=Secrets(source=old)),
            codename,
        )
    engine.dispose()

    run = Run(instance, env, tmp_path / "run.log")
    try:
        run.wait_until_serving(source_port, journalist_port)
        assert f"Created {instance / 'secrets' / 'source.json'}." in run.output
        assert not (instance / "secrets.json").exists()
        with requests.Session() as browser:
            url = f"http://127.0.0.1:{source_port}/login"
            token = csrf_token(browser.get(url, timeout=30).text)
            login = browser.post(
                url, data={"csrf_token": token, "codename": codename}, timeout=60,
                allow_redirects=False,
            )  # fmt: skip
            assert login.status_code == 302, login.text
            assert login.headers["Location"] == "/lookup"
        assert run.stop(signal.SIGTERM) == 0
    finally:
        run.kill()
