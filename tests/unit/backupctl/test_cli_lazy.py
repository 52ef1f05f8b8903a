"""`backupctl` imports a command's module only when that command runs: the gunicorn
master of `backupctl serve` (and the workers it forks) must not carry the workstation,
the reviewer app, PDF fonts or Alembic, nor even the app it serves."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap

import click
from click.testing import CliRunner

from backupctl.cli import _COMMANDS, _CUSTODY_EXTRA, main
from tests.support.product import REPO

# What `backupctl serve source` runs in its master before forking: the root command, the
# serve command, and gunicorn's loading of the worker class (the arbiter does it).
_MASTER = textwrap.dedent(
    """
    import json, sys
    import click
    from gunicorn import util
    from backupctl.cli import main
    from web_shared.serving import gunicorn_settings
    with click.Context(main) as ctx:
        serve = main.get_command(ctx, "serve")
    util.load_class(gunicorn_settings("127.0.0.1:8080")["worker_class"])
    print(json.dumps(sorted(sys.modules)))
    """
)
# Packages the apps' workers import when they build the app, never the master.
_NOT_IN_MASTER = (
    "alembic", "argon2", "composition", "cryptography", "flask", "fpdf", "jinja2",
    "journalist_app", "pycountry", "reportlab", "rq", "source_app", "sqlalchemy",
    "workstation", "wtforms",
)  # fmt: skip


def test_the_serving_master_imports_neither_the_apps_nor_other_commands() -> None:
    done = subprocess.run(  # nosec B603: our interpreter, our code
        [sys.executable, "-c", _MASTER], cwd=REPO, capture_output=True, text=True, check=True
    )
    modules = set(json.loads(done.stdout))
    assert "backupctl.server.cmd_serve" in modules  # the command itself was loaded
    assert "web_shared.serving_worker" in modules  # and the worker class
    heavy = sorted(m for m in modules if m.split(".")[0] in _NOT_IN_MASTER)
    assert heavy == []
    others = sorted(m for m in modules if m.startswith("backupctl.") and ".cmd_" in m)
    assert others == ["backupctl.server.cmd_serve"]


def test_every_command_is_listed_and_loads() -> None:
    with click.Context(main) as ctx:
        names = main.list_commands(ctx)
        assert names == sorted(_COMMANDS)
        for name in names:
            command = main.get_command(ctx, name)
            assert command is not None
            assert command.name == name
        assert main.get_command(ctx, "no-such-command") is None
        custody = main.get_command(ctx, "custody")
    assert isinstance(custody, click.Group)
    for module, attribute in _CUSTODY_EXTRA:
        extra = getattr(importlib.import_module(module), attribute)
        assert custody.commands[extra.name] is extra


def test_an_unknown_command_is_refused_as_before() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output
