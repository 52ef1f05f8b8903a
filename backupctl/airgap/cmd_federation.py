"""`backupctl workstation federation`: comparing incidents with a partner organisation
so that an incident both hold is counted once (docs/observatory.md, "Federation").

On the AIR-GAPPED workstation of each organisation; the messages travel between the
organisations' servers over the federation (signed here, so a server that carries them
cannot change them):

- `ask` (the organisation whose federation identity sorts later): writes a signed
  request (its incidents' descriptors, blinded) and keeps the blinding secret and the
  descriptors sealed to the workstation's keys (`--state`);
- `answer` (the organisation that sorts first): checks the request against the asker's
  pinned key and writes a signed response; its own blinding secret is never stored;
- `match` (the asker): checks the response against the answerer's pinned key and writes
  the exclusions (its incidents the answerer holds), sealed, for `release make
  --federation-exclusions`.

With `--workspace`, each step is in the workspace's custody log (peer, request, sizes,
number matched) and an answered request is refused again (a replay).
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from backupctl._common import check_gnupg_home, read_passphrase_file
from backupctl.airgap.cmd_custody import _open
from keys.errors import DecryptionError
from keys.gpg import GpgKeyring
from workstation.custody_log import LOG_NAME, Workspace, read_log
from workstation.errors import WorkstationError
from workstation.observatory.dedupe import (
    DEFAULT_MAX_ITEMS,
    PENDING,
    REQUEST,
    RESPONSE,
    DedupeError,
    Scope,
    answer_request,
    make_request,
    match,
    parse_message,
)
from workstation.observatory.incidents import statistics_consent
from workstation.observatory.release import ReleaseError, canonical
from workstation.observatory.release_input import ReleaseRow
from workstation.observatory.release_sign import sign_bytes, verify_signed
from workstation.observatory.store import open_book, seal_recipient, seal_recipients
from workstation.observatory.to_release import release_rows

__all__ = ["federation", "open_sealed_json", "read_rows_file"]


@click.group()
def federation() -> None:
    """Compare incidents with partner organisations (private set intersection)."""


def read_rows_file(path: Path) -> list[ReleaseRow]:
    from backupctl.airgap.cmd_release import _read_rows

    return _read_rows(path)


def seal_json(keyring: GpgKeyring, data: dict[str, Any], path: Path) -> str:
    """Write `data` sealed to every key in force (0600); the sealed bytes' SHA-256."""
    sealed = keyring.seal_bytes(json.dumps(data, sort_keys=True).encode(), seal_recipients(keyring))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(sealed)
    return hashlib.sha256(sealed).hexdigest()


def open_sealed_json(keyring: GpgKeyring, path: Path, passphrase: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(keyring.open_bytes(path.read_bytes(), passphrase))
    except (DecryptionError, ValueError) as exc:
        raise DedupeError(f"{path.name}: cannot be opened with this key") from exc
    return data


def _write_signed(document: dict[str, Any], path: Path, home: Path, fp: str, phrase: str) -> None:
    data = canonical(document)
    path.write_bytes(data)
    path.with_name(path.name + ".asc").write_bytes(sign_bytes(data, home, fp, phrase))


def _read_signed(path: Path, key_path: Path, schema: str) -> dict[str, Any]:
    signature = path.with_name(path.name + ".asc")
    if not signature.exists():
        raise DedupeError(f"no signature: {signature.name} is missing")
    data = path.read_bytes()
    verify_signed(data, signature.read_bytes(), key_path.read_bytes())
    return parse_message(data, schema)


_HOME = click.option(
    "--home",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="GnuPG home holding the workstation's secret key.",
)
_PASSPHRASE = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The GnuPG key's passphrase, from this file's first line.",
)
_WORKSPACE = click.option(
    "--workspace",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The incidents coded in this workspace (and its custody log).",
)
_KEY_PASSPHRASE = click.option(
    "--key-passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --workspace: the workstation signing key's passphrase.",
)
_ROWS = click.option(
    "--rows",
    "rows_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For tests and imports only: rows in a file, one JSON object a line, in clear.",
)
_ORG = click.option("--organisation", required=True, help="Our federation identity.")


def _phrase(passphrase_file: Path | None) -> str:
    if passphrase_file is not None:
        return read_passphrase_file(passphrase_file)
    return str(click.prompt("Passphrase of the workstation key", hide_input=True))


def _rows(
    stack: ExitStack,
    workspace: Path | None,
    key_passphrase_file: Path | None,
    rows_path: Path | None,
    home: Path,
    phrase: str,
) -> tuple[list[ReleaseRow], Workspace | None]:
    if (workspace is None) == (rows_path is None):
        raise click.UsageError("give --workspace (coded incidents) or --rows, not both")
    if rows_path is not None:
        return read_rows_file(rows_path), None
    assert workspace is not None  # noqa: S101  # nosec B101 - checked above
    opened = _open(workspace, key_passphrase_file, None)
    book = stack.enter_context(open_book(opened, home, [phrase]))
    records = list(book.records.values())
    return release_rows(records, statistics_consent(opened, records)), opened


def _run(body: Any) -> None:
    try:
        body()
    except (ReleaseError, WorkstationError) as exc:
        raise click.ClickException(f"REFUSED: {exc}") from exc


@federation.command()
@_ORG
@click.option("--peer", required=True, help="The federation identity of the one asked.")
@click.option("--from", "first_month", required=True, help="First month, YYYY-MM.")
@click.option("--to", "last_month", required=True, help="Last month, YYYY-MM (included).")
@click.option("--country", "countries", multiple=True, help="ISO 3166-1 code (repeatable).")
@_WORKSPACE
@_KEY_PASSPHRASE
@_ROWS
@_HOME
@_PASSPHRASE
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to keep the pending request, sealed (stays on this workstation).",
)
def ask(
    organisation: str,
    peer: str,
    first_month: str,
    last_month: str,
    countries: tuple[str, ...],
    workspace: Path | None,
    key_passphrase_file: Path | None,
    rows_path: Path | None,
    home: Path,
    passphrase_file: Path | None,
    out: Path,
    state_path: Path,
) -> None:
    """Ask PEER which of our incidents it also holds (we sort after it)."""
    check_gnupg_home(home)
    phrase = _phrase(passphrase_file)

    def body() -> None:
        keyring = GpgKeyring(home, server=False)
        with ExitStack() as stack:
            rows, opened = _rows(stack, workspace, key_passphrase_file, rows_path, home, phrase)
            scope = Scope(tuple(sorted(set(countries))), first_month, last_month)
            request, state = make_request(organisation, peer, scope, rows)
            seal_json(keyring, state, state_path)
            _write_signed(request, out, home, seal_recipient(keyring), phrase)
            if opened is not None:
                opened.log.append(
                    "federation-asked",
                    {"peer": peer, "request": request["id"], "items": request["items"]},
                )
        click.echo(f"request {request['id']} to {peer}: {request['items']} descriptors -> {out}")

    _run(body)


@federation.command()
@_ORG
@click.argument("request_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--peer-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The asker's workstation public key, as pinned.",
)
@_WORKSPACE
@_KEY_PASSPHRASE
@_ROWS
@_HOME
@_PASSPHRASE
@click.option("--max-items", type=int, default=DEFAULT_MAX_ITEMS, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def answer(
    organisation: str,
    request_path: Path,
    peer_key: Path,
    workspace: Path | None,
    key_passphrase_file: Path | None,
    rows_path: Path | None,
    home: Path,
    passphrase_file: Path | None,
    max_items: int,
    out: Path,
) -> None:
    """Answer a signed request from a peer that sorts after us."""
    check_gnupg_home(home)
    phrase = _phrase(passphrase_file)

    def body() -> None:
        keyring = GpgKeyring(home, server=False)
        request = _read_signed(request_path, peer_key, REQUEST)
        with ExitStack() as stack:
            rows, opened = _rows(stack, workspace, key_passphrase_file, rows_path, home, phrase)
            answered = []
            if opened is not None:
                answered = [
                    str(r.body["details"]["request"])
                    for r in read_log(opened.root / LOG_NAME)
                    if r.body.get("action") == "federation-answered"
                ]
            response = answer_request(
                request, organisation, rows, max_items=max_items, answered=answered
            )
            _write_signed(response, out, home, seal_recipient(keyring), phrase)
            if opened is not None:
                opened.log.append(
                    "federation-answered",
                    {
                        "peer": request["from"],
                        "request": request["id"],
                        "asked": request["items"],
                        "items": response["items"],
                    },
                )
        click.echo(
            f"response {response['id']} to {request['from']}: asked {request['items']}, "
            f"ours {response['items']} -> {out}"
        )

    _run(body)


@federation.command("match")
@click.argument("response_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--peer-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The answerer's workstation public key, as pinned.",
)
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@_WORKSPACE
@_KEY_PASSPHRASE
@_HOME
@_PASSPHRASE
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The exclusions, sealed (for release make --federation-exclusions).",
)
def match_command(
    response_path: Path,
    peer_key: Path,
    state_path: Path,
    workspace: Path | None,
    key_passphrase_file: Path | None,
    home: Path,
    passphrase_file: Path | None,
    out: Path,
) -> None:
    """Read a peer's signed response: our incidents it holds, sealed as exclusions."""
    check_gnupg_home(home)
    phrase = _phrase(passphrase_file)

    def body() -> None:
        keyring = GpgKeyring(home, server=False)
        response = _read_signed(response_path, peer_key, RESPONSE)
        state = open_sealed_json(keyring, state_path, phrase)
        if state.get("schema") != PENDING:
            raise DedupeError(f"{state_path.name}: not a pending request")
        exclusions = match(response, state)
        digest = seal_json(keyring, exclusions, out)
        if workspace is not None:
            _open(workspace, key_passphrase_file, None).log.append(
                "federation-matched",
                {
                    "peer": exclusions["peer"],
                    "request": exclusions["request"],
                    "response": exclusions["response"],
                    "matched": len(exclusions["incidents"]),
                    "exclusions_sha256": digest,
                },
            )
        click.echo(
            f"{len(exclusions['incidents'])} of our incidents are also held by "
            f"{exclusions['peer']} (it counts them) -> {out}"
        )

    _run(body)
