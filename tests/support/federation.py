"""Federation in tests: `backupctl federation` on one instance, and what one instance
hands another to become its peer (exactly what an admin copies between them)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result
from redis import Redis
from sqlalchemy import select
from werkzeug.serving import make_server

from backupctl.cli import main
from composition.runtime import Runtime, build_runtime
from tests.conftest import FAST_SCRYPT
from tests.support.journalist import make_source
from vault.config import INTERFACES, Secrets, load_config
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
