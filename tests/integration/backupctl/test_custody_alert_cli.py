"""An ALERT source through `backupctl custody` (real gpg, mat2, SQLite, PostgreSQL).

The ALERT report decrypted in a workspace gets its report page: what happened, the
place as written, the region and the country in words. A judicial file of it is built
only with the source's consent to court, and says which consent document it relied on:
`custody judicial` prints it (the item, when the server received it, that it says yes),
the custody log's `judicial-file` entry names it, and `custody verify` (public keys
only) states it, checked against the document's signed receipt. A later change of
consent that leaves court "as before" is relied on with the earlier yes it keeps; a
file from before consent was described still verifies; a withdrawal refuses the file.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import select

from backupctl.cli import main
from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import FAST_HASHER
from vault import codenames, reports
from vault.models import Reviewer, Role
from vault.services import export, reviewers, sources
from workstation.custody_log import Workspace

WS_PASSPHRASE = "workstation key passphrase for tests"
# As the source's ALERT form sends it (source_app/alert.py): the region names its country.
ALERT_FORM = {
    "reporter": ["witness"],
    "violence": ["rape", "forced_nudity"],
    "region": ["CD-SK"],
    "place": ["près du marché de Minova"],
    "victims_count": ["3"],
    "account": ["ils sont venus la nuit"],
}


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


class _Source:
    """One source on the server, sending reports; each export is a new bundle."""

    def __init__(self, runtime: Runtime, tmp_path: Path) -> None:
        self.runtime, self.tmp_path, self.exports = runtime, tmp_path, 0
        with runtime.session() as db:
            source, _ = sources.create_source(
                db, runtime.keyring, runtime.config, codenames.generate_codename()
            )
            self.uuid, self.slug, self.designation = source.uuid, source.slug, source.designation
            analyst, _ = reviewers.create_reviewer(db, "analyst5", Role.ANALYST, hasher=FAST_HASHER)
            self.analyst = analyst.uuid

    def send(self, document: dict[str, Any]) -> None:
        with self.runtime.session() as db:
            source = sources.get_active_source(db, self.uuid)
            sources.submit(
                db, self.runtime.store, source, self.runtime.submission_fingerprint,
                reports.dumps(document), [],
            )  # fmt: skip

    def export(self) -> Path:
        self.exports += 1
        bundle = self.tmp_path / f"export-{self.exports}.zip"
        with self.runtime.session() as db, bundle.open("wb") as out:
            analyst = db.scalars(select(Reviewer).where(Reviewer.uuid == self.analyst)).one()
            export.build_export(db, self.runtime.store, analyst, [self.uuid], out)
        return bundle


def _consent(**answers: str) -> dict[str, Any]:
    return reports.consent_from_form({f"consent_{k}": [v] for k, v in answers.items()})


def _receipt(ws: Path, item: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ws / "evidence" / item / "item.json").read_text())
    return dict(body["receipt"]["body"])


def _described(ws: Path, name: str, item: str) -> str:
    receipt = _receipt(ws, item)
    return (
        f"{name} (item {item}), given (received by the server) {receipt['received_at']} "
        f"(receipt no. {receipt['seq']})"
    )


def _log(ws: Path) -> list[dict[str, Any]]:
    lines = (ws / "custody-log.jsonl").read_text().splitlines()
    return [json.loads(line)["body"] for line in lines]


def _resigned(ws: Path, judicial: Path, out: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The judicial file with its manifest edited and signed again by the workstation
    key: what an older workstation wrote, or what its key holder could forge."""
    with zipfile.ZipFile(judicial) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["JUDICIAL-MANIFEST.json"])
    edit(manifest)
    raw = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
    members["JUDICIAL-MANIFEST.json"] = raw
    key = Workspace.open(ws, WS_PASSPHRASE, "analyst-f").key
    members["JUDICIAL-MANIFEST.json.sig"] = base64.b64encode(key.sign(raw))
    with zipfile.ZipFile(out, "x") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def test_alert_report_page_and_the_consent_a_judicial_file_relied_on(
    runtime: Runtime, submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    source = _Source(runtime, tmp_path)
    slug, designation = source.slug, source.designation
    source.send(reports.alert_from_form(ALERT_FORM, today=dt.date(2026, 1, 1)))
    source.send(_consent(court="yes"))

    ws, key_pass, sub_pass = tmp_path / "ws", tmp_path / "ws-pass", tmp_path / "sub-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    sub_pass.write_text(SUBMISSION_PASSPHRASE + "\n")
    home = tmp_path / "gnupg"
    shutil.copytree(submission_key[1], home, ignore=shutil.ignore_patterns("S.*", "*.lock"))
    pub = tmp_path / "receipt.pem"
    pub.write_text(runtime.receipt_key.verify_key.pem())
    receipt_fpr = runtime.receipt_key.fingerprint
    common = ["--key-passphrase-file", str(key_pass), "--actor", "analyst-f"]
    assert _run("custody", "init", str(ws), *common).exit_code == 0
    trusted = _run("custody", "trust", str(ws), str(pub), "--fingerprint", receipt_fpr, *common)
    assert trusted.exit_code == 0, trusted.output
    ids: dict[str, str] = {}

    def import_(bundle: Path) -> None:
        imported = _run("custody", "import", str(ws), str(bundle), *common)
        assert imported.exit_code == 0, imported.output
        for line in imported.output.splitlines():
            if line.startswith("imported"):
                short, name = line.split()[2:4]
                [full] = [p.name for p in (ws / "evidence").iterdir() if p.name.startswith(short)]
                ids[name] = full

    def decrypt(name: str) -> Result:
        args = ["--home", str(home), "--passphrase-file", str(sub_pass), *common]
        done = _run("custody", "decrypt", str(ws), ids[name][:8], *args)
        assert done.exit_code == 0, done.output
        return done

    def judicial() -> Result:
        return _run("custody", "judicial", str(ws), ids[alert][:8], "--title", "Case 20", *common)

    def verify(path: Path) -> Result:
        ws_fpr = _log(ws)[0]["key"]
        args = ["--workstation-key", ws_fpr, "--receipt-key", receipt_fpr]
        return _run("custody", "verify", str(path), *args)

    import_(source.export())
    alert, court_yes = f"1-{slug}-msg.gpg", f"2-{slug}-msg.gpg"
    assert set(ids) == {alert, court_yes}

    # The ALERT report's page: what happened, where (the country in words), when received.
    decrypted = decrypt(alert)
    page_path = ws / "reports" / f"1-{slug}-report.html"
    assert f"report page: {page_path}" in decrypted.output
    page = page_path.read_text()
    assert f"<title>ALERT report — 1-{slug}</title>" in page
    assert "<tr><th>Who is reporting</th><td>Witness <code>witness</code></td></tr>" in page
    assert "Rape <code>rape</code><br>Forced nudity <code>forced_nudity</code>" in page
    assert "<tr><th>Country</th><td>Congo - Kinshasa <code>CD</code></td></tr>" in page
    assert "<tr><th>Region</th><td>Sud-Kivu <code>CD-SK</code></td></tr>" in page
    assert '<div class="free">près du marché de Minova</div>' in page
    assert '<div class="free">ils sont venus la nuit</div>' in page
    assert f"(signed custody receipt no. {_receipt(ws, ids[alert])['seq']})" in page
    assert '<h2>Files sent with it</h2>\n<p class="none">none</p>' in page

    # No consent read here yet: refused, logged, nothing built.
    refused = judicial()
    assert refused.exit_code != 0
    assert "no consent document of this source is decrypted here" in refused.output
    assert _log(ws)[-1]["action"] == "consent-refused"

    # The change of consent says yes to court: the file names it.
    decrypt(court_yes)
    built = judicial()
    assert built.exit_code == 0, built.output
    first = Path(built.output.splitlines()[0])
    said = [
        f"Consent to court for item(s) {ids[alert]}: relied on "
        f"{_described(ws, court_yes, ids[court_yes])}, the latest consent of source {designation}",
        "  it says court: yes",
    ]
    assert built.output.splitlines()[1:] == said
    entry = _log(ws)[-1]
    assert entry["action"] == "judicial-file"
    assert entry["details"]["items"] == [ids[alert]]
    assert entry["details"]["court_consent"] == [ids[court_yes]]  # ids only, in the log
    checked = verify(first)
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("VERDICT: VERIFIED")
    assert "\n".join(said) in checked.output

    # A later change leaves court as before: relied on, with the yes it keeps.
    source.send(_consent(statistics="yes"))
    import_(source.export())
    as_before = f"3-{slug}-msg.gpg"
    decrypt(as_before)
    built = judicial()
    assert built.exit_code == 0, built.output
    second = Path(built.output.splitlines()[0])
    said = [
        f"Consent to court for item(s) {ids[alert]}: relied on "
        f"{_described(ws, as_before, ids[as_before])}, the latest consent of source {designation}",
        f"  it leaves court as before: yes, as stated in "
        f"{_described(ws, court_yes, ids[court_yes])}",
    ]
    assert built.output.splitlines()[1:] == said
    assert _log(ws)[-1]["details"]["court_consent"] == [ids[as_before]]
    checked = verify(second)
    assert checked.exit_code == 0, checked.output
    assert "\n".join(said) in checked.output

    # A file from before judicial files described consent: its log still names it.
    def forget(manifest: dict[str, Any]) -> None:
        del manifest["court_consent"]

    older = verify(_resigned(ws, first, tmp_path / "older.zip", forget))
    assert older.exit_code == 0, older.output
    assert (
        "Consent to court: not described in this file (built before judicial files "
        "described it); its custody log names the consent document(s) relied on, by "
        f"item id: {ids[court_yes]}"
    ) in older.output

    # A consent document's time changed in the manifest: its signed receipt says otherwise.
    def backdate(manifest: dict[str, Any]) -> None:
        manifest["court_consent"][0]["document"]["received_at"] = "2020-01-01T00:00:00.000000Z"

    forged = verify(_resigned(ws, first, tmp_path / "forged.zip", backdate))
    assert forged.exit_code == 1 and forged.output.startswith("VERDICT: NOT VERIFIED")
    assert (
        f"PROBLEM: consent document {court_yes} (item {ids[court_yes]}): not the item, name "
        "or time its signed receipt states"
    ) in forged.output

    # The source withdraws consent to court: the latest document counts.
    source.send(_consent(court="no"))
    import_(source.export())
    withdrawn = f"4-{slug}-msg.gpg"
    decrypt(withdrawn)
    refused = judicial()
    assert refused.exit_code != 0
    assert f"their latest consent ({withdrawn}) says court: no" in refused.output
    last = _log(ws)[-1]
    assert last["action"] == "consent-refused"
    assert last["details"] == {"purpose": "court", "items": [ids[alert]]}
    assert sorted(p.name for p in (ws / "judicial").glob("*.zip")) == sorted(
        [first.name, second.name]
    )
