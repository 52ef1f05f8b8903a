"""Federation in tests: `backupctl federation` on one instance, and what one instance
hands another to become its peer (exactly what an admin copies between them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from backupctl.cli import main


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
