"""Two organisations and an observatory, end to end through `backupctl`, with real gpg
and real databases (SQLite and PostgreSQL): organisation A codes its incidents in a
workspace (reports sent to this instance, exported, decrypted, coded); organisation B
holds its own rows and its own key. They hold one incident in common. B asks A by
private set intersection, A answers, B matches; each makes its release for the
federation; the observatory (its own key, offline) combines them and the shared
incident counts once; the combined release verifies. Tampered messages and releases,
a replayed request, a release that did not exclude what an earlier organisation counts,
and a release imported under another organisation's name are refused. What crosses
between A and B holds no incident of either; A's side holds nothing of B's incidents."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from backupctl.cli import main
from composition.runtime import Runtime
from keys.gpg import kill_agent
from keys.lifecycle import GeneratedKey, generate_submission_key
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.backupctl.test_incident_cli import _alert, _consent, _send
from tests.support.journalist import FAST_HASHER
from vault.models import AuditEvent, ObservatoryRelease, Role, Submission
from vault.services import export, reviewers
from workstation.custody_log import LOG_NAME, read_log
from workstation.observatory.dedupe import Scope, incident_descriptors
from workstation.observatory.release_input import ReleaseRow, row_from_json, row_to_json

WS_PASSPHRASE = "workstation key passphrase for the federation"
OTHER_PASSPHRASE = "another organisation's key passphrase"
SCOPE = ["--from", "2024-01", "--to", "2024-06", "--country", "CD"]
DIMS = ["--dims", "period,region,act"]


def _report(day: int, count: int) -> str:
    return _alert(
        reporter=["survivor"],
        violence=["rape"],
        when_date=[f"2024-03-{day:02d}"],
        region=["CD-SK"],
        victims_count=[str(count)],
        victims_sex=["female"],
        victims_age=["18-29"],
        perpetrators=["armed_group"],
    )


def _b_row(ident: str, day: int, region: str, count: int) -> ReleaseRow:
    return ReleaseRow(
        incident_id=ident,
        date=dt.date(2024, 3, day),
        precision="day",
        country="CD",
        region=region,
        acts=("rape",),
        victim_sex="female",
        age_band="18-29",
        victim_count=count,
        perpetrator="armed_group",
        consent_statistics=True,
    )


def _run(*args: str, ok: bool = True, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert (result.exit_code == 0) is ok, result.output
    return result


def _flip(path: Path, target: Path) -> Path:
    """A copy of a signed file with one character changed, its signature beside."""
    data = bytearray(path.read_bytes())
    at = data.index(b'"items":') + len(b'"items":')
    data[at] = ord("9") if data[at] != ord("9") else ord("8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(data))
    target.with_name(target.name + ".asc").write_bytes(
        path.with_name(path.name + ".asc").read_bytes()
    )
    return target


def test_two_organisations_count_a_shared_incident_once(
    runtime: Runtime,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> None:
    # Organisation A (this instance): six incidents in South Kivu, March 2024, and the
    # shared one on the 19th; all consenting to statistics.
    for day in range(1, 7):
        _send(runtime, _report(day, 1 + day % 2), _consent("yes"))
    _send(runtime, _report(19, 2), _consent("yes"))
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst7", Role.ANALYST, hasher=FAST_HASHER)
        uuids = list(dict.fromkeys(s.source.uuid for s in db.scalars(select(Submission))))
        bundle = tmp_path / "export.zip"
        with bundle.open("wb") as handle:
            export.build_export(db, runtime.store, analyst, uuids, handle)
    ws, a_home = tmp_path / "ws", submission_key[1]
    key_pass, a_pass = tmp_path / "ws-pass", tmp_path / "a-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    a_pass.write_text(SUBMISSION_PASSPHRASE + "\n")
    common = ["--key-passphrase-file", str(key_pass), "--actor", "analyst-a"]
    a_sealed = ["--home", str(a_home), "--passphrase-file", str(a_pass)]
    _run("custody", "init", str(ws), *common)
    pem = tmp_path / "receipt.pem"
    pem.write_text(runtime.receipt_key.verify_key.pem())
    fpr = runtime.receipt_key.fingerprint
    _run("custody", "trust", str(ws), str(pem), "--fingerprint", fpr, *common)
    _run("custody", "import", str(ws), str(bundle), *common)
    items = sorted(p.parent.name for p in (ws / "evidence").glob("*/item.json"))
    _run("custody", "decrypt", str(ws), *items, *a_sealed, *common)
    for item in items:
        meta = json.loads((ws / "evidence" / item / "item.json").read_text())
        if Path(meta["path"]).name.startswith("1-"):
            _run("workstation", "incident", "add", str(ws), "--from", item, "--yes",
                 *a_sealed, *common)  # fmt: skip
    a_key = tmp_path / "a-key.asc"
    a_key.write_text(submission_key[0].public_armored)

    # Organisation B: its own key and rows; six incidents in North Kivu, and the shared
    # one, coded two days after A's date, with another victim count.
    b_home = tmp_path / "b" / "gnupg"
    b_generated = generate_submission_key(b_home, OTHER_PASSPHRASE, name="Organisation B")
    o_home = tmp_path / "o" / "gnupg"
    o_generated = generate_submission_key(o_home, OTHER_PASSPHRASE, name="Observatory")
    try:
        b_ids = [f"orgB-only-{i}" for i in range(6)]
        b_rows = [_b_row(ident, 2 + i * 2, "CD-NK", 2) for i, ident in enumerate(b_ids)]
        b_rows.append(_b_row("orgB-shared", 21, "CD-SK", 3))
        rows_file = tmp_path / "b" / "rows.jsonl"
        rows_file.write_text("".join(json.dumps(row_to_json(r)) + "\n" for r in b_rows))
        b_key = tmp_path / "b-key.asc"
        b_key.write_text(b_generated.public_armored)
        b_pass = tmp_path / "b-pass"
        b_pass.write_text(OTHER_PASSPHRASE + "\n")
        b_sealed = ["--home", str(b_home), "--passphrase-file", str(b_pass)]
        _exchange_release_and_combine(
            runtime, tmp_path, ws, common, a_sealed, a_key, b_sealed, b_key, rows_file,
            b_generated, o_home, o_generated, b_ids,
        )  # fmt: skip
    finally:
        kill_agent(b_home)
        kill_agent(o_home)


def _exchange_release_and_combine(
    runtime: Runtime,
    tmp_path: Path,
    ws: Path,
    common: list[str],
    a_sealed: list[str],
    a_key: Path,
    b_sealed: list[str],
    b_key: Path,
    rows_file: Path,
    b_generated: GeneratedKey,
    o_home: Path,
    o_generated: GeneratedKey,
    b_ids: list[str],
) -> None:
    wire = tmp_path / "wire"  # what travels between the organisations
    wire.mkdir()
    request, state = wire / "request.json", tmp_path / "b" / "pending.gpg"
    # A sorts first: it counts what both hold, so it does not ask B.
    refused = _run("workstation", "federation", "ask", "--organisation", "org-a", "--peer",
                   "org-b", *SCOPE, "--workspace", str(ws), *common[:2], *a_sealed,
                   "--out", str(wire / "x.json"), "--state", str(tmp_path / "x"),
                   ok=False)  # fmt: skip
    assert "org-b asks org-a, not the reverse" in refused.output
    asked = _run("workstation", "federation", "ask", "--organisation", "org-b", "--peer",
                 "org-a", *SCOPE, "--rows", str(rows_file), *b_sealed, "--out", str(request),
                 "--state", str(state))  # fmt: skip
    b_rows = [row_from_json(json.loads(line)) for line in rows_file.read_text().splitlines()]
    scope = Scope(("CD",), "2024-01", "2024-06")
    # Two per incident known to the day, each once (B's own incidents share some).
    n_b = len({d for ds in incident_descriptors(b_rows, scope).values() for d in ds})
    assert f"{n_b} descriptors" in asked.output
    assert state.stat().st_mode & 0o777 == 0o600

    def answer(path: Path, out: Path, ok: bool = True) -> Result:
        return _run("workstation", "federation", "answer", "--organisation", "org-a", str(path),
                    "--peer-key", str(b_key), "--workspace", str(ws), *common[:2], *a_sealed,
                    "--out", str(out), ok=ok)  # fmt: skip

    # A request changed on the way (its stated size) is refused: bad signature.
    tampered = _flip(request, tmp_path / "tampered" / "request.json")
    assert "bad signature" in answer(tampered, wire / "nope.json", ok=False).output
    response = wire / "response.json"
    answered = answer(request, response)
    assert f"asked {n_b}, ours " in answered.output
    # The same request again: a replay, refused (each answer is a probe's worth).
    assert "replay" in answer(request, wire / "again.json", ok=False).output

    def match(path: Path, out: Path, ok: bool = True) -> Result:
        return _run("workstation", "federation", "match", str(path), "--peer-key", str(a_key),
                    "--state", str(state), *b_sealed, "--out", str(out), ok=ok)  # fmt: skip

    bad_response = _flip(response, tmp_path / "tampered" / "response.json")
    assert "bad signature" in match(bad_response, tmp_path / "b" / "x.gpg", ok=False).output
    # A response signed by B's own key, not A's: refused against A's pinned key.
    wrong_key = _run("workstation", "federation", "match", str(response), "--peer-key",
                     str(b_key), "--state", str(state), *b_sealed, "--out",
                     str(tmp_path / "b" / "y.gpg"), ok=False)  # fmt: skip
    assert "bad signature" in wrong_key.output
    exclusions = tmp_path / "b" / "exclusions-org-a.gpg"
    matched = match(response, exclusions)
    assert "1 of our incidents are also held by org-a" in matched.output

    # What crossed holds no incident of either side: no id, place, act or date.
    a_records = [
        r.body["details"]["record"]
        for r in read_log(ws / LOG_NAME)
        if r.body["action"] == "incident-coded"
    ]
    for path in wire.iterdir():
        data = path.read_bytes()
        for needle in [*b_ids, "orgB-shared", *a_records, "CD-SK", "CD-NK", "rape", "2024-03"]:
            assert needle.encode() not in data, (path.name, needle)
    # A's side learns the size of B's request, nothing of B's incidents: its custody log
    # records the exchange (peer, sizes), and nothing under A's workspace names B's.
    [entry] = [r.body for r in read_log(ws / LOG_NAME) if r.body["action"] == "federation-answered"]
    assert entry["details"]["peer"] == "org-b" and entry["details"]["asked"] == n_b
    for path in (p for p in ws.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for needle in [*b_ids, "orgB-shared", "CD-NK"]:
            assert needle.encode() not in data, (path, needle)
    # The exclusions and the pending state are sealed: no incident id in clear.
    for path in (exclusions, state):
        assert b"orgB" not in path.read_bytes()

    # The releases for the federation.
    a_out, b_out = tmp_path / "a-release", tmp_path / "b-release"
    made_a = _run("workstation", "release", "make", "--workspace", str(ws), *a_sealed, *common,
                  "--out", str(a_out), *DIMS, *SCOPE, "--organisation", "org-a")  # fmt: skip
    assert "records (incidents) behind it: 7" in made_a.output
    logged = [r.body for r in read_log(ws / LOG_NAME) if r.body["action"] == "release-made"]
    assert logged[-1]["details"]["federation"]["organisation"] == "org-a"
    assert logged[-1]["details"]["federation"]["excluded"] == 0
    b_fpr = b_generated.fingerprint
    made_b = _run("workstation", "release", "make", "--rows", str(rows_file), "--ledger",
                  str(tmp_path / "b" / "ledger.json"), "--key", b_fpr, *b_sealed,
                  "--out", str(b_out), *DIMS, *SCOPE, "--organisation", "org-b",
                  "--federation-exclusions", str(exclusions))  # fmt: skip
    assert "records (incidents) behind it: 6" in made_b.output  # the shared one left out
    ledger = json.loads((tmp_path / "b" / "ledger.json").read_text())
    assert ledger["releases"][0]["federation"]["excluded_against"] == ["org-a"]
    # The same release without the exclusions, in another ledger: the observatory will
    # refuse it (org-a sorts first and counts the shared incident).
    naive_out = tmp_path / "b-naive"
    _run("workstation", "release", "make", "--rows", str(rows_file), "--ledger",
         str(tmp_path / "b" / "naive-ledger.json"), "--key", b_fpr, *b_sealed,
         "--out", str(naive_out), *DIMS, *SCOPE, "--organisation", "org-b")  # fmt: skip
    # B's ledger refuses a release of the same incidents that differs by the excluded one
    # (it would single it out by difference).
    differ = _run("workstation", "release", "make", "--rows", str(rows_file), "--ledger",
                  str(tmp_path / "b" / "ledger.json"), "--key", b_fpr, *b_sealed,
                  "--out", str(tmp_path / "b-again"), *DIMS, *SCOPE, ok=False)  # fmt: skip
    assert "singled out by difference" in differ.output

    (a_doc,) = a_out.glob("release-*[0-9a-f].json")
    (b_doc,) = b_out.glob("release-*[0-9a-f].json")
    (naive_doc,) = naive_out.glob("release-*[0-9a-f].json")
    o_pass = tmp_path / "o-pass"
    o_pass.write_text(OTHER_PASSPHRASE + "\n")
    origin_keys = ["--origin-key", f"org-a={a_key}", "--origin-key", f"org-b={b_key}"]
    o_signing = ["--home", str(o_home), "--key", o_generated.fingerprint,
                 "--passphrase-file", str(o_pass)]  # fmt: skip

    def combine(*docs: Path, out: Path, ok: bool = True) -> Result:
        return _run("workstation", "release", "combine", *map(str, docs), *origin_keys,
                    *o_signing, "--out", str(out), ok=ok)  # fmt: skip

    assert "counted twice" in combine(a_doc, naive_doc, out=tmp_path / "n", ok=False).output
    changed = tmp_path / "tampered-release" / b_doc.name
    changed.parent.mkdir()
    changed.write_bytes(b_doc.read_bytes().replace(b'"records":6', b'"records":9'))
    changed.with_name(changed.name + ".asc").write_bytes(
        b_doc.with_name(b_doc.name + ".asc").read_bytes()
    )
    assert "bad signature" in combine(a_doc, changed, out=tmp_path / "t", ok=False).output
    combined_out = tmp_path / "combined"
    combined = combine(a_doc, b_doc, out=combined_out)
    assert "records (incidents) behind it: 13" in combined.output
    (c_doc,) = combined_out.glob("release-*[0-9a-f].json")
    verified = _run("workstation", "release", "verify", str(c_doc), "--key",
                    str(combined_out / "signing-key.asc"))  # fmt: skip
    assert "good signature" in verified.output
    document = json.loads(c_doc.read_bytes())
    values = {tuple(e["key"]): e["value"] for e in document["entries"]}
    a_victims = sum(1 + day % 2 for day in range(1, 7)) + 2  # the shared one: A's count
    assert values[("2024-03", "CD-SK", "rape")] == a_victims  # counted once, by A
    assert values[("2024-03", "CD-NK", "rape")] == 12
    assert values[("*", "*", "*")] == a_victims + 12
    assert [s["organisation"] for s in document["combined_from"]] == ["org-a", "org-b"]
    assert "lower bound" in document["method"]["combination"]
    # The combined release is not valid under another key.
    other = _run("workstation", "release", "verify", str(c_doc), "--key", str(a_key), ok=False)
    assert "REFUSED" in other.output

    # The observatory's server keeps each organisation's release with its origin,
    # checked against the key pinned for it; a release under another's name is refused.
    env = {
        "DATABASE_URL": runtime.config.database_url,
        "BACKUP_INSTANCE_DIR": str(runtime.config.instance_dir),
    }
    imported = _run("observatory", "import", str(b_doc), "--origin", "org-b", "--key",
                    str(b_key), env=env)  # fmt: skip
    assert "imported" in imported.output
    wrong = _run("observatory", "import", str(a_doc), "--origin", "org-b", "--key", str(b_key),
                 env=env, ok=False)  # fmt: skip
    assert "REFUSED" in wrong.output and "bad signature" in wrong.output
    misnamed = _run("observatory", "import", str(a_doc), "--origin", "org-b", "--key",
                    str(a_key), env=env, ok=False)  # fmt: skip
    assert "not a release for the federation by org-b" in misnamed.output
    with runtime.session() as db:
        kept = list(db.scalars(select(ObservatoryRelease)))
    assert [(r.origin, r.signer_fingerprint) for r in kept] == [("org-b", b_generated.fingerprint)]
    assert kept[0].document == b_doc.read_bytes()
    with runtime.session() as db:
        imported_events = list(
            db.scalars(
                select(AuditEvent).where(AuditEvent.action == "observatory_release_imported")
            )
        )
        refusals = [
            json.loads(e.detail or "{}")["refusal"]
            for e in db.scalars(
                select(AuditEvent).where(AuditEvent.action == "observatory_release_refused")
            )
        ]
    assert [json.loads(e.detail or "{}")["origin"] for e in imported_events] == ["org-b"]
    assert refusals == ["verification", "origin"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_release_make_refuses_exclusions_without_an_organisation(
    runtime: Runtime, submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("")
    excl = tmp_path / "e.gpg"
    excl.write_bytes(b"x")
    result = _run("workstation", "release", "make", "--rows", str(rows), "--ledger",
                  str(tmp_path / "l.json"), "--key", submission_key[0].fingerprint, "--home",
                  str(submission_key[1]), "--passphrase-file", str(tmp_path / "rows.jsonl"),
                  "--out", str(tmp_path / "o"), *DIMS, *SCOPE, "--federation-exclusions",
                  str(excl), ok=False)  # fmt: skip
    assert "needs --organisation" in result.output
