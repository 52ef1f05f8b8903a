"""Coding incidents end to end through `backupctl workstation incident`, with real gpg:
sources send ALERT reports, a message and their consent; a bundle is exported, imported
and decrypted in a workspace; an analyst codes records (prefilled from the reports, by
hand from the message), links two reports of one incident, edits; the records are sealed
on disk (the analyst's note is nowhere in clear), the custody log verifies and holds
field names only, and a replaced store is refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from backupctl.cli import main
from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import FAST_HASHER
from vault import codenames, reports
from vault.models import Role, Submission
from vault.services import export, reviewers, sources
from workstation.custody_log import LOG_NAME, Workspace, read_log
from workstation.observatory.to_release import workspace_release_rows

WS_PASSPHRASE = "workstation key passphrase for incidents"
NOTE_MARKER = "ANALYST-NOTE-MARKER-7731 the clinic at Kalehe"
ACCOUNT_MARKER = "ACCOUNT-MARKER-5520"
TODAY = "2026-12-05"


def _alert(**answers: list[str]) -> str:
    return reports.dumps(reports.alert_from_form(answers, today=dt.date.fromisoformat(TODAY)))


def _consent(statistics: str) -> str:
    return reports.dumps(reports.consent_from_form({"consent_statistics": [statistics]}))


REPORT_A = _alert(
    reporter=["survivor"],
    violence=["rape", "forced_nudity"],
    when_year=["2024"],
    when_month=["3"],
    region=["CD-SK"],
    victims_count=["2"],
    victims_sex=["female"],
    victims_age=["18-29"],
    perpetrators=["armed_group"],
    account=[ACCOUNT_MARKER],
)
REPORT_B = _alert(
    reporter=["witness"],
    violence=["rape"],
    when_date=["2024-03-05"],
    region=["CD-SK"],
    victims_sex=["female"],
    perpetrators=["armed_group"],
)
MESSAGE_C = "They came at night, in March 2024, near Bukavu. One woman."


def _send(runtime: Runtime, *texts: str) -> str:
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        for text in texts:
            sources.submit(db, runtime.store, source, runtime.submission_fingerprint, text, [])
        return source.uuid


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_incidents_coded_sealed_linked_and_logged(
    runtime: Runtime, submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    source_a = _send(runtime, REPORT_A, _consent("yes"))
    source_b = _send(runtime, REPORT_B, _consent("yes"))
    source_c = _send(runtime, MESSAGE_C, _consent("no"))
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst5", Role.ANALYST, hasher=FAST_HASHER)
        uuids = list(dict.fromkeys(s.source.uuid for s in db.scalars(select(Submission))))
        bundle = tmp_path / "export.zip"
        with bundle.open("wb") as out:
            export.build_export(db, runtime.store, analyst, uuids, out)

    ws, home = tmp_path / "ws", submission_key[1]
    key_pass, sub_pass = tmp_path / "ws-pass", tmp_path / "sub-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    sub_pass.write_text(SUBMISSION_PASSPHRASE + "\n")
    common = ["--key-passphrase-file", str(key_pass), "--actor", "analyst-e"]
    sealed = ["--home", str(home), "--passphrase-file", str(sub_pass), *common]

    def run(*args: str, ok: bool = True) -> Result:
        result = CliRunner().invoke(main, list(args))
        assert (result.exit_code == 0) is ok, result.output
        return result

    def incident(*args: str, ok: bool = True) -> Result:
        return run("workstation", "incident", args[0], str(ws), *args[1:], *sealed, ok=ok)

    run("custody", "init", str(ws), *common)
    pem = tmp_path / "receipt.pem"
    pem.write_text(runtime.receipt_key.verify_key.pem())
    fpr = runtime.receipt_key.fingerprint
    run("custody", "trust", str(ws), str(pem), "--fingerprint", fpr, *common)
    run("custody", "import", str(ws), str(bundle), *common)
    # `import` prints 8-character ids; the full ones are the evidence directories.
    items = sorted(p.parent.name for p in (ws / "evidence").glob("*/item.json"))
    decrypt = ["--home", str(home), "--passphrase-file", str(sub_pass)]
    run("custody", "decrypt", str(ws), *items, *decrypt, *common)
    # The first message of each source is its report (or plain message).
    first, designations = {}, set()
    for item in items:
        meta = json.loads((ws / "evidence" / item / "item.json").read_text())
        designations |= {meta["designation"], Path(meta["path"]).name.split("-")[1]}
        if Path(meta["path"]).name.startswith("1-"):
            first[meta["source_uuid"]] = item
    item_a, item_b, item_c = first[source_a], first[source_b], first[source_c]

    # Prefilled from report A: the analyst confirms at the prompt.
    added = CliRunner().invoke(
        main,
        ["workstation", "incident", "add", str(ws), "--from", item_a, *sealed],
        input="y\n",
    )
    assert added.exit_code == 0, added.output
    assert "  date: 2024-03 (month)" in added.output
    assert "  place: CD CD-SK" in added.output
    assert "  source type: survivor" in added.output
    assert "  act rape: victims female:18-29:2; by armed_group" in added.output
    assert "  act forced_nudity: victims female:18-29:2; by armed_group" in added.output
    assert "CHECK: acts: the same victims are coded under each act" in added.output
    record_a = added.output.strip().splitlines()[-1].split()[-1]
    # Report B gives no number of victims: the analyst sets it, and writes a note.
    added = incident(
        "add", "--from", item_b, "--victims", "female:unknown:1", "--note", NOTE_MARKER, "--yes"
    )
    assert "  date: 2024-03-05 (day)" in added.output
    # Right after sealing, the records that may be the same incident.
    assert "likely duplicates (1; the best 1):" in added.output
    assert f" {record_a}\n      same region CD-SK\n" in added.output
    record_b = added.output.strip().splitlines()[-1].split()[-1]
    # A plain message: coded by hand; a bad code is refused, with every problem named.
    hand = [
        "add", "--from", item_c, "--act", "rape", "--victims", "female:unknown:1",
        "--date", "2024-03", "--region", "CD-SK", "--source-type", "witness", "--yes",
    ]  # fmt: skip
    log_size = len(read_log(ws / LOG_NAME))
    bare = incident("add", "--from", item_c, "--yes", ok=False).output
    for missing in ("date: the report gives none", "place: the report gives none", "acts: the"):
        assert f"  - {missing}" in bare
    refused = incident(*hand[:-1], "--act", "beating", "--region", "CD-XX", "--yes", ok=False)
    assert "incident record refused:" in refused.output
    assert "act: 'beating' is not one of rape" in refused.output
    assert "place: 'CD-XX' is not an ISO 3166-2 region of CD" in refused.output
    assert len(read_log(ws / LOG_NAME)) == log_size  # nothing sealed, nothing logged
    added = incident(*hand)
    assert "CHECK: coded by hand (no report to prefill from)" in added.output
    record_c = added.output.strip().splitlines()[-1].split()[-1]

    # Duplicates: A and B (same region, the day inside the month, rape, armed group).
    found = incident("duplicates").output
    assert f"  {record_a} {record_b}\n" in found
    assert "      same region CD-SK\n" in found
    assert "      dates overlap (2024-03 and 2024-03-05: 1 day(s) in common)" in found
    incident("link", record_a[:8], record_b)
    assert f"{record_a} {record_b}" not in incident("duplicates").output

    # One incident from two sources, one record kept out: C's source said no.
    listed = incident("list").output
    assert "3 record(s), 2 incident(s), 1 usable for statistics" in listed
    assert "2 record(s), 2 report(s), corroboration 2 source(s); counted" in listed
    assert "1 record(s), 1 report(s), corroboration 1 source(s); NOT COUNTED" in listed
    shown = incident("show", record_c).output
    assert "  statistics: NOT USABLE for statistics" in shown
    assert "their latest consent (2-" in shown and "says statistics: no" in shown
    shown = incident("show", record_b).output
    assert f"  linked: one incident with {record_a}" in shown
    assert f"note: {NOTE_MARKER}" in shown

    # An edit logs the field it changed; an edit that changes nothing logs nothing.
    incident("edit", record_a, "--victims", "female:18-29:3")
    log_size = len(read_log(ws / LOG_NAME))
    assert "nothing changed" in incident("edit", record_a, "--victims", "female:18-29:3").output
    assert len(read_log(ws / LOG_NAME)) == log_size

    # Sealed on disk: the note is in no file of the workspace, in clear.
    store = [p for p in (ws / "incidents").iterdir() if p.name != ".lock"]
    assert [p.name for p in store] == ["store.5.gpg"]
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert NOTE_MARKER.encode() not in path.read_bytes(), path
    keyring = GpgKeyring(home, server=False)
    opened = json.loads(keyring.open_bytes(store[0].read_bytes(), SUBMISSION_PASSPHRASE))
    assert NOTE_MARKER in json.dumps(opened)

    # The custody log verifies, and holds ids and field names only.
    verified = run("custody", "log", str(ws))
    assert "VERIFIED" in verified.output
    entries = [r.body for r in read_log(ws / LOG_NAME) if r.body["action"].startswith("incident")]
    assert [e["action"] for e in entries] == [
        "incident-coded", "incident-coded", "incident-coded", "incident-linked", "incident-edited",
    ]  # fmt: skip
    assert entries[0]["details"]["items"] == [item_a]
    assert entries[3]["details"]["record"] == record_b
    assert entries[3]["details"]["fields"] == ["group"]
    assert entries[4]["details"]["fields"] == ["acts"]
    assert entries[4]["details"]["revision"] == 2
    text = json.dumps(entries)
    for secret in ("CD-SK", "rape", "female", NOTE_MARKER, "2024-03", *designations):
        assert secret not in text
    assert ACCOUNT_MARKER not in (ws / LOG_NAME).read_text()

    # A report added to a record, then removed from it (`--remove-from`, an id prefix):
    # each logged with the items (ids only); an item it does not rest on, or removing
    # its last report, is refused with nothing logged.
    incident("edit", record_a, "--add-from", item_c)
    assert "NOT USABLE" in incident("show", record_a).output  # C's source said no
    log_size = len(read_log(ws / LOG_NAME))
    assert "not an item this record rests on" in (
        incident("edit", record_a, "--remove-from", item_b, ok=False).output
    )
    assert "at least one imported report" in (
        incident("edit", record_c, "--remove-from", item_c, ok=False).output
    )
    assert len(read_log(ws / LOG_NAME)) == log_size
    incident("edit", record_a, "--remove-from", item_c[:8])
    assert "usable" in incident("show", record_a).output
    assert "NOT USABLE" not in incident("show", record_a).output
    added_then_removed = [r.body for r in read_log(ws / LOG_NAME)][-2:]
    assert [e["details"]["fields"] for e in added_then_removed] == [["sources"], ["sources"]]
    assert added_then_removed[0]["details"]["items"] == [item_a, item_c]
    assert "removed" not in added_then_removed[0]["details"]
    assert added_then_removed[1]["details"]["items"] == [item_a]
    assert added_then_removed[1]["details"]["removed"] == [item_c]

    # What a release would count: the linked incident once, from A; nothing of C.
    rows = workspace_release_rows(Workspace.open(ws, WS_PASSPHRASE), home, [SUBMISSION_PASSPHRASE])
    assert [(r.incident_id, r.acts, r.victim_sex, r.age_band, r.victim_count) for r in rows] == [
        (record_a, ("rape", "forced_nudity"), "female", "18-29", 3)
    ]
    assert (rows[0].region, rows[0].month, rows[0].perpetrator) == (
        "CD-SK",
        "2024-03",
        "armed_group",
    )

    # A store replaced by someone holding only the public key: refused.
    fingerprint = submission_key[0].fingerprint
    forged = keyring.seal_bytes(json.dumps({**opened, "records": []}).encode(), [fingerprint])
    (current,) = (ws / "incidents").glob("store.*.gpg")
    current.write_bytes(forged)
    refused = incident("list", ok=False)
    assert "not the store the custody log names (replaced or altered)" in refused.output
