"""Trusted time with two time-stamping authorities, each with its own CA (two real
`openssl ts` TSAs on 127.0.0.1). `backupctl custody anchor` keeps a token from each for
the head of the custody chain and of the audit chain, with the position it covers. With
one TSA gone, a source still sends, the other TSA still anchors, the gone one is named
(never its URL's secrets) and the command exits 1; a TSA without its certificate does
not stop the other either. The export and the judicial file carry both TSAs' tokens and
certificates: the verdict checks each token against its own TSA's certificate, states
each TSA's time, and refuses a token whose TSA certificate is not given."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from backupctl.cli import main
from composition.runtime import Runtime
from keys.gpg import kill_agent
from keys.lifecycle import GeneratedKey
from keys.timestamps import certificate_fingerprint, load_certificates, verify_token
from source_app import create_app
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.backupctl.test_custody_anchor import _cli, _workspace
from tests.integration.backupctl.test_custody_cli import WS_PASSPHRASE, _submit
from tests.integration.source_app.helpers import SourceBrowser
from tests.support.journalist import FAST_HASHER
from tests.support.tsa import LocalTsa, local_tsa
from vault.errors import TimestampError
from vault.models import AuditEvent, ChainAnchor, CustodyReceipt, Role, Submission
from vault.ports import anchor_message
from vault.services import export, reviewers
from vault.tsa_config import load_tsa_config
from workstation.bundle import imported_items
from workstation.custody_log import Workspace

# In the second TSA's URL, as some TSAs take an account key: never printed.
SECRET = "account-k3y-never-printed"
NAMES = ("first", "second")


@pytest.fixture
def tsas(tmp_path: Path) -> Iterator[dict[str, LocalTsa]]:
    with (
        local_tsa(tmp_path / "tsa-first", "First TSA") as first,
        local_tsa(tmp_path / "tsa-second", "Second TSA") as second,
    ):
        yield {"first": first, "second": second}


def _configure(runtime: Runtime, tsas: dict[str, LocalTsa], env: dict[str, str]) -> dict[str, str]:
    """What an admin does: each TSA's certificate in the instance, both URLs in the env."""
    certs = runtime.config.instance_dir / "tsa"
    certs.mkdir(exist_ok=True)
    for name, tsa in tsas.items():
        shutil.copy(tsa.files.ca_cert, certs / f"{name}.pem")
    urls = f"first={tsas['first'].url} second={tsas['second'].url}?key={SECRET}"
    return {**env, "BACKUP_TSA_URLS": urls}


def _heads(runtime: Runtime) -> dict[str, tuple[int, str]]:
    with runtime.session() as db:
        return {
            chain: (int(row[0]), str(row[1]))
            for chain, model in (("custody", CustodyReceipt), ("audit", AuditEvent))
            if (row := db.execute(select(model.seq, model.hash).order_by(model.seq.desc())).first())
        }


def _stored(runtime: Runtime) -> set[tuple[str, int, str, str]]:
    with runtime.session() as db:
        return {(a.chain, a.seq, a.tsa, a.hash) for a in db.scalars(select(ChainAnchor))}


def _new_reviewer(runtime: Runtime, name: str) -> None:
    """An audited action: the audit chain gets a new head."""
    with runtime.session() as db:
        reviewers.create_reviewer(db, name, Role.ANALYST, hasher=FAST_HASHER)


def _fingerprint(tsa: LocalTsa) -> str:
    return certificate_fingerprint(load_certificates(tsa.files.ca_cert.read_bytes())[0])


def test_two_tsas_anchor_apart_and_one_failing_never_stops_the_other(
    runtime: Runtime,
    cli_env: dict[str, str],
    submission_key: tuple[GeneratedKey, Path],
    tsas: dict[str, LocalTsa],
    tmp_path: Path,
) -> None:
    env = _configure(runtime, tsas, cli_env)
    _submit(runtime, "sent before the first anchor", court_consent=True)
    _new_reviewer(runtime, "analyst1")

    # Both TSAs answer: one token from each, for each chain's head.
    both = _cli(env, "custody", "anchor")
    assert both.exit_code == 0, both.output
    heads = _heads(runtime)
    assert set(heads) == {"custody", "audit"} and heads["custody"][0] == 1
    for chain, (seq, _) in heads.items():
        for name in NAMES:
            assert f"{chain} chain at {seq}: anchored by {name} at " in both.output, both.output
    assert _stored(runtime) == {
        (chain, seq, name, chain_hash)
        for chain, (seq, chain_hash) in heads.items()
        for name in NAMES
    }
    # Each token is signed under its own TSA's CA, and not under the other's.
    certificates = {n: load_certificates(t.files.ca_cert.read_bytes()) for n, t in tsas.items()}
    with runtime.session() as db:
        for row in db.scalars(select(ChainAnchor)):
            message = anchor_message(row.chain, row.seq, row.hash)
            verify_token(row.token, message, certificates[row.tsa])
            other = "second" if row.tsa == "first" else "first"
            with pytest.raises(TimestampError, match="not signed under the given TSA certificate"):
                verify_token(row.token, message, certificates[other])
    assert _cli(env, "custody", "anchor").output.count("already anchored by") == 4

    # The second TSA is gone (its port refuses connections). A source sends meanwhile,
    # through the source interface of a server with both TSAs configured.
    tsas["second"].stop()
    served = replace(runtime.config, tsa=load_tsa_config(env, runtime.config.instance_dir))
    assert len(served.tsa.authorities) == 2
    SourceBrowser(create_app(served, runtime).test_client()).start("sent while a TSA is gone")
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Submission)) == 3
    _new_reviewer(runtime, "analyst2")
    later = _heads(runtime)
    assert later["custody"][0] == 2 and later["audit"][0] > heads["audit"][0]

    partial = _cli(env, "custody", "anchor")
    assert partial.exit_code == 1, partial.output
    for chain, (seq, _) in later.items():
        assert f"{chain} chain at {seq}: anchored by first at " in partial.output
        assert f"{chain} chain at {seq}: second FAILED: second: no answer (" in partial.output
    assert "Connection refused" in partial.output
    assert "not anchored by every TSA: second failed (the other anchors are kept)" in (
        partial.output
    )
    assert SECRET not in partial.output
    stored = _stored(runtime)
    assert {(c, s, "first", h) for c, (s, h) in later.items()} <= stored
    assert not {(c, s, "second", h) for c, (s, h) in later.items()} & stored

    # Checked on the server against both certificates; with the second TSA no longer
    # configured, its anchors are counted as not checked.
    log = _cli(env, "custody", "verify-log")
    assert log.exit_code == 0, log.output
    assert "custody chain: 3 time-stamp anchor(s) verified; the latest, by first, proves links" in (
        log.output
    )
    audited = _cli(env, "audit", "verify")
    assert audited.exit_code == 0 and "audit chain: 3 time-stamp anchor(s) verified" in (
        audited.output
    )
    first_only = {**env, "BACKUP_TSA_URLS": f"first={tsas['first'].url}"}
    fewer = _cli(first_only, "custody", "verify-log")
    assert "custody chain: 2 time-stamp anchor(s) verified" in fewer.output, fewer.output
    assert "1 by a TSA no longer configured not checked" in fewer.output

    # A TSA whose certificate is missing is named, and the other still anchors.
    kept = runtime.config.instance_dir / "tsa" / "second.pem"
    kept.rename(kept.with_suffix(".away"))
    _new_reviewer(runtime, "analyst3")
    audit_seq = _heads(runtime)["audit"][0]
    uncertified = _cli(env, "custody", "anchor")
    assert uncertified.exit_code == 1
    assert f"second FAILED: TSA second: put the certificate its tokens chain to in {kept}" in (
        uncertified.output
    )
    assert f"audit chain at {audit_seq}: anchored by first at " in uncertified.output
    kept.with_suffix(".away").rename(kept)

    # The export carries the tokens of both TSAs in its segment, and both certificates.
    bundle = tmp_path / "exports" / "export.zip"
    bundle.parent.mkdir()
    with runtime.session() as db:
        analyst = reviewers.create_reviewer(db, "exporter", Role.ANALYST, hasher=FAST_HASHER)[0]
        with bundle.open("wb") as handle:
            export.build_export(
                db,
                runtime.store,
                analyst,
                [s.source.uuid for s in db.scalars(select(Submission))],
                handle,
                tsa_certificates={n: t.files.ca_cert.read_bytes() for n, t in tsas.items()},
            )
    with zipfile.ZipFile(bundle) as opened:
        assert {"tsa/first.pem", "tsa/second.pem"} <= set(opened.namelist())
        exported = [json.loads(x) for x in opened.read("anchors.jsonl").decode().splitlines()]
    assert [(a["seq"], a["tsa"]) for a in exported] == [(1, "first"), (1, "second"), (2, "first")]

    # On the workstation: imported (every token checked), then a judicial file of the
    # first source's items, both covered at position 1 by both TSAs.
    ws, common = _workspace(runtime, tmp_path)
    imported = CliRunner().invoke(main, ["custody", "import", str(ws), str(bundle), *common])
    assert imported.exit_code == 0, imported.output
    workspace = Workspace.open(ws, WS_PASSPHRASE, "analyst-b")
    items = [i.uuid for i in imported_items(workspace) if i.receipt_seq <= 1]
    assert len(items) == 2
    home, phrase = submission_key[1], tmp_path / "sub-pass"
    phrase.write_text(SUBMISSION_PASSPHRASE + "\n")
    decrypt = ["--home", str(home), "--passphrase-file", str(phrase), *common]
    done = CliRunner().invoke(main, ["custody", "decrypt", str(ws), *items, *decrypt])
    assert done.exit_code == 0, done.output

    def judicial() -> str:
        made = CliRunner().invoke(
            main, ["custody", "judicial", str(ws), *items, "--title", "Case 20", *common]
        )
        assert made.exit_code == 0, made.output
        return made.output.splitlines()[0]  # the file's path; the consent relied on follows

    built = judicial()
    fingerprints = {name: _fingerprint(tsa) for name, tsa in tsas.items()}
    expect = [arg for fp in fingerprints.values() for arg in ("--tsa-cert", fp)]
    verdict = CliRunner().invoke(main, ["custody", "verify", built, *expect])
    assert verdict.exit_code == 0, verdict.output
    assert verdict.output.startswith("VERDICT: VERIFIED"), verdict.output
    for name, fingerprint in fingerprints.items():
        assert f"TSA certificate {name}: {fingerprint}" in verdict.output
        stated = [x for x in verdict.output.splitlines() if f"time-stamped by {name} at" in x]
        assert len(stated) == 2 and all("(chain position 1)" in x for x in stated), stated

    # Only the first TSA's certificate expected: the second's is refused, and so are its
    # tokens; the first's still verify.
    one = CliRunner().invoke(main, ["custody", "verify", built, *expect[:2]])
    assert one.exit_code == 1 and "VERDICT: NOT VERIFIED" in one.output, one.output
    assert f"keys/tsa-second-{fingerprints['second'][:16]}.pem: not an expected TSA " in (
        one.output
    )
    assert "time-stamp of chain position 1 by second: no certificate for this TSA" in one.output
    assert one.output.count("time-stamped by first at") == 2
    assert "time-stamped by second at" not in one.output

    # A judicial file without the second TSA's certificate at all: its tokens are refused.
    sidecar = next((ws / "evidence" / "segments").glob("*.anchors.json"))
    original = json.loads(sidecar.read_text())
    assert sorted(original["tsa_certificates"]) == list(NAMES)
    sidecar.chmod(0o600)
    sidecar.write_text(
        json.dumps(
            {**original, "tsa_certificates": {"first": original["tsa_certificates"]["first"]}}
        )
    )
    missing = CliRunner().invoke(main, ["custody", "verify", judicial()])
    assert missing.exit_code == 1 and "VERDICT: NOT VERIFIED" in missing.output
    assert "time-stamp of chain position 1 by second: no certificate for this TSA" in (
        missing.output
    )
    assert "keys/tsa-second-" not in missing.output
    assert missing.output.count("time-stamped by first at") == 2
    kill_agent(home)
