"""Shared fixtures: real gpg, real Redis, SQLite and PostgreSQL started by the suite.

Fast scrypt parameters are used only here; everything else is the production code path.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from composition.runtime import Runtime, build_runtime
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import GeneratedKey, generate_submission_key
from tests.support.servers import postgres_server, redis_server
from tests.support.submission_key import load_into_sealing_homes, stop_agents
from vault.config import INTERFACES, SECRETS_DIR, Config, ScryptParams, Secrets, load_config
from vault.migrate import upgrade

SUBMISSION_PASSPHRASE = "correct horse battery staple submission"
TESTS = Path(__file__).parent
# Directories whose session fixtures are costly (a private Tor network, booted Debian
# targets): they run together on one worker, one after the other (a booted target's
# services and a Tor network never start side by side), and first, so this long group
# does not end last.
WHOLE_DIRECTORIES = ("tor", "ansible")
FAST_SCRYPT = ScryptParams(n=2**4, r=8, p=1)
ENGINES = ("sqlite", "postgresql")
# Where the SQL is, or where the engines behave differently (locks, failover, two
# instances exchanging, the inbox's queries at scale, what a row or a failed commit
# leaves in each engine's files): every test here runs on both
# engines. Elsewhere (the apps, the CLI, cases through their pages and commands) each
# test runs on one engine, about half of them on each (`_one_engine`): the queries they
# reach are the domain's, tested on both here. Both for all would not fit CI's time.
BOTH_ENGINES = (
    "integration/vault",
    "integration/keys",
    "integration/cluster",
    "integration/faults",
    "integration/federation",
    "integration/cases/test_inbox_at_scale.py",
    "integration/journalist_app/test_sealed_columns.py",
    "integration/source_app/test_source_commit_failure.py",
    "migrations",
)


def _one_engine(nodeid: str) -> str:
    """The engine of a test that runs on one: fixed by its name (CRC-32, the same in
    every process and run), so each file's tests are spread over both."""
    return ENGINES[zlib.crc32(nodeid.encode()) % len(ENGINES)]


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test outside BOTH_ENGINES that takes a database, and does not choose its
    engine itself, runs on the one `_one_engine` gives it."""
    if "database_url" not in metafunc.fixturenames:
        return
    if any(
        "database_url" in str(mark.args[0])
        for mark in metafunc.definition.iter_markers("parametrize")
    ):
        return
    where = metafunc.definition.path.relative_to(TESTS).as_posix()
    if where.startswith(BOTH_ENGINES):
        return
    engine = _one_engine(metafunc.definition.nodeid)
    metafunc.definition.add_marker(pytest.mark.parametrize("database_url", [engine], indirect=True))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """WHOLE_DIRECTORIES first: the scheduler below hands out work in this order."""
    items.sort(key=lambda item: item.path.relative_to(TESTS).parts[0] not in WHOLE_DIRECTORIES)


def _xdist_scope(nodeid: str) -> str:
    """The unit of work a worker takes whole: the test file, or "system" for every test
    under WHOLE_DIRECTORIES (one worker runs them in turn)."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if len(parts) > 1 and parts[0] == TESTS.name and parts[1] in WHOLE_DIRECTORIES:
        return "system"
    return path


@pytest.hookimpl(optionalhook=True)  # only when pytest-xdist is loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist's load-by-scope scheduler with our scopes. (Its xdist_group marks
    cannot be used: pytest 9 no longer lets a plugin rename a test, which is how the
    marks reach the scheduler.)"""
    from xdist.scheduler import LoadScopeScheduling

    class FileAndSystemScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _xdist_scope(nodeid)

    return FileAndSystemScheduling(config, log)


def _worker_db(url: str) -> str:
    """A shared TEST_REDIS_URL gets one database number per xdist worker (gw0 → 1, …),
    so one worker's flushdb never empties another's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, last = url.rstrip("/").rpartition("/")
    server = base if last.isdigit() else url.rstrip("/")
    return f"{server}/{int(worker[2:]) + 1}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("TEST_REDIS_URL"):
        yield _worker_db(os.environ["TEST_REDIS_URL"])
        return
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _fresh_postgres_database(server_url: str, template: str | None = None) -> tuple[str, str]:
    """A new database on the server, empty or a copy of `template`; returns (url, name)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    copied = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copied}')  # names are ours: hex only
    base = server_url.rsplit("/", 1)[0]
    return f"{base}/{name}", name


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the head revision, made once per worker: copied for each test
    that takes a `runtime`."""
    path = tmp_path_factory.mktemp("migrated") / "head.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _migrated_postgres(postgres_url: str) -> Iterator[str]:
    """The name of a PostgreSQL database at the head revision, made once per worker: the
    template of each test's database when the test takes a `runtime`."""
    url, name = _fresh_postgres_database(postgres_url)
    upgrade(url)
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite or PostgreSQL (both, or one: `pytest_generate_tests`). Empty, unless the test
    takes a `runtime`: then a copy of a database migrated once per worker, as the
    migrations are tested on their own (tests/integration/migrations) and cost a fifth
    of a second per test (even a run with nothing to do: alembic reads every revision
    file again)."""
    migrated = "runtime" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "backup.sqlite"
        if migrated:
            template: Path = request.getfixturevalue("_migrated_sqlite")
            with sqlite3.connect(template) as src, sqlite3.connect(path) as dst:
                src.backup(dst)
        yield f"sqlite:///{path}"
        return
    server_url = request.getfixturevalue("postgres_url")
    if migrated:
        url, name = _fresh_postgres_database(
            server_url, template=request.getfixturevalue("_migrated_postgres")
        )
    else:
        url, name = _fresh_postgres_database(server_url)
    yield url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def submission_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GeneratedKey, Path]]:
    """The instance submission keypair; its secret half lives only in this 'workstation' home."""
    home = tmp_path_factory.mktemp("ws") / "gnupg"
    key = generate_submission_key(home, SUBMISSION_PASSPHRASE, name="BackUp test submission key")
    yield key, home
    kill_agent(home)


@pytest.fixture
def instance_dir(tmp_path: Path) -> Path:
    return tmp_path / "instance"


@pytest.fixture
def config(instance_dir: Path, database_url: str, redis_url: str) -> Config:
    """One configuration for both apps of a test: it holds both interfaces' secrets (a
    production process holds one interface's only: tests/unit/vault/test_secrets.py)."""
    env = {
        "BACKUP_INSTANCE_DIR": str(instance_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }
    base = load_config(env)
    held = {name: load_config(env, interface=name).secrets for name in INTERFACES}
    both = Secrets(source=held["source"].source, journalist=held["journalist"].journalist)
    assert (instance_dir / SECRETS_DIR).is_dir()  # where served apps find them too
    return replace(base, scrypt=FAST_SCRYPT, secrets=both)


@pytest.fixture
def runtime(
    config: Config, redis: Redis, submission_key: tuple[GeneratedKey, Path]
) -> Iterator[Runtime]:
    """A migrated database (`database_url` copied it), the submission public key loaded,
    a real Redis."""
    rt = build_runtime(config, redis=redis)
    homes = load_into_sealing_homes(config, submission_key[0].public_armored)
    yield rt
    rt.engine.dispose()
    kill_agent(rt.keyring.home)
    stop_agents(homes)


@pytest.fixture
def cli_env(runtime: Runtime) -> dict[str, str]:
    """The environment `backupctl` would see on this instance."""
    config = runtime.config
    assert config.redis_url is not None
    return {
        "BACKUP_INSTANCE_DIR": str(config.instance_dir),
        "DATABASE_URL": config.database_url,
        "REDIS_URL": config.redis_url,
        "BACKUP_SCRYPT_N": "16",
    }


@pytest.fixture
def workstation_keyring(submission_key: tuple[GeneratedKey, Path]) -> GpgKeyring:
    """The air-gapped side's keyring, holding the submission secret key."""
    return GpgKeyring(submission_key[1], server=False)


@pytest.fixture(scope="session", autouse=True)
def _stop_gpg_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every GnuPG home a test made under the base temp dir gets its agent stopped at the
    end, so no agent outlives the run (tests that build their own homes need not)."""
    yield
    for socket in tmp_path_factory.getbasetemp().rglob("S.gpg-agent"):
        kill_agent(socket.parent)
