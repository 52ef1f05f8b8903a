"""A submission key rotation on the workstation, with real gpg: the incident store and
the release ledger are sealed to every submission key in force (each secret key of the
GnuPG home neither revoked nor expired), `backupctl workstation incident reseal` brings
both to the current set after a rotation (either key's passphrase then opens them), and
after a revocation the revoked key no longer opens the next generation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from keys.gpg import GpgKeyring, kill_agent, prepare_home
from keys.lifecycle import generate_submission_key
from tests.unit.workstation.test_observatory_model import record
from tests.unit.workstation.test_observatory_release import SPEC, random_rows
from workstation.custody_log import LOG_NAME, Workspace, read_log
from workstation.errors import DecryptFailedError
from workstation.observatory.release import ReleaseError
from workstation.observatory.release_ledger import SealedLedger, make_release
from workstation.observatory.store import open_book, seal_recipients

WS_PASSPHRASE = "workstation passphrase for the reseal"
OLD, NEW = "old submission key passphrase", "new submission key passphrase"


def _log(workspace: Workspace) -> list[dict[str, object]]:
    return [
        {"action": r.body["action"], **r.body["details"]}
        for r in read_log(workspace.root / LOG_NAME)
    ]


def _reseal(workspace: Workspace, home: Path, tmp: Path, passphrase: str) -> str:
    phrase = tmp / "phrase"
    phrase.write_text(passphrase + "\n")
    key_phrase = tmp / "ws-phrase"
    key_phrase.write_text(WS_PASSPHRASE + "\n")
    result = CliRunner().invoke(
        main,
        [
            "workstation",
            "incident",
            "reseal",
            str(workspace.root),
            "--home",
            str(home),
            "--passphrase-file",
            str(phrase),
            "--key-passphrase-file",
            str(key_phrase),
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output


def _opens(workspace: Workspace, home: Path, passphrase: str) -> bool:
    """The store and the ledger both open with this passphrase alone."""
    try:
        with open_book(workspace, home, [passphrase]) as book:
            assert len(book.records) == 2
            ledger = SealedLedger(workspace, book.keyring, [passphrase])
            data = ledger._load()
            assert data is not None and len(data["releases"]) == 1
    except (DecryptFailedError, ReleaseError):
        return False
    return True


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    # An agent that caches no passphrase, like the workstation's: each open below
    # proves what that passphrase alone opens.
    path = prepare_home(tmp_path / "gnupg")
    yield path
    kill_agent(path)


def test_rotation_then_revocation_reseal_the_store_and_the_ledger(
    home: Path, tmp_path: Path
) -> None:
    old = generate_submission_key(home, OLD, name="Submission key 2025").fingerprint.upper()
    workspace = Workspace.create(tmp_path / "ws", WS_PASSPHRASE, actor="analyst-r")
    keyring = GpgKeyring(home, server=False)
    with open_book(workspace, home, [OLD]) as book:
        book.add(record())
        book.add(record())
        book.commit()
        assert book.seal_outdated() == ([], [])
        ledger = SealedLedger(workspace, keyring, [OLD])
        made = make_release(random_rows(60, seed=3), SPEC, ledger)
        ledger.record(made, SPEC)
    coded, released = _log(workspace)[-3], _log(workspace)[-1]
    assert coded["store"]["sealed_to"] == [old]  # type: ignore[index]
    assert released["action"] == "release-made" and released["sealed_to"] == [old]

    # Rotation: a new submission key generated in the same home, the old one kept.
    new = generate_submission_key(home, NEW, name="Submission key 2026").fingerprint.upper()
    # Newest first (by creation time: the same second may tie, then by fingerprint).
    assert sorted(seal_recipients(keyring)) == sorted([new, old])
    assert not _opens(workspace, home, NEW)  # still sealed to the old key only
    with open_book(workspace, home, [OLD]) as book:
        was, now = book.seal_outdated()
        assert was == [old] and sorted(now) == sorted([new, old])
    listing = CliRunner().invoke(
        main,
        ["workstation", "incident", "list", str(workspace.root), "--home", str(home)],
        input=f"{WS_PASSPHRASE}\n{OLD}\n",
    )
    assert "run `backupctl workstation incident reseal`" in listing.output

    output = _reseal(workspace, home, tmp_path, OLD)
    assert f"was sealed to: {old}" in output
    assert f"now sealed to: {new}, {old}" in output or f"now sealed to: {old}, {new}" in output
    assert "release ledger: resealed likewise" in output
    store_entry, ledger_entry = _log(workspace)[-2:]
    assert store_entry["action"] == "store-resealed" and store_entry["records"] == 2
    assert store_entry["store"]["sealed_to"] == sorted([new, old])  # type: ignore[index]
    assert ledger_entry["action"] == "ledger-resealed"
    assert ledger_entry["sealed_to"] == sorted([new, old])
    # Either key opens both now; the records are unchanged, nothing in clear was written.
    assert _opens(workspace, home, NEW) and _opens(workspace, home, OLD)
    with open_book(workspace, home, [NEW]) as book:
        assert book.seal_outdated() == ([], [])
        assert book.generation == 2
    files = sorted(p.name for p in (workspace.root / "incidents").iterdir())
    assert files == [".lock", "release-ledger.gpg", "store.2.gpg"]
    for path in (workspace.root / "incidents").glob("*.gpg"):
        assert b"analyst-r" not in path.read_bytes()

    # The old key may have leaked: revoked in the workstation's home (its revocation
    # certificate, which gpg made with the key). It drops out of the set.
    certificate = (home / "openpgp-revocs.d" / f"{old}.rev").read_text()
    keyring.gpg.import_keys(certificate.replace(":-----BEGIN", "-----BEGIN"))
    assert seal_recipients(keyring) == [new]
    output = _reseal(workspace, home, tmp_path, NEW)
    assert f"now sealed to: {new}\n" in output
    assert _opens(workspace, home, NEW)
    assert not _opens(workspace, home, OLD)  # the revoked key opens nothing new
    # A tampered log entry is not how this was done: the chain still verifies.
    Workspace.open(workspace.root, WS_PASSPHRASE)
    assert json.dumps(_log(workspace)).count("store-resealed") == 2
