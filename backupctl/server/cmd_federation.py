"""`backupctl federation`: this instance's federation identity, its peers, and sending
to them (docs/federation.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import gnupg
from sqlalchemy import select
from sqlalchemy.orm import Session

from backupctl._common import CliState
from composition.runtime import make_store, read_submission_fingerprint
from federation.config import FederationConfig, load_federation_config
from federation.envelope import PRUNE_AFTER
from federation.errors import FederationError
from federation.identity import Identity, create_identity, load_identity
from federation.kinds import (
    CASE_MESSAGE,
    CASE_TRANSFER,
    DIRECTORY,
    READERS,
    RELEASE,
    release_body,
    verify_package,
)
from federation.outbox import send
from federation.psi import read_signed
from keys.errors import KeyOperationError
from keys.gpg import GpgKeyring
from keys.receipts import RECEIPT_KEY_FILE, SigningKey, VerifyKey, canonical
from onion import clientauth
from onion.control import reload as reload_tor
from onion.errors import ClientAuthError
from vault.db import make_engine, make_session_factory
from vault.directory_key import bind_directory_key, directory_key_file
from vault.models import CaseMessage, FederationPeer, ObservatoryRelease, PsiMessage
from vault.services import (
    case_messages,
    case_transfers,
    custody,
    directory,
    federation_peers,
    peer_readers,
    psi_messages,
)
from vault.services.consents import ConsentRequiredError
from vault.transaction import unit_of_work
from vault.transfer_package import TransferError
from workstation.observatory.release import ReleaseError
from workstation.observatory.release_sign import verify_signed

__all__ = ["federation"]

_FPR = re.compile(r"^[0-9A-F]{64}$")
_ONION = re.compile(r"^[a-z2-7]{56}\.onion$")
_MAX_KEY_FILE = 64 * 1024


@click.group("federation")
def federation() -> None:
    """Federation with partner instances: identity, peers, releases, the directory, case
    transfers and the messages on shared cases."""


def _settings(state: CliState) -> FederationConfig:
    try:
        return load_federation_config(state.env())
    except FederationError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _db(state: CliState) -> Iterator[Session]:
    config = state.config()
    engine = make_engine(config.database_url)
    factory = make_session_factory(engine)
    # The directory's entries are sealed with the directory key (vault.directory_key).
    bind_directory_key(factory, directory_key_file(config.instance_dir))
    try:
        with factory() as db, unit_of_work(db):
            yield db
    finally:
        engine.dispose()


def _reload(state: CliState, control: Path | None) -> None:
    onion = state.onion()
    if control is None and not onion.production:
        click.echo("Development: restart tor for the change to take effect.")
        return
    reload_tor(control or onion.tor_control_socket)
    click.echo("tor reloaded.")


_control_option = click.option(
    "--control",
    type=click.Path(dir_okay=False, path_type=Path),
    help="tor's control socket, to reload it (default: $BACKUP_TOR_CONTROL_SOCKET in production).",
)


@federation.command("identity")
@click.option("--create", is_flag=True, help="Make this instance's federation keys (once).")
@click.option(
    "--export-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the public signing key (PEM) here, to hand to peers.",
)
@click.pass_obj
def identity(state: CliState, create: bool, export_key: Path | None) -> None:
    """Print what peers need: fingerprint, onion address, client-authorization key."""
    settings = _settings(state)
    state.config()  # refuse a directory that is no instance
    ident = create_identity(settings.key_dir) if create else load_identity(settings.key_dir)
    try:
        address = clientauth.onion_address(settings.service_dir)
    except ClientAuthError:
        address = "(none yet: tor has not started the federation service)"
    click.echo(f"fingerprint  {ident.fingerprint}")
    click.echo(f"onion        {address}")
    click.echo(f"client-auth  {ident.client_auth.public_b32}")
    if export_key is not None:
        export_key.write_text(ident.public_pem())
        click.echo(f"public key written to {export_key}")


@federation.group("peer")
def peer() -> None:
    """The partner instances this one exchanges with."""


def _read_small(path: Path) -> str:
    if path.stat().st_size > _MAX_KEY_FILE:
        raise click.ClickException(f"{path}: too large for a public key")
    return path.read_text(encoding="ascii")


def _release_fingerprint(armored: str) -> str:
    """The one primary key in an armored OpenPGP public key (read in a scratch home)."""
    with tempfile.TemporaryDirectory(prefix="fed-") as home:
        keys = gnupg.GPG(gnupghome=home).scan_keys_mem(armored)
    primaries = {str(key["fingerprint"]).upper() for key in keys}
    if len(primaries) != 1:
        raise click.ClickException("--release-key must hold exactly one OpenPGP public key")
    if any(key.get("type") == "sec" for key in keys):
        raise click.ClickException("--release-key must be a public key")
    return primaries.pop()


@peer.command("add")
@click.option("--name", required=True, help="Your name for the peer: a-z, 0-9, - and _.")
@click.option("--fingerprint", required=True, help="Its whole federation fingerprint.")
@click.option("--onion", "address", required=True, help="Its federation onion address.")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Its public signing key (PEM), checked against --fingerprint.",
)
@click.option("--client-auth", required=True, help="Its client-authorization public key.")
@click.option(
    "--release-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The OpenPGP public key its releases are signed with (its submission key).",
)
@_control_option
@click.pass_obj
def peer_add(
    state: CliState,
    name: str,
    fingerprint: str,
    address: str,
    key_file: Path,
    client_auth: str,
    release_key: Path | None,
    control: Path | None,
) -> None:
    """Trust a partner instance and open our federation service to it."""
    settings = _settings(state)
    fingerprint = fingerprint.replace(" ", "").upper()
    if not _FPR.fullmatch(fingerprint):
        raise click.BadParameter("the whole fingerprint: 64 hex digits", param_hint="--fingerprint")
    if not _ONION.fullmatch(address):
        raise click.BadParameter("a v3 onion address (56 letters + .onion)", param_hint="--onion")
    try:
        key = VerifyKey.from_pem(_read_small(key_file))
    except (KeyOperationError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{key_file}: not an Ed25519 public key (PEM)") from exc
    if key.fingerprint != fingerprint:
        raise click.ClickException(
            f"REFUSED: {key_file} has fingerprint {key.fingerprint}, not the one given"
        )
    armored = _read_small(release_key) if release_key is not None else None
    release_fpr = _release_fingerprint(armored) if armored is not None else None
    ours = load_identity(settings.key_dir)
    with _db(state) as db:
        added = federation_peers.add_peer(
            db,
            name=name,
            fingerprint=fingerprint,
            onion=address,
            verify_key=key.pem(),
            client_auth_public=client_auth,
            release_key=armored,
            release_fingerprint=release_fpr,
        )
        clientauth.authorize_public(settings.service_dir, name, client_auth)
        try:
            clientauth.hold_service_key(
                settings.client_auth_dir, name, address, ours.client_auth.private_b32
            )
        except ClientAuthError:
            clientauth.revoke_client(settings.service_dir, name)
            raise
        peer_uuid = added.uuid
    click.echo(f"peer {name!r} added ({peer_uuid}).")
    _reload(state, control)


@peer.command("remove")
@click.argument("name")
@_control_option
@click.pass_obj
def peer_remove(state: CliState, name: str, control: Path | None) -> None:
    """Revoke a peer: its envelopes are refused, our service closed to it."""
    settings = _settings(state)
    with _db(state) as db:
        federation_peers.remove_peer(db, name)
    try:
        clientauth.revoke_client(settings.service_dir, name)
    except ClientAuthError:
        click.echo("(its client key was not installed)")
    clientauth.forget_service_key(settings.client_auth_dir, name)
    click.echo(f"peer {name!r} removed: its envelopes are refused from now on.")
    _reload(state, control)


@peer.command("list")
@click.option("--all", "show_all", is_flag=True, help="Removed peers too.")
@click.pass_obj
def peer_list(state: CliState, show_all: bool) -> None:
    """The peers: name, fingerprint, onion address, whether removed."""
    with _db(state) as db:
        peers = federation_peers.list_peers(db, removed=show_all)
        if not peers:
            click.echo("No peers.")
        for p in peers:
            state_text = "active" if p.active else "removed"
            click.echo(f"{p.name}\t{p.fingerprint}\t{p.onion}\t{state_text}")


_TO = click.option("--to", "to", help="The peer's name.")
_ALL = click.option("--all", "to_all", is_flag=True, help="Every active peer.")
_WAIT = click.option(
    "--wait",
    default=120.0,
    show_default=True,
    help="Seconds to keep trying while a peer's service cannot be reached yet.",
)


def _chosen_peers(db: Session, to: str | None, to_all: bool) -> Sequence[FederationPeer]:
    """`--all`: every active peer (none, before the first is added); `--to NAME`: that
    one."""
    if to_all:
        return federation_peers.list_peers(db)
    return [federation_peers.get_peer(db, to or "")]


def _deliver(
    db: Session,
    settings: FederationConfig,
    ours: Identity,
    peers: Sequence[FederationPeer],
    *,
    kind: str,
    body: Mapping[str, Any],
    object_uuid: str | None,
    wait: float,
) -> bool:
    """Send one envelope of `kind` to each of `peers`, printing each outcome; True if
    some peer did not accept it."""
    outcomes = send(
        db,
        ours,
        peers,
        kind=kind,
        body=body,
        object_uuid=object_uuid,
        socks=settings.socks,
        timeout=settings.timeout,
        wait=wait,
    )
    for outcome in outcomes:
        click.echo(f"{outcome.peer}\t{outcome.envelope_id}\t{outcome.outcome}")
    return any(outcome.outcome != "accepted" for outcome in outcomes)


@federation.command("send-release")
@click.argument("release_uuid")
@_TO
@_ALL
@_WAIT
@click.pass_obj
def send_release(
    state: CliState, release_uuid: str, to: str | None, to_all: bool, wait: float
) -> None:
    """Send an imported observatory release, signed, to one peer or all of them."""
    if bool(to) == to_all:
        raise click.UsageError("give --to PEER or --all")
    settings = _settings(state)
    ours = load_identity(settings.key_dir)
    with _db(state) as db:
        release = db.scalar(
            select(ObservatoryRelease).where(ObservatoryRelease.uuid == release_uuid)
        )
        if release is None:
            raise click.ClickException(f"no release {release_uuid}")
        peers = _chosen_peers(db, to, to_all)
        if not peers:
            raise click.ClickException("no active peers")
        failed = _deliver(
            db,
            settings,
            ours,
            peers,
            kind=RELEASE,
            body=release_body(release),
            object_uuid=release.uuid,
            wait=wait,
        )
    if failed:
        raise click.ClickException("not every peer accepted the release")


@contextmanager
def _receipted_db(state: CliState) -> Iterator[Session]:
    """A transaction whose custody receipts are signed with this instance's receipt key."""
    config = state.config()
    engine = make_engine(config.database_url)
    try:
        factory = make_session_factory(engine)
        custody.bind_signer(factory, SigningKey.load(config.instance_dir / RECEIPT_KEY_FILE))
        with factory() as db, unit_of_work(db):
            yield db
    finally:
        engine.dispose()


def _own_public_key(state: CliState) -> tuple[str, str]:
    """(fingerprint, armored public key) of our submission key, as the server holds it."""
    config = state.config()
    fingerprint = read_submission_fingerprint(config.instance_dir)
    keyring = GpgKeyring(config.gnupg_home("journalist"), config.gpg_binary)
    return fingerprint, keyring.export_public(fingerprint)


@federation.command("transfer")
@click.argument("case_ref", metavar="CASE")
@click.option("--to", "to", required=True, help="The peer's name.")
@click.option(
    "--request",
    "request_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Step 1: write the request for the air-gapped workstation here.",
)
@click.option(
    "--package",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Step 3: send the package the workstation sealed and signed.",
)
@click.option(
    "--wait",
    default=120.0,
    show_default=True,
    help="Seconds to keep trying while the peer's service cannot be reached yet.",
)
@click.pass_obj
def transfer(
    state: CliState,
    case_ref: str,
    to: str,
    request_out: Path | None,
    package: Path | None,
    wait: float,
) -> None:
    """Transfer a referred case (uuid or BU-reference) to a peer, with the consent for
    referral of every source of the case (docs/federation.md)."""
    if (request_out is None) == (package is None):
        raise click.UsageError("give --request FILE (step 1) or --package FILE (step 3)")
    config = state.config()
    try:
        if request_out is not None:
            fingerprint = read_submission_fingerprint(config.instance_dir)
            store = make_store(config, GpgKeyring(config.gnupg_home("journalist")))
            with _db(state) as db:
                case = case_transfers.case_by_ref(db, case_ref)
                peer = federation_peers.get_peer(db, to)
                request = case_transfers.transfer_request(db, store, case, peer, fingerprint)
                items = len(request["items"])
            fd = os.open(request_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(canonical(request))
            click.echo(f"request for {items} item(s) written to {request_out}")
            click.echo(f"re-seal it on the workstation for key {request['to']['fingerprint']}")
            return
        assert package is not None  # noqa: S101  # nosec B101 - checked above
        send_package(state, case_ref, to, package, wait)
    except ConsentRequiredError as exc:
        raise click.ClickException(
            "REFUSED: a source of this case has no recorded consent for referral"
        ) from exc
    except (case_transfers.TransferRefusedError, TransferError) as exc:
        raise click.ClickException(f"REFUSED: {exc}") from exc


def send_package(state: CliState, case_ref: str, to: str, package: Path, wait: float) -> None:
    settings = _settings(state)
    ours = load_identity(settings.key_dir)
    own_fpr, own_key = _own_public_key(state)
    try:
        body = json.loads(package.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{package}: not a transfer package") from exc
    if not isinstance(body, dict):
        raise click.ClickException(f"{package}: not a transfer package")
    with _receipted_db(state) as db:
        case = case_transfers.case_by_ref(db, case_ref)
        peer = federation_peers.get_peer(db, to)
        document = case_transfers.check_outgoing(
            db, case, peer, body, own_key=own_key, own_fpr=own_fpr, verify=verify_package
        )
        (outcome,) = send(
            db,
            ours,
            [peer],
            kind=CASE_TRANSFER,
            body=body,
            object_uuid=case.uuid,
            socks=settings.socks,
            timeout=settings.timeout,
            wait=wait,
        )
        if outcome.outcome == "accepted":
            case_transfers.record_transferred(db, case, peer, document, outcome.envelope_id)
    click.echo(f"{outcome.peer}\t{outcome.envelope_id}\t{outcome.outcome}")
    if outcome.outcome != "accepted":
        raise click.ClickException("the peer did not accept the case")


@federation.command("send-directory")
@_TO
@_ALL
@_WAIT
@click.pass_obj
def send_directory(state: CliState, to: str | None, to_all: bool, wait: float) -> None:
    """Publish the directory of our professionals who agreed to be listed (a new
    version, replacing the one peers hold) to one peer or all of them. Run it after a
    change and regularly (cron): a withdrawn agreement leaves at the next publication."""
    if bool(to) == to_all:
        raise click.UsageError("give --to PEER or --all")
    settings = _settings(state)
    ours = load_identity(settings.key_dir)
    with _db(state) as db:
        peers = _chosen_peers(db, to, to_all)
        if not peers:  # the hourly timer runs from the deployment on, before any peer
            click.echo("no active peers: nothing sent")
            return
        version, body = directory.publication(db)
        click.echo(f"directory version {version}: {len(body['entries'])} entries")
        failed = _deliver(
            db, settings, ours, peers, kind=DIRECTORY, body=body, object_uuid=None, wait=wait
        )
    if failed:
        raise click.ClickException("not every peer accepted the directory")


@federation.command("send-readers")
@_TO
@_ALL
@_WAIT
@click.pass_obj
def send_readers(state: CliState, to: str | None, to_all: bool, wait: float) -> None:
    """Publish the public account keys of our readers of case messages (active analysts
    and admins), so that peers seal their messages to them too. Run it after accounts
    change and regularly (cron): a peer seals to the set it received last."""
    if bool(to) == to_all:
        raise click.UsageError("give --to PEER or --all")
    settings = _settings(state)
    ours = load_identity(settings.key_dir)
    with _db(state) as db:
        peers = _chosen_peers(db, to, to_all)
        if not peers:
            click.echo("no active peers: nothing sent")
            return
        try:
            body = peer_readers.publication(db)
        except peer_readers.ReadersRefusedError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"readers version {body['version']}: {len(body['keys'])} keys")
        failed = _deliver(
            db, settings, ours, peers, kind=READERS, body=body, object_uuid=None, wait=wait
        )
    if failed:
        raise click.ClickException("not every peer accepted the readers")


@dataclass(frozen=True)
class _Queued:
    """One queued row, ready to leave: where to, as what, and how to record the outcome."""

    peer: FederationPeer
    kind: str
    body: Mapping[str, Any]
    object_uuid: str
    label: str  # printed after the peer name
    record: Callable[[str, str], None]  # (outcome, envelope id), in the same transaction


def _send_queued(
    state: CliState,
    wait: float,
    queued_ids: Callable[[Session], list[int]],
    ready: Callable[[Session, int], _Queued | None],
) -> None:
    """Send each queued row in a transaction of its own: what a peer accepted is
    recorded even if a later one fails, so it is never sent again. `ready` gives None
    for a row no longer queued (another run took it)."""
    settings = _settings(state)
    ours = load_identity(settings.key_dir)
    with _db(state) as db:
        queued = queued_ids(db)
    failed = False
    for row_id in queued:
        with _db(state) as db:
            item = ready(db, row_id)
            if item is None:
                continue
            (outcome,) = send(
                db,
                ours,
                [item.peer],
                kind=item.kind,
                body=item.body,
                object_uuid=item.object_uuid,
                socks=settings.socks,
                timeout=settings.timeout,
                wait=wait,
            )
            item.record(outcome.outcome, outcome.envelope_id)
        click.echo(f"{outcome.peer}\t{item.label}\t{outcome.outcome}")
        failed = failed or outcome.outcome != "accepted"
    click.echo(f"{len(queued)} message(s) were waiting")
    if failed:
        raise click.ClickException("not every message was accepted")


def _queued_case_message(db: Session, row_id: int) -> _Queued | None:
    message = db.get(CaseMessage, row_id)
    if message is None or message.outcome != "queued":
        return None
    return _Queued(
        peer=message.transfer.peer,
        kind=CASE_MESSAGE,
        body=case_messages.body_of(message),
        object_uuid=message.uuid,
        label=message.uuid,
        record=lambda outcome, envelope_id: case_messages.record_outcome(
            db, message, outcome, envelope_id
        ),
    )


def _queued_psi_message(db: Session, row_id: int) -> _Queued | None:
    message = db.get(PsiMessage, row_id)
    if message is None or message.outcome != "queued":
        return None
    return _Queued(
        peer=message.peer,
        kind=message.kind,
        body=psi_messages.body_of(message),
        object_uuid=message.message_id,
        label=f"{message.kind}\t{message.message_id}",
        record=lambda outcome, envelope_id: psi_messages.record_outcome(
            db, message, outcome, envelope_id
        ),
    )


@federation.command("send-messages")
@_WAIT
@click.pass_obj
def send_messages(state: CliState, wait: float) -> None:
    """Send the messages written on shared cases that wait to leave, each sealed to the
    partner instance's submission key, one envelope each. Run it regularly (cron): a
    message a peer could not be reached for stays queued for the next run."""
    _send_queued(
        state,
        wait,
        lambda db: [m.id for m in case_messages.pending(db)],
        _queued_case_message,
    )


@federation.command("psi-queue")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "to", required=True, help="The peer's name.")
@click.pass_obj
def psi_queue(state: CliState, path: Path, to: str) -> None:
    """Queue a request or response our air-gapped workstation made and signed
    (`workstation federation ask`/`answer`: FILE and FILE.asc beside it) for PEER;
    `send-psi` sends it. It must be signed by our submission key."""
    signature_path = path.with_name(path.name + ".asc")
    if not signature_path.is_file():
        raise click.ClickException(f"no signature: {signature_path.name} is missing")
    document, signature = path.read_bytes(), signature_path.read_bytes()
    _fpr, own_key = _own_public_key(state)
    try:
        found = read_signed(document, signature, own_key, verify_signed)
        with _db(state) as db:
            peer = federation_peers.get_peer(db, to)
            message = psi_messages.queue(
                db,
                peer,
                kind=found.kind,
                message_id=found.message_id,
                document=document,
                signature=signature,
            )
            size = message.size
    except (ReleaseError, psi_messages.PsiRefusedError) as exc:
        raise click.ClickException(f"REFUSED: {exc}") from exc
    click.echo(f"{found.kind} {found.message_id} ({size} bytes) queued for {to}")


@federation.command("send-psi")
@_WAIT
@click.pass_obj
def send_psi(state: CliState, wait: float) -> None:
    """Send the queued private-set-intersection requests and responses, one envelope
    each. Run it regularly (a timer): one a peer could not be reached for stays queued."""
    _send_queued(
        state,
        wait,
        lambda db: [m.id for m in psi_messages.pending(db)],
        _queued_psi_message,
    )


@federation.command("psi-inbox")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory (on the medium for the workstation) to write the messages into.",
)
@click.pass_obj
def psi_inbox(state: CliState, out_dir: Path) -> None:
    """Write the requests and responses peers sent, each as PEER.KIND.ID.json and its
    .asc, for our air-gapped workstation (`workstation federation answer`/`match`,
    with the peer's pinned key). Each is written once, then dropped here."""
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    count = 0
    with _db(state) as db:
        for message in psi_messages.waiting(db):
            assert message.document is not None and message.signature is not None  # noqa: S101  # nosec B101 - kept until written
            name = f"{message.peer.name}.{message.kind}.{message.message_id}.json"
            for target, data in (
                (out_dir / name, message.document),
                (out_dir / (name + ".asc"), message.signature),
            ):
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            # Dropped in the same transaction: if it fails, the next run writes again.
            psi_messages.written(db, message)
            click.echo(f"{message.peer.name}\t{message.kind}\t{message.message_id}\t{name}")
            count += 1
    click.echo(f"{count} message(s) written to {out_dir}")


@federation.command("prune")
@click.pass_obj
def prune(state: CliState) -> None:
    """Drop the ids of incoming envelopes old enough that their date refuses a replay
    anyway (the record of each stays). Run it regularly (a timer)."""
    with _db(state) as db:
        count = federation_peers.prune_received_ids(db, dt.datetime.now(dt.UTC) - PRUNE_AFTER)
    click.echo(f"{count} envelope id(s) dropped")
