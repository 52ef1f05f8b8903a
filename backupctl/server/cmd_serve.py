"""`backupctl serve source|journalist`: one app under gunicorn, exactly as production runs it.

systemd (ansible/), `backupctl run` and the tests all start the apps through this
command; the worker model, threads, timeouts and limits come from `web_shared.serving`.
gunicorn runs in this process (no shell line to assemble): this process is its master.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from backupctl._common import CliState
from web_shared.serving import APPS, POLICIES, gunicorn_settings, parse_bind

__all__ = ["GunicornServer", "serve"]


class GunicornServer(BaseApplication):
    """gunicorn with settings from `web_shared.serving`, not from argv or a config file."""

    def __init__(self, factory: str, settings: dict[str, Any]) -> None:
        self._factory = factory
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._settings.items():
            self.cfg.set(name, value)

    def load(self) -> Callable[..., Any]:
        # Each worker builds its own app (no preload): database pools, Redis clients and
        # gpg agents are never shared across a fork.
        module, _sep, function = self._factory.partition(":")
        app: Callable[..., Any] = getattr(importlib.import_module(module), function)()
        return app


@click.command()
@click.argument("app", type=click.Choice(sorted(APPS)))
@click.option(
    "--bind",
    metavar="127.0.0.1:PORT",
    help="Where to listen (default: 127.0.0.1 and the app's port from the configuration).",
)
@click.pass_obj
def serve(state: CliState, app: str, bind: str | None) -> None:
    """Serve one interface with gunicorn, as production does (runs until stopped)."""
    env = state.env()
    if bind is None and app == "federation":
        # Imported here: the federation settings pull in its keys' modules, which the
        # master of the two interfaces has no use for (it stays lean: web_shared.serving).
        from federation.config import load_federation_config

        bind = f"127.0.0.1:{load_federation_config(env).port}"
    elif bind is None:
        config = state.config()
        port = config.source_port if app == "source" else config.journalist_port
        bind = f"127.0.0.1:{port}"
    try:
        parse_bind(bind)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--bind") from exc
    if state.instance is not None:
        # The workers configure their app from the environment.
        os.environ["BACKUP_INSTANCE_DIR"] = env["BACKUP_INSTANCE_DIR"]
    GunicornServer(APPS[app], gunicorn_settings(bind, POLICIES[app])).run()
