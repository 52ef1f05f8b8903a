"""Comparing incidents between two organisations over the federation (SQLite and
PostgreSQL, real gpg, real private set intersection): organisation B's workstation asks,
B's server queues the signed request and sends it through a SOCKS relay (tor's stand-in)
to A's real endpoint, which keeps it for A's workstation; A answers, the response goes
back the same way, and B's workstation computes the exclusions: the same as when the
files are carried by hand. Forged, changed, replayed, repeated, oversized and malformed
messages are refused; no incident is in clear on either server. And the ids of old
incoming envelopes are dropped while a replay stays refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from redis import Redis
from sqlalchemy import select
from werkzeug.test import Client

from backupctl.cli import main
from composition.runtime import Runtime
from federation.app import create_app as create_endpoint
from federation.app import make_app
from federation.envelope import PRUNE_AFTER, seal_envelope
from federation.errors import EnvelopeRefusedError
from federation.identity import load_identity
from federation.kinds import HANDLERS, PSI_REQUEST, PSI_RESPONSE
from federation.psi import MAX_DOCUMENT_BYTES
from federation.receive import receive
from keys.gpg import GpgKeyring
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.federation import (
    add_peer,
    federation_cli,
    identity_card,
    other_instance,
    serve_wsgi,
)
from tests.support.leaks import assert_no_leak
from tests.support.socks_relay import socks_relay
from vault.models import AuditEvent, FederationExchange, PsiMessage
from workstation.observatory.release_input import ReleaseRow, row_to_json
from workstation.observatory.release_sign import sign_bytes

A_ONION = "a" * 56 + ".onion"
B_ONION = "b" * 56 + ".onion"
B_PASSPHRASE = "organisation B's workstation key passphrase"
SCOPE = ["--from", "2024-01", "--to", "2024-06", "--country", "CD"]
B_IDS = [f"orgB-only-{i}" for i in range(6)]
A_IDS = [f"orgA-only-{i}" for i in range(6)]


def _row(ident: str, day: int, region: str) -> ReleaseRow:
    return ReleaseRow(
        incident_id=ident,
        date=dt.date(2024, 3, day),
        precision="day",
        country="CD",
        region=region,
        acts=("rape",),
        victim_sex="female",
        age_band="18-29",
        victim_count=2,
        perpetrator="armed_group",
        consent_statistics=True,
    )


def _rows_file(path: Path, rows: list[ReleaseRow]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row_to_json(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def org_b(
    tmp_path: Path, database_url: str, redis: Redis, request: pytest.FixtureRequest
) -> Iterator[tuple[Runtime, GeneratedKey, Path]]:
    """Organisation B's instance, on the same kind of database, with its own key."""
    with other_instance(
        tmp_path, "org-b", database_url, redis, request, passphrase=B_PASSPHRASE
    ) as made:
        yield made


def _ws(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, ["workstation", "federation", *args])
    assert (result.exit_code == 0) is ok, result.output
    return result


def _post(client: Client, raw: bytes) -> tuple[int, object]:
    response = client.post("/v1/envelope", data=raw, content_type="application/json")
    return response.status_code, response.json


def _body(document: bytes, signature: bytes) -> dict[str, str]:
    return {
        "document": base64.b64encode(document).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def test_psi_exchange_over_the_federation_matches_the_files_carried_by_hand(
    runtime: Runtime,
    cli_env: dict[str, str],
    org_b: tuple[Runtime, GeneratedKey, Path],
    tmp_path: Path,
    submission_key: tuple[GeneratedKey, Path],
) -> None:
    b_rt, b_key, b_home = org_b
    a_key, a_home = submission_key
    a_env = {**cli_env, "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "a-onion")}
    b_env = {
        "BACKUP_INSTANCE_DIR": str(b_rt.config.instance_dir),
        "DATABASE_URL": b_rt.config.database_url,
        "REDIS_URL": cli_env["REDIS_URL"],
        "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "b-onion"),
    }
    a_card = replace(identity_card(a_env, tmp_path / "a-card", a_key.public_armored), onion=A_ONION)
    b_card = replace(identity_card(b_env, tmp_path / "b-card", b_key.public_armored), onion=B_ONION)
    add_peer(a_env, "org-b", b_card)
    add_peer(b_env, "org-a", a_card)

    # A (sorts first: it counts shared incidents, answers) and B (asks): one incident in
    # common, coded two days apart by the two.
    a_rows = _rows_file(
        tmp_path / "a-ws" / "rows.jsonl",
        [_row(i, 1 + n, "CD-SK") for n, i in enumerate(A_IDS)] + [_row("orgA-shared", 19, "CD-SK")],
    )
    b_rows = _rows_file(
        tmp_path / "b-ws" / "rows.jsonl",
        [_row(i, 2 + 2 * n, "CD-NK") for n, i in enumerate(B_IDS)]
        + [_row("orgB-shared", 21, "CD-SK")],
    )
    a_pass, b_pass = tmp_path / "a-pass", tmp_path / "b-pass"
    a_pass.write_text(SUBMISSION_PASSPHRASE + "\n")
    b_pass.write_text(B_PASSPHRASE + "\n")
    a_gpg = ["--home", str(a_home), "--passphrase-file", str(a_pass)]
    b_gpg = ["--home", str(b_home), "--passphrase-file", str(b_pass)]
    a_pub, b_pub = tmp_path / "a.asc", tmp_path / "b.asc"
    a_pub.write_text(a_key.public_armored)
    b_pub.write_text(b_key.public_armored)

    def ask(out: Path, state: Path) -> None:
        _ws("ask", "--organisation", "org-b", "--peer", "org-a", *SCOPE, "--rows", str(b_rows),
            *b_gpg, "--out", str(out), "--state", str(state))  # fmt: skip

    def answer(request: Path, out: Path) -> None:
        _ws("answer", "--organisation", "org-a", str(request), "--peer-key", str(b_pub),
            "--rows", str(a_rows), *a_gpg, "--out", str(out))  # fmt: skip

    def match(response: Path, state: Path, out: Path) -> list[str]:
        _ws("match", str(response), "--peer-key", str(a_pub), "--state", str(state), *b_gpg,
            "--out", str(out))  # fmt: skip
        opened = GpgKeyring(b_home, server=False).open_bytes(out.read_bytes(), B_PASSPHRASE)
        incidents: list[str] = json.loads(opened)["incidents"]
        return incidents

    # By hand: the files carried between the workstations.
    hand = tmp_path / "by-hand"
    hand.mkdir()
    ask(hand / "request.json", tmp_path / "b-ws" / "pending-hand.gpg")
    answer(hand / "request.json", hand / "response.json")
    by_hand = match(hand / "response.json", tmp_path / "b-ws" / "pending-hand.gpg", hand / "x.gpg")
    assert by_hand == ["orgB-shared"]

    # Over the federation: B's request, queued on B's server and sent to A's endpoint.
    carried = tmp_path / "usb-b"
    carried.mkdir()
    state = tmp_path / "b-ws" / "pending.gpg"
    ask(carried / "request.json", state)
    # B's server takes only what B's own workstation signed.
    a_signed = tmp_path / "a-signed.json"
    a_signed.write_bytes((carried / "request.json").read_bytes())
    (tmp_path / "a-signed.json.asc").write_bytes((hand / "response.json.asc").read_bytes())
    refused = federation_cli(b_env, "psi-queue", str(a_signed), "--to", "org-a", ok=False)
    assert refused.exit_code != 0 and "bad signature" in refused.output
    queued = federation_cli(b_env, "psi-queue", str(carried / "request.json"), "--to", "org-a")
    assert "psi_request" in queued.output and "queued for org-a" in queued.output

    a_serving, b_serving = serve_wsgi(create_endpoint(a_env)), serve_wsgi(create_endpoint(b_env))
    a_port, b_port = next(a_serving), next(b_serving)
    a_inbox, b_inbox = tmp_path / "usb-a-in", tmp_path / "usb-b-in"
    try:
        with socks_relay(to_port=a_port) as (proxy, asked):
            b_send = {**b_env, "BACKUP_FEDERATION_SOCKS": f"{proxy[0]}:{proxy[1]}"}
            sent = federation_cli(b_send, "send-psi", "--wait", "0")
            assert "org-a\tpsi_request\t" in sent.output and "\taccepted" in sent.output
            assert asked == [(A_ONION, 80)]
            again = federation_cli(b_send, "send-psi", "--wait", "0")
            assert "0 message(s) were waiting" in again.output

        written = federation_cli(a_env, "psi-inbox", "--out", str(a_inbox))
        assert "1 message(s) written" in written.output
        [request_in] = sorted(a_inbox.glob("org-b.psi_request.*.json"))
        assert request_in.read_bytes() == (carried / "request.json").read_bytes()
        assert request_in.stat().st_mode & 0o077 == 0
        assert (
            "0 message(s) written"
            in federation_cli(a_env, "psi-inbox", "--out", str(a_inbox)).output
        )

        a_out = tmp_path / "usb-a-out"
        a_out.mkdir()
        answer(request_in, a_out / "response.json")
        federation_cli(a_env, "psi-queue", str(a_out / "response.json"), "--to", "org-b")
        with socks_relay(to_port=b_port) as (proxy, asked):
            a_send = {**a_env, "BACKUP_FEDERATION_SOCKS": f"{proxy[0]}:{proxy[1]}"}
            sent = federation_cli(a_send, "send-psi", "--wait", "0")
            assert "org-b\tpsi_response\t" in sent.output and "\taccepted" in sent.output
            assert asked == [(B_ONION, 80)]
    finally:
        next(a_serving, None)
        next(b_serving, None)

    federation_cli(b_env, "psi-inbox", "--out", str(b_inbox))
    [response_in] = sorted(b_inbox.glob("org-a.psi_response.*.json"))
    over_federation = match(response_in, state, tmp_path / "b-ws" / "exclusions-org-a.gpg")
    assert over_federation == by_hand

    # Kept and audited on both sides; the bytes dropped once gone on.
    for rt, directions in ((runtime, ["in", "out"]), (b_rt, ["out", "in"])):
        with rt.session() as db:
            rows = list(db.scalars(select(PsiMessage).order_by(PsiMessage.id)))
            assert [m.direction for m in rows] == directions
            assert all(m.document is None and m.signature is None for m in rows)
            assert {m.outcome for m in rows} == {"accepted", "written"}
            actions = list(db.scalars(select(AuditEvent.action)))
            for action in ("federation_psi_queued", "federation_psi_sent",
                           "federation_psi_received", "federation_psi_written"):  # fmt: skip
                assert action in actions

    # Neither server holds an incident of either side: ids, descriptors in clear (they
    # begin with country and region), perpetrators.
    markers = [*A_IDS, *B_IDS, "orgA-shared", "orgB-shared", "v1|CD|CD-SK", "v1|CD|CD-NK",
               "armed_group"]  # fmt: skip
    instance_files = [
        p
        for root in (runtime.config.instance_dir, b_rt.config.instance_dir)
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith("S.")
    ]
    assert_no_leak(markers, engine=[runtime.engine, b_rt.engine], files=instance_files)

    a_signer = (a_home, a_key.fingerprint, SUBMISSION_PASSPHRASE)
    b_signer = (b_home, b_key.fingerprint, B_PASSPHRASE)
    _refusals(runtime, b_env, a_card.fingerprint, carried / "request.json", b_signer, a_signer)


Signer = tuple[Path, str, str]  # GnuPG home, key fingerprint, passphrase


def _refusals(
    runtime: Runtime,
    b_env: dict[str, str],
    a_fpr: str,
    request: Path,
    b_signer: Signer,
    a_signer: Signer,
) -> None:
    """Envelopes from B's identity to A's endpoint that A refuses, each audited."""
    b_signing = load_identity(Path(b_env["BACKUP_INSTANCE_DIR"]) / "federation").signing
    endpoint = Client(make_app(runtime.session_factory, a_fpr, handlers=HANDLERS))
    document = request.read_bytes()
    signature = request.with_name(request.name + ".asc").read_bytes()

    def send(kind: str, body: dict[str, str]) -> tuple[int, object]:
        _i, raw = seal_envelope(b_signing, kind=kind, recipient=a_fpr, body=body)
        return _post(endpoint, raw)

    def signed_by(signer: Signer, data: bytes) -> bytes:
        return sign_bytes(data, *signer)

    body = ("body", {"refused": "body"})  # what every refusal below answers
    # The same message again, in a fresh envelope: here already.
    assert send(PSI_REQUEST, _body(document, signature)) == (403, body[1])
    # A request signed by A's own key, not B's pinned one: forged at the workstation level.
    assert send(PSI_REQUEST, _body(document, signed_by(a_signer, document))) == (403, body[1])
    # One byte changed (the stated size): the signature no longer checks.
    changed = document.replace(b'"items":', b'"items":9', 1)
    assert send(PSI_REQUEST, _body(changed, signature)) == (403, body[1])
    # Well signed by B, but not exactly a request: an extra field; a response's schema
    # in a request envelope; not canonical.
    parsed = json.loads(document)
    extra = json.dumps({**parsed, "note": "x"}, sort_keys=True, separators=(",", ":")).encode()
    loose = json.dumps(parsed, sort_keys=True).encode()
    for data, kind in ((extra, PSI_REQUEST), (document, PSI_RESPONSE), (loose, PSI_REQUEST)):
        sig = signed_by(b_signer, data)
        assert send(kind, _body(data, sig)) == (403, body[1])
    # Fields missing or extra in the body, not base64.
    assert send(PSI_REQUEST, {"document": "x"}) == (403, body[1])
    assert send(PSI_REQUEST, {**_body(document, signature), "x": ""}) == (403, body[1])
    assert send(PSI_REQUEST, {"document": "***", "signature": "***"}) == (403, body[1])
    # Oversized: a document over the limit, though the envelope is within its own.
    big = b"x" * (MAX_DOCUMENT_BYTES + 1)
    assert send(PSI_REQUEST, _body(big, signature)) == (403, body[1])
    # A replayed envelope: refused as a replay.
    fresh = json.dumps({**parsed, "id": "0" * 8 + "-0000-4000-8000-" + "0" * 12},
                       sort_keys=True, separators=(",", ":")).encode()  # fmt: skip
    _i, raw = seal_envelope(
        b_signing,
        kind=PSI_REQUEST,
        recipient=a_fpr,
        body=_body(fresh, signed_by(b_signer, fresh)),
    )
    assert _post(endpoint, raw)[0] == 200
    assert _post(endpoint, raw) == (403, {"refused": "replay"})
    with runtime.session() as db:
        reasons = [
            json.loads(e.detail or "{}").get("refusal")
            for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "federation_refused"))
        ]
        assert reasons.count("body") == 10 and reasons.count("replay") == 1
        kept = list(db.scalars(select(PsiMessage).where(PsiMessage.direction == "in")))
        assert len(kept) == 2  # the one exchanged, and the fresh one


def test_old_envelope_ids_are_dropped_and_their_replay_still_refused(
    runtime: Runtime,
    cli_env: dict[str, str],
    tmp_path: Path,
    submission_key: tuple[GeneratedKey, Path],
) -> None:
    env = {**cli_env, "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "onion")}
    other = {**env, "BACKUP_INSTANCE_DIR": str(tmp_path / "other")}
    (tmp_path / "other").mkdir()
    card = replace(identity_card(other, tmp_path / "card", submission_key[0].public_armored),
                   onion=B_ONION)  # fmt: skip
    ours = identity_card(env, tmp_path / "ours", submission_key[0].public_armored)
    add_peer(env, "peer", card)
    signing = load_identity(tmp_path / "other" / "federation").signing
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    old_at = now - PRUNE_AFTER - dt.timedelta(hours=1)
    # An envelope accepted a day and an hour ago (by the clock then), and one now (two
    # directories, the kind whose empty body is accepted).
    body = {"version": 1, "entries": []}
    old_id, old_raw = seal_envelope(signing, kind="directory", recipient=ours.fingerprint,
                                    body=body, now=old_at)  # fmt: skip
    new_id, new_raw = seal_envelope(signing, kind="directory", recipient=ours.fingerprint,
                                    body={"version": 2, "entries": []}, now=now)  # fmt: skip
    with runtime.session() as db:
        receive(db, old_raw, recipient=ours.fingerprint, handlers=HANDLERS, now=old_at)
        receive(db, new_raw, recipient=ours.fingerprint, handlers=HANDLERS, now=now)
        db.commit()

    pruned = federation_cli(env, "prune")
    assert "1 envelope id(s) dropped" in pruned.output
    assert "0 envelope id(s) dropped" in federation_cli(env, "prune").output
    with runtime.session() as db:
        rows = {r.kind + r.created: r for r in db.scalars(select(FederationExchange))}
        assert len(rows) == 2
        ids = sorted((r.envelope_id or "") for r in rows.values())
        assert ids == ["", new_id]
        # The record stays (kind, peer, dates, outcome); the id is in the audit log.
        assert all(r.outcome == "accepted" and r.peer.name == "peer" for r in rows.values())
        received = [
            json.loads(e.detail or "{}")["envelope"]
            for e in db.scalars(
                select(AuditEvent).where(AuditEvent.action == "federation_received")
            )
        ]
        assert old_id in received
        assert "federation_ids_pruned" in list(db.scalars(select(AuditEvent.action)))
    # Replayed now: the old one is refused by its date, the recent one by its id.
    for raw, reason in ((old_raw, "expired"), (new_raw, "replay")):
        with runtime.session() as db, pytest.raises(EnvelopeRefusedError) as refused:
            receive(db, raw, recipient=ours.fingerprint, handlers=HANDLERS)
        assert refused.value.reason == reason
