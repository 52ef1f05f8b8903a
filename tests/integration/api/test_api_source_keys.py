"""`/api/v1/sources` answers from the database: no gpg process per source, one query.

Each source's reply public key is kept when the key is made; listing returns it as gpg
exports it (the same text as before), and a source made before the column existed gets
it from the real keyring once, then from the database. gpg invocations are counted at
python-gnupg's `Popen` (the real gpg still runs)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import gnupg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from composition.runtime import Runtime
from journalist_app import create_app
from tests.support.journalist import FAST_HASHER, Account, make_account, make_source
from vault import codenames
from vault.models import Role, Source, Submission
from vault.services import sources
from vault.store import DocumentSink


class _CountingPopen:
    """python-gnupg's Popen, counted: every gpg process the app starts goes through it."""

    calls: list[list[str]]

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = []

    def __call__(self, cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        self.calls.append(list(cmd))
        return self.real(cmd, *args, **kwargs)


@pytest.fixture
def gpg_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[_CountingPopen]:
    counting = _CountingPopen(gnupg.Popen)
    monkeypatch.setattr(gnupg, "Popen", counting)
    yield counting


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    app = create_app(runtime.config, runtime, hasher=FAST_HASHER)
    app.testing = True
    return app.test_client()


def _token(client: FlaskClient, account: Account) -> dict[str, str]:
    response = client.post(
        "/api/v1/token",
        json={
            "username": account.username,
            "passphrase": account.passphrase,
            "one_time_code": account.code(),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Token {response.get_json()['token']}"}


def test_listing_runs_no_gpg_per_source(
    runtime: Runtime, client: FlaskClient, gpg_calls: _CountingPopen
) -> None:
    made = [make_source(runtime) for _ in range(4)]
    headers = _token(client, make_account(runtime, "analyst1", Role.ANALYST))
    exported = {}
    with runtime.session() as db:
        for source in db.scalars(select(Source)):
            assert source.reply_public_key is not None  # kept when the key was made
            exported[source.uuid] = runtime.keyring.export_public(source.reply_key_fingerprint)

    gpg_calls.calls.clear()
    listed = client.get("/api/v1/sources", headers=headers)
    assert listed.status_code == 200
    assert gpg_calls.calls == []  # none at all, however many sources
    keys = {s["uuid"]: s["key"] for s in listed.get_json()["sources"]}
    assert set(keys) == {m.uuid for m in made}
    for uuid, key in keys.items():
        # The same text gpg exports, a public key block only.
        assert key["public"] == exported[uuid]
        assert key["public"].startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        assert "PRIVATE" not in key["public"]
    one = client.get(f"/api/v1/sources/{made[0].uuid}", headers=headers)
    assert one.get_json()["key"]["public"] == exported[made[0].uuid]
    assert gpg_calls.calls == []


def test_a_source_from_before_gets_its_key_from_the_keyring_once(
    runtime: Runtime, client: FlaskClient, gpg_calls: _CountingPopen
) -> None:
    old, new = make_source(runtime), make_source(runtime)
    headers = _token(client, make_account(runtime, "analyst1", Role.ANALYST))
    with runtime.session() as db:
        fingerprint = db.scalars(
            select(Source.reply_key_fingerprint).where(Source.uuid == old.uuid)
        ).one()
        db.execute(update(Source).where(Source.uuid == old.uuid).values(reply_public_key=None))
        db.commit()
    expected = runtime.keyring.export_public(fingerprint)

    gpg_calls.calls.clear()
    first = client.get("/api/v1/sources", headers=headers).get_json()["sources"]
    exports = [c for c in gpg_calls.calls if "--export" in c]
    assert len(exports) == 1 and fingerprint in exports[0]  # that source only
    assert {s["uuid"]: s["key"]["public"] for s in first}[old.uuid] == expected
    with runtime.session() as db:
        stored = db.scalars(select(Source.reply_public_key).where(Source.uuid == old.uuid)).one()
    assert stored == expected

    gpg_calls.calls.clear()
    again = client.get("/api/v1/sources", headers=headers).get_json()["sources"]
    assert gpg_calls.calls == []
    assert {s["uuid"] for s in again} == {old.uuid, new.uuid}
    assert {s["uuid"]: s["key"]["public"] for s in again}[old.uuid] == expected


def test_the_list_says_of_each_source_what_its_own_object_says(
    runtime: Runtime, client: FlaskClient
) -> None:
    """The list is read as plain columns with the counts in the same query: each of its
    objects is still the source's own object, field for field, live submissions counted
    by kind, sources being deleted or not yet submitted left out, most recent first."""
    made = [make_source(runtime) for _ in range(3)]
    headers = _token(client, make_account(runtime, "analyst1", Role.ANALYST))
    with runtime.session() as db:
        # A second message for the first source; the second source's document deleted.
        first = db.scalars(select(Source).where(Source.uuid == made[0].uuid)).one()
        sink = DocumentSink(runtime.store.begin_unassigned([runtime.submission_fingerprint]), "x")
        sink.write(b"more")
        sources.submit(db, runtime.store, first, runtime.submission_fingerprint, "again", [sink])
        db.execute(
            update(Submission)
            .where(Submission.uuid == made[1].document_uuid)
            .values(deleted_at=dt.datetime.now(dt.UTC))
        )
        gone = db.scalars(select(Source).where(Source.uuid == made[2].uuid)).one()
        gone.deleted_at = dt.datetime.now(dt.UTC)
        sources.create_source(db, runtime.keyring, runtime.config, codenames.generate_codename())
        db.commit()

    listed = client.get("/api/v1/sources", headers=headers)
    assert listed.status_code == 200
    found = listed.get_json()["sources"]
    assert [s["uuid"] for s in found] == [made[0].uuid, made[1].uuid]  # latest activity first
    counts = {s["uuid"]: (s["number_of_documents"], s["number_of_messages"]) for s in found}
    assert counts == {made[0].uuid: (2, 2), made[1].uuid: (0, 1)}
    for listed_source in found:
        own = client.get(f"/api/v1/sources/{listed_source['uuid']}", headers=headers)
        assert own.status_code == 200
        assert listed_source == own.get_json()
