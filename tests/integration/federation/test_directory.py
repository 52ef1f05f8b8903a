"""The directory of professionals between two instances, on a real database (SQLite and
PostgreSQL): an NGO's partner professionals agree to be listed, `backupctl federation
send-directory` publishes them through a SOCKS relay (tor's stand-in) to the medical
partner's real endpoint, served over HTTP; the partner's analysts see them on the
"Professionals" page with filters; a withdrawal leaves at the next publication; an older
or malformed directory is refused; no entry is in clear on either server."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select
from werkzeug.test import Client

from composition.runtime import Runtime, build_runtime
from federation.app import create_app as create_endpoint
from federation.app import make_app
from federation.envelope import seal_envelope
from federation.identity import load_identity
from federation.kinds import DIRECTORY
from journalist_app import create_app
from keys.lifecycle import GeneratedKey
from source_app import create_app as create_source_app
from tests.conftest import FAST_SCRYPT
from tests.support.federation import (
    add_peer,
    federation_cli,
    identity_card,
    other_database,
    serve_wsgi,
)
from tests.support.journalist import FAST_HASHER, csrf_token, login, make_account, post_form
from tests.support.leaks import assert_no_leak
from tests.support.socks_relay import socks_relay
from vault.config import load_config
from vault.models import (
    AuditEvent,
    DirectoryListing,
    PartnerService,
    PeerDirectory,
    Reviewer,
    Role,
)
from vault.services import directory, federation_peers, partners

OURS_ONION = "m" * 56 + ".onion"
NGO_ONION = "n" * 56 + ".onion"
REGION = "Nyiragongo7Q4X"  # markers: never in clear on either server
AVAILABILITY = "Tuesdays ZK93W only"
ORGANISATION = "Clinique Espoir 5RTV"


@pytest.fixture
def env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**cli_env, "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "onion")}


@pytest.fixture
def ngo(
    runtime: Runtime, request: pytest.FixtureRequest, tmp_path: Path, redis: Redis
) -> Iterator[Runtime]:
    """A second instance (the NGO) on the same kind of database as `runtime`."""
    assert runtime.config.redis_url is not None
    with other_database(tmp_path, "ngo", runtime.config.database_url, request) as url:
        env = {
            "BACKUP_INSTANCE_DIR": str(tmp_path / "ngo-instance"),
            "DATABASE_URL": url,
            "REDIS_URL": runtime.config.redis_url,
        }
        rt = build_runtime(replace(load_config(env), scrypt=FAST_SCRYPT), redis=redis)
        yield rt
        rt.engine.dispose()


def _env_of(rt: Runtime, services: Path) -> dict[str, str]:
    assert rt.config.redis_url is not None
    return {
        "BACKUP_INSTANCE_DIR": str(rt.config.instance_dir),
        "DATABASE_URL": rt.config.database_url,
        "REDIS_URL": rt.config.redis_url,
        "BACKUP_SCRYPT_N": "16",
        "BACKUP_TOR_SERVICES_DIR": str(services),
    }


def _reviewer(rt: Runtime, uuid: str) -> Reviewer:
    with rt.session() as db:
        found = db.scalars(select(Reviewer).where(Reviewer.uuid == uuid)).one()
        db.expunge(found)
        return found


def _ngo_professionals(ngo: Runtime) -> tuple[str, str]:
    """Two partner professionals of one organisation, both listed; a third not."""
    admin = make_account(ngo, "ngo-admin", Role.ADMIN)
    nurse = make_account(ngo, "nurse-a", Role.PARTNER)
    lawyer = make_account(ngo, "lawyer-b", Role.PARTNER)
    silent = make_account(ngo, "silent-c", Role.PARTNER)
    with ngo.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
        org = partners.create_org(db, actor, ORGANISATION, [PartnerService.MEDICAL])
        for account in (nurse, lawyer, silent):
            partners.add_member(db, actor, org.uuid, account.uuid)
    with ngo.session() as db:
        by = {r.username: r for r in db.scalars(select(Reviewer))}
        directory.agree(
            db,
            by["nurse-a"],
            profession="medical",
            regions=[REGION, "Rubavu"],
            languages=["Kinyarwanda", "French"],
            availability=AVAILABILITY,
        )
        directory.agree(
            db,
            by["lawyer-b"],
            profession="legal",
            regions=["Bujumbura"],
            languages=["Kirundi"],
            availability="",
        )
    return nurse.uuid, lawyer.uuid


def _page(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/professionals/{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_directory_published_shown_filtered_withdrawn_and_sealed(
    runtime: Runtime,
    ngo: Runtime,
    env: dict[str, str],
    tmp_path: Path,
    submission_key: tuple[GeneratedKey, Path],
) -> None:
    release_key = submission_key[0].public_armored
    ngo_env = _env_of(ngo, tmp_path / "ngo-onion")
    ours = dataclasses.replace(
        identity_card(env, tmp_path / "ours-card", release_key), onion=OURS_ONION
    )
    theirs = dataclasses.replace(
        identity_card(ngo_env, tmp_path / "ngo-card", release_key), onion=NGO_ONION
    )
    # Before any peer, as the hourly timer runs from the deployment on: nothing to send,
    # and the unit succeeds.
    for command in ("send-directory", "send-readers"):
        idle = federation_cli(ngo_env, command, "--all", "--wait", "0")
        assert idle.output.strip() == "no active peers: nothing sent"
    add_peer(env, "ngo", theirs)
    add_peer(ngo_env, "medical", ours)
    _nurse, lawyer = _ngo_professionals(ngo)

    # The endpoint as `backupctl serve federation` builds it (its own key binding).
    serving = serve_wsgi(create_endpoint(env))
    port = next(serving)
    try:
        with socks_relay(to_port=port) as (proxy, asked):
            send_env = {**ngo_env, "BACKUP_FEDERATION_SOCKS": f"{proxy[0]}:{proxy[1]}"}
            sent = federation_cli(send_env, "send-directory", "--to", "medical", "--wait", "0")
            assert "directory version 1: 2 entries" in sent.output
            assert "\taccepted" in sent.output
            assert asked == [(OURS_ONION, 80)]  # the name went to "tor", unresolved

            # The analyst of the receiving instance sees both, and filters.
            app = create_app(runtime.config, runtime, hasher=FAST_HASHER)
            app.testing = True
            analyst = make_account(runtime, "analyst1", Role.ANALYST)
            client = app.test_client()
            assert login(client, analyst).status_code == 302
            page = _page(client)
            assert page.count('class="professional"') == 2
            assert ORGANISATION in page and AVAILABILITY in page and REGION in page
            assert "Bujumbura" in page and "ngo" in page
            only_region = _page(client, f"?region={REGION.lower()}")
            assert only_region.count('class="professional"') == 1 and AVAILABILITY in only_region
            by_language = _page(client, "?language=kirundi")
            assert by_language.count('class="professional"') == 1 and "Bujumbura" in by_language
            by_profession = _page(client, "?profession=legal")
            assert by_profession.count('class="professional"') == 1
            assert "Bujumbura" in by_profession
            assert _page(client, "?region=Goma&language=French").count('class="professional"') == 0

            # The lawyer withdraws: gone at the next publication, the nurse stays.
            with ngo.session() as db:
                assert directory.withdraw(db, db.merge(_reviewer(ngo, lawyer)))
            sent = federation_cli(send_env, "send-directory", "--all", "--wait", "0")
            assert "directory version 2: 1 entries" in sent.output and "\taccepted" in sent.output
            page = _page(client)
            assert page.count('class="professional"') == 1
            assert "Bujumbura" not in page and AVAILABILITY in page
    finally:
        next(serving, None)

    with runtime.session() as db:
        kept = db.scalars(select(PeerDirectory)).one()
        assert kept.version == 2
    with ngo.session() as db:
        listings = list(db.scalars(select(DirectoryListing).order_by(DirectoryListing.id)))
        assert [bool(x.withdrawn_at) for x in listings] == [False, True]
        actions = list(db.scalars(select(AuditEvent.action)))
        assert actions.count("directory_listing_agreed") == 2
        assert actions.count("directory_published") == 2
        assert "directory_listing_withdrawn" in actions

    # An older directory, sent afresh (a new envelope), does not replace the newer one;
    # neither does a malformed one.
    signing = load_identity(Path(ngo_env["BACKUP_INSTANCE_DIR"]) / "federation").signing
    endpoint = Client(make_app(runtime.session_factory, ours.fingerprint))
    entry = {
        "id": "ab" * 16,
        "organisation": "Old",
        "profession": "legal",
        "regions": ["Bujumbura"],
        "languages": ["Kirundi"],
        "availability": "",
    }
    for body in (
        {"version": 1, "entries": [entry]},
        {"version": 9, "entries": [{**entry, "contact": "+250 788"}]},
        {"version": 9, "entries": [entry, entry]},
        {"version": "9", "entries": []},
    ):
        _i, raw = seal_envelope(signing, kind=DIRECTORY, recipient=ours.fingerprint, body=body)
        response = endpoint.post("/v1/envelope", data=raw, content_type="application/json")
        assert (response.status_code, response.json) == (403, {"refused": "body"})
    with runtime.session() as db:
        assert db.scalars(select(PeerDirectory)).one().version == 2

    # A removed peer's professionals are no longer shown.
    with runtime.session() as db:
        federation_peers.remove_peer(db, "ngo")
    assert _page(client).count('class="professional"') == 0

    # Sealed at rest on both sides (the NGO's organisation names are clear there by
    # design: partner_orgs; on the receiving side they are sealed too).
    assert_no_leak([REGION, AVAILABILITY], engine=[runtime.engine, ngo.engine])
    assert_no_leak([ORGANISATION], engine=runtime.engine, redis=runtime.redis)


def test_partner_agrees_on_the_page_and_withdraws(runtime: Runtime) -> None:
    """A partner professional's own agreement: given, changed and withdrawn through the
    page, recorded (who, when), audited; an analyst cannot be listed; the source
    interface has no such page."""
    admin = make_account(runtime, "admin1", Role.ADMIN)
    nurse = make_account(runtime, "nurse", Role.PARTNER)
    analyst = make_account(runtime, "analyst1", Role.ANALYST)
    with runtime.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
        org = partners.create_org(db, actor, "Clinic", [PartnerService.MEDICAL])
        partners.add_member(db, actor, org.uuid, nurse.uuid)
    app = create_app(runtime.config, runtime, hasher=FAST_HASHER)
    app.testing = True
    client = app.test_client()
    assert login(client, nurse).status_code == 302
    page = _page(client)
    assert 'class="not-listed"' in page

    form = {
        "profession": "psychosocial",
        "regions": " Huye ,, Musanze ",
        "languages": "Kinyarwanda, Swahili",
        "availability": "Mornings",
    }
    # Without ticking the agreement: nothing recorded.
    post_form(client, "/professionals/listing", form, page="/professionals/")
    with runtime.session() as db:
        assert db.scalar(select(DirectoryListing.id)) is None
    post_form(client, "/professionals/listing", {**form, "agree": "y"}, page="/professionals/")
    page = _page(client)
    assert 'class="listed"' in page and "Huye, Musanze" in page
    with runtime.session() as db:
        mine = directory.my_listing(db, db.merge(_reviewer(runtime, nurse.uuid)))
        assert mine is not None
        assert mine.regions == ("Huye", "Musanze") and mine.languages == ("Kinyarwanda", "Swahili")
        assert mine.profession == "psychosocial" and mine.availability == "Mornings"
        first = mine.uuid
    # Changed: a new agreement replaces the first.
    post_form(
        client,
        "/professionals/listing",
        {**form, "availability": "Evenings", "agree": "y"},
        page="/professionals/",
    )
    with runtime.session() as db:
        _version, body = directory.publication(db)
    assert [(e["id"] != first, e["availability"], e["organisation"]) for e in body["entries"]] == [
        (True, "Evenings", "Clinic")
    ]
    post_form(client, "/professionals/listing/withdraw", page="/professionals/")
    assert 'class="not-listed"' in _page(client)
    with runtime.session() as db:
        _version, body = directory.publication(db)
        assert body["entries"] == []
        rows = list(db.scalars(select(DirectoryListing)))
        assert len(rows) == 2 and all(r.withdrawn_at and r.agreed_at for r in rows)
        actions = list(db.scalars(select(AuditEvent.action)))
    assert actions.count("directory_listing_agreed") == 2
    assert "directory_listing_withdrawn" in actions

    # An analyst sees the page but has no entry to give; a forced post is refused.
    other = app.test_client()
    assert login(other, analyst).status_code == 302
    assert "not-listed" not in _page(other)
    token = csrf_token(other, "/professionals/")
    response = other.post(
        "/professionals/listing", data={**form, "agree": "y", "csrf_token": token}
    )
    assert response.status_code == 403
    with runtime.session() as db:
        assert "directory_listing_denied" in set(db.scalars(select(AuditEvent.action)))
        assert len(list(db.scalars(select(DirectoryListing)))) == 2

    # The source interface has no directory.
    source = create_source_app(runtime.config, runtime).test_client()
    for path in ("/professionals/", "/professionals/listing"):
        assert source.get(path).status_code == 404
