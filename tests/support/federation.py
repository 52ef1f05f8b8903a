"""Federation in tests: `backupctl federation` on one instance, and what one instance
hands another to become its peer (exactly what an admin copies between them)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from redis import Redis
from sqlalchemy import select
from werkzeug.serving import make_server

from backupctl.cli import main
from composition.runtime import Runtime, build_runtime
from keys.gpg import kill_agent
from keys.lifecycle import GeneratedKey, generate_submission_key
from tests.conftest import FAST_SCRYPT, SUBMISSION_PASSPHRASE, _fresh_postgres_database
from tests.support.journalist import make_source
from tests.support.submission_key import load_into_sealing_homes, stop_agents
from vault.config import INTERFACES, Secrets, load_config
from vault.migrate import upgrade
from vault.models import CaseTransfer, Reviewer
from vault.services import cases, federation_peers


@dataclass(frozen=True)
class PeerCard:
    """`backupctl federation identity` of one instance, plus its key files."""

    fingerprint: str
    onion: str
    client_auth: str
    key_file: Path
    release_key_file: Path


def federation_cli(env: Mapping[str, str], *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, ["federation", *args], env=dict(env))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def identity_card(
    env: Mapping[str, str], directory: Path, release_key: str, *, create: bool = True
) -> PeerCard:
    """Create (or read) the instance's identity; its public key and release key as files
    in `directory`, as an admin would send them."""
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "federation.pem"
    args = ["identity", "--export-key", str(key_file)] + (["--create"] if create else [])
    output = federation_cli(env, *args).output
    fields = dict(line.split(None, 1) for line in output.splitlines() if line[:1].isalpha())
    release_key_file = directory / "release.asc"
    release_key_file.write_text(release_key)
    return PeerCard(
        fingerprint=fields["fingerprint"].strip(),
        onion=fields["onion"].strip(),
        client_auth=fields["client-auth"].strip(),
        key_file=key_file,
        release_key_file=release_key_file,
    )


def add_peer(env: Mapping[str, str], name: str, card: PeerCard, *extra: str) -> Result:
    return federation_cli(
        env,
        "peer", "add",
        "--name", name,
        "--fingerprint", card.fingerprint,
        "--onion", card.onion,
        "--key", str(card.key_file),
        "--client-auth", card.client_auth,
        "--release-key", str(card.release_key_file),
        *extra,
    )  # fmt: skip


def serve_wsgi(app: object) -> Iterator[int]:
    """Serve `app` over HTTP on 127.0.0.1 (a generator: next() gives the port, the
    second next() stops it)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()


def shared_case(rt: Runtime, analyst_uuid: str, peer: str, transfer: str, direction: str) -> str:
    """A case of `rt` shared with `peer` through `transfer` (as a transfer leaves one: the
    transfer itself is tested in test_transfer.py)."""
    source = make_source(rt)
    with rt.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == analyst_uuid)).one()
        case = cases.create_case(db, actor, source_uuids=[source.uuid])
        db.add(
            CaseTransfer(
                transfer_uuid=transfer,
                direction=direction,
                peer_id=federation_peers.get_peer(db, peer).id,
                case_id=case.id,
                envelope_id=None,
                items=2,
            )
        )
        return case.uuid


def instance_runtime(env: Mapping[str, str], redis: Redis) -> Runtime:
    """The runtime of another instance of the test (its database migrated already): both
    interfaces' secrets, fast scrypt, the suite's Redis."""
    held = {name: load_config(env, interface=name).secrets for name in INTERFACES}
    both = Secrets(source=held["source"].source, journalist=held["journalist"].journalist)
    config = dataclasses.replace(load_config(env), scrypt=FAST_SCRYPT, redis_url=None, secrets=both)
    return build_runtime(config, redis=redis)


@contextmanager
def other_database(
    tmp_path: Path, name: str, database_url: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A migrated database for another instance, of the same kind as `database_url`
    (a file beside the test's, or a fresh database on the suite's PostgreSQL, dropped
    at the end)."""
    if database_url.startswith("sqlite"):
        url, dropped = f"sqlite:///{tmp_path / f'{name}.sqlite'}", None
    else:
        url, dropped = _fresh_postgres_database(request.getfixturevalue("postgres_url"))
    upgrade(url)
    yield url
    if dropped is not None:
        with psycopg.connect(request.getfixturevalue("postgres_url"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)')


@contextmanager
def other_instance(
    tmp_path: Path,
    name: str,
    database_url: str,
    redis: Redis,
    request: pytest.FixtureRequest,
    *,
    passphrase: str = SUBMISSION_PASSPHRASE,
) -> Iterator[tuple[Runtime, GeneratedKey, Path]]:
    """Another organisation's instance (its runtime, its submission key, and the
    GnuPG home of its workstation holding that key), on the same kind of database."""
    with other_database(tmp_path, name, database_url, request) as url:
        env = {
            "BACKUP_INSTANCE_DIR": str(tmp_path / name),
            "DATABASE_URL": url,
            "REDIS_URL": "redis://unused",
        }
        home = tmp_path / f"{name}-ws" / "gnupg"
        key = generate_submission_key(home, passphrase, name=f"{name} submission key")
        rt = instance_runtime(env, redis)
        homes = load_into_sealing_homes(rt.config, key.public_armored)
        try:
            yield rt, key, home
        finally:
            rt.engine.dispose()
            kill_agent(rt.keyring.home)
            kill_agent(home)
            stop_agents(homes)
