"""The sealed incident store with real gpg: generations bound to the custody log, an
interrupted write forgotten, an older generation put back refused, the wrong passphrase
refused, links and unlinks logged per record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.unit.workstation.test_observatory_model import record
from workstation.custody_log import LOG_NAME, Workspace, read_log
from workstation.errors import DecryptFailedError
from workstation.observatory.model import Place
from workstation.observatory.store import IncidentStoreError, open_book

PASSPHRASES = ["not this one", SUBMISSION_PASSPHRASE]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", "workstation passphrase 1234", actor="analyst-s")


def _incident_log(workspace: Workspace) -> list[dict[str, object]]:
    return [
        {"action": r.body["action"], **r.body["details"]}
        for r in read_log(workspace.root / LOG_NAME)
        if str(r.body["action"]).startswith("incident")
    ]


def test_generations_links_and_tampering(
    workspace: Workspace, submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    home = submission_key[1]
    a, b, c = record(), record(), record()
    with open_book(workspace, home, PASSPHRASES) as book:
        assert book.records == {} and book.generation == 0
        for each in (a, b, c):
            book.add(each)
        assert book.commit() == 3
        assert book.commit() == 0  # nothing pending: nothing written
    with open_book(workspace, home, PASSPHRASES) as book:
        assert sorted(book.records) == sorted(r.id for r in (a, b, c))
        assert book.records[a.id].coded_by == "analyst-s"
        book.link(book.records[a.id], book.records[b.id])
        book.link(book.records[c.id], book.records[b.id])
        assert book.commit() == 2
        assert {r.group for r in book.records.values()} == {a.id}
        # Uncommitted changes are dropped.
        book.update(book.records[c.id].__class__.build(**{**c.values(), "place": Place("CD")}))
    with open_book(workspace, home, PASSPHRASES) as book:
        assert book.records[c.id].place == Place("CD", "CD-SK")
        assert book.find(c.id[:8]) == book.records[c.id]
        with pytest.raises(IncidentStoreError, match="no record with this id"):
            book.find("ffffffff")
        # Taking out the record the group is named after renames the group.
        assert book.unlink(book.records[a.id])
        book.commit()
        assert book.records[a.id].group == a.id
        assert book.records[b.id].group == book.records[c.id].group != a.id
        assert not book.unlink(book.records[a.id])
    log = _incident_log(workspace)
    assert [e["action"] for e in log] == [
        *["incident-coded"] * 3, *["incident-linked"] * 2, *["incident-unlinked"] * 2,
    ]  # fmt: skip
    assert log[5]["unlinked"] == log[6]["unlinked"] == a.id
    assert log[3]["record"] == b.id and log[3]["linked_with"] == a.id
    assert log[4]["record"] == c.id and log[4]["group"] == a.id
    assert {e["store"]["generation"] for e in log} == {1, 2, 3}  # type: ignore[index]
    directory = workspace.root / "incidents"
    assert sorted(p.name for p in directory.glob("store.*")) == ["store.3.gpg"]

    # A write sealed but never logged (the machine stopped): forgotten at the next open.
    (directory / "store.4.gpg").write_bytes(b"interrupted")
    with open_book(workspace, home, PASSPHRASES) as book:
        assert book.generation == 3
        book.add(record())
        book.commit()
    assert sorted(p.name for p in directory.glob("store.*")) == ["store.4.gpg"]

    # The wrong passphrase opens nothing (a copy of the home: its agent has cached nothing).
    fresh = tmp_path / "gnupg-copy"
    shutil.copytree(home, fresh, ignore=shutil.ignore_patterns("S.*", "*.lock"))
    with pytest.raises(DecryptFailedError, match="no submission key passphrase given opens it"):
        with open_book(workspace, fresh, ["not this one"]):
            pass
    kill_agent(fresh)

    # An older generation put back under the current name: refused.
    keyring = GpgKeyring(home, server=False)
    current = (directory / "store.4.gpg").read_bytes()
    payload = json.loads(keyring.open_bytes(current, SUBMISSION_PASSPHRASE))
    assert payload["generation"] == 4 and len(payload["records"]) == 4
    older = keyring.seal_bytes(
        json.dumps({**payload, "records": payload["records"][:3]}).encode(),
        [submission_key[0].fingerprint],
    )
    (directory / "store.4.gpg").write_bytes(older)
    with pytest.raises(IncidentStoreError, match="not the store the custody log names"):
        with open_book(workspace, home, PASSPHRASES):
            pass
    (directory / "store.4.gpg").unlink()
    with pytest.raises(IncidentStoreError, match=r"store\.4\.gpg: missing"):
        with open_book(workspace, home, PASSPHRASES):
            pass
