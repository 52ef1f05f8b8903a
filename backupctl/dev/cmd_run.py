"""`backupctl run`: the whole product on one development machine, from nothing.

Order matters: Redis first (everything else talks to it), then the schema, the
submission key and a sweep of the store, and only then the processes that accept
requests. Stopping goes the other way: web servers and worker, then Redis.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import click

from backupctl._common import (
    CliState,
    backupctl_command,
    check_gnupg_home,
    development_key_banner,
    private_redis_socket,
)
from backupctl.dev.key import dev_passphrase_file, dev_workstation_home, ensure_submission_key
from backupctl.dev.onion_services import start_dev_onion_services
from backupctl.dev.private_redis import PrivateRedis
from backupctl.dev.supervisor import StopFlag, StopRequested, Supervisor, port_is_free
from composition.homes import split_keyring
from composition.runtime import build_runtime
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import fingerprint_groups
from onion.config import OnionConfig, load_onion_config
from vault import jobs
from vault.column_key import COLUMN_KEY_FILE
from vault.config import (
    KEYRING_SIDES,
    SEALING_SIDES,
    Config,
    init_secrets,
    load_config,
    secrets_dir_from_env,
)
from vault.migrate import upgrade

LISTEN_HOST = "127.0.0.1"  # development: never another interface
START_TIMEOUT_SECONDS = 60.0


@click.command()
@click.option(
    "--instance",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instance directory (default: $BACKUP_INSTANCE_DIR, else ./instance).",
)
@click.pass_obj
def run(state: CliState, instance: Path | None) -> None:
    """Run BackUp for development: Redis, migrations, both interfaces and the worker.

    On a fresh machine this creates the instance directory, a private Redis on a unix
    socket inside it (unless REDIS_URL is set) and a DEVELOPMENT submission key.
    Ctrl-C stops everything.
    """
    env = state.env(instance)
    config = load_config(env)
    if config.production:
        raise click.ClickException(
            "`backupctl run` is for development; production runs under systemd (ansible/)"
        )
    env["BACKUP_INSTANCE_DIR"] = str(config.instance_dir)
    stop = StopFlag()
    stop.install()
    code = 0
    try:
        with ExitStack() as stack:
            stack.enter_context(_instance_lock(config.run_dir))
            code = _run(config, env, stop, stack)
    except StopRequested:
        code = 0
    finally:
        stop.restore()
    click.echo("backupctl: stopped.", err=True)
    click.get_current_context().exit(code)


def _run(config: Config, env: dict[str, str], stop: StopFlag, stack: ExitStack) -> int:
    for port in (config.source_port, config.journalist_port):
        if not port_is_free(port):
            raise click.ClickException(f"{LISTEN_HOST}:{port} is already in use")

    if not config.redis_url:
        redis = PrivateRedis(
            private_redis_socket(config), config.run_dir / "redis", config.log_dir / "redis.log"
        )
        redis.start()
        stack.callback(redis.stop)
        env["REDIS_URL"] = redis.url
        config = load_config(env)
        click.echo(f"Private Redis on {redis.socket_path} (no TCP port).")
    stop.check()

    upgrade(config.database_url, column_key_file=config.instance_dir / COLUMN_KEY_FILE)
    click.echo("Database schema is up to date.")
    # Each interface's secrets in a file of its own, made (or split from a former
    # secrets.json) before the apps' workers start.
    for path in init_secrets(secrets_dir_from_env(env, config.instance_dir), config.instance_dir):
        click.echo(f"Created {path}.")
    stop.check()

    # One GnuPG home per process, as in production (a former single home is split).
    for path in split_keyring(config):
        click.echo(f"Made {path} from the former single GnuPG home.")
    keyrings = []
    for side in KEYRING_SIDES:
        check_gnupg_home(config.gnupg_home(side))
        stack.callback(kill_agent, config.gnupg_home(side))
        keyring = GpgKeyring(config.gnupg_home(side))
        if side in SEALING_SIDES:
            keyrings.append(keyring)
    key = ensure_submission_key(config, keyrings)
    if key.created:
        click.echo(f"Generated a development submission key: {fingerprint_groups(key.fingerprint)}")
    else:
        click.echo(f"Submission key: {fingerprint_groups(key.fingerprint)}")
    if key.development:
        development_key_banner(config.instance_dir)
    stop.check()

    runtime = build_runtime(config, side="worker")
    try:
        finished = jobs.finish_requested_deletions(runtime)
        swept = jobs.sweep_store(runtime)
    finally:
        runtime.engine.dispose()
        runtime.redis.close()
    if finished:
        click.echo(f"Carried out {finished} requested deletion(s) left undone.")
    if swept:
        click.echo(f"Shredded {swept} stale file(s) left in the store by an earlier crash.")
    stop.check()

    supervisor = Supervisor(stop)
    stack.callback(supervisor.stop_all)
    supervisor.spawn("source interface", _serve_argv("source", config.source_port), env)
    supervisor.spawn("reviewer interface", _serve_argv("journalist", config.journalist_port), env)
    # The worker restarts after a crash (kill -9 mid-job): its jobs are retried.
    supervisor.spawn("worker", [sys.executable, "-m", "backupctl", "worker"], env, restart=True)
    # Production runs this from a systemd timer (backup-care-escalate.timer).
    supervisor.spawn(
        "care escalation",
        [sys.executable, "-m", "backupctl", "care", "escalate", "--every", "60"],
        env,
        restart=True,
    )
    if config.tsa.authorities:
        # Production runs this from a systemd timer (backup-anchor.timer).
        supervisor.spawn(
            "trusted time",
            [sys.executable, "-m", "backupctl", "custody", "anchor", "--every", "3600"],
            env,
            restart=True,
        )
    ports = (config.source_port, config.journalist_port)
    if not supervisor.wait_for_ports(ports, START_TIMEOUT_SECONDS):
        if stop.requested:
            return 0
        child = supervisor.exited()
        reason = f"{child.name} exited" if child else "timed out"
        click.secho(f"backupctl: start-up failed ({reason})", fg="red", err=True)
        return 1

    _announce(config, load_onion_config(env), key.development, stack)
    return supervisor.watch()


def _serve_argv(app: str, port: int) -> list[str]:
    """The serving command production runs (web_shared/serving.py), on this machine's port."""
    return [sys.executable, "-m", "backupctl", "serve", app, "--bind", f"{LISTEN_HOST}:{port}"]


@contextlib.contextmanager
def _instance_lock(run_dir: Path) -> Iterator[None]:
    """One `backupctl run` per instance: a second one would fight over Redis and ports."""
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(run_dir / "backupctl-run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise click.ClickException(
                f"another `backupctl run` is using {run_dir.parent}"
            ) from exc
        yield
    finally:
        os.close(fd)


def _announce(config: Config, onion: OnionConfig, development_key: bool, stack: ExitStack) -> None:
    instance = shlex.quote(str(config.instance_dir))
    cmd = backupctl_command()
    click.echo("")
    click.secho("BackUp is running (development).", bold=True)
    click.echo(f"  Source interface:   http://{LISTEN_HOST}:{config.source_port}/")
    click.echo(f"  Reviewer interface: http://{LISTEN_HOST}:{config.journalist_port}/")
    click.echo("")
    click.echo("Create the first admin (prints their passphrase and two-factor secret once):")
    click.echo(f"  {cmd} --instance {instance} admin create USERNAME --role admin")
    if development_key:
        home = shlex.quote(str(dev_workstation_home(config)))
        passphrase = shlex.quote(str(dev_passphrase_file(config)))
        click.echo("Read downloaded submissions with the development key:")
        click.echo(
            f"  {cmd} workstation decrypt --home {home} --passphrase-file {passphrase} "
            "FILES... --out DIR"
        )
    click.echo("")
    start_dev_onion_services(config, onion, stack)
    click.echo("Ctrl-C stops everything.")
