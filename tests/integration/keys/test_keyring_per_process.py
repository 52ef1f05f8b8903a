"""One GnuPG home per process: the source interface holds the reply keys, the reviewer
interface the account keys, the worker none. Each app here runs on its own Runtime, as
each unit does in production, over one instance (database, store, Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select

import journalist_app
import source_app
from composition import jobs
from composition.runtime import Runtime, build_runtime
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import GeneratedKey, load_submission_key
from tests.integration.source_app.helpers import SourceBrowser
from tests.support.care import MARKER, URGENT, ask, logged_in, on_duty
from tests.support.journalist import FAST_HASHER, make_account, post_form
from vault import codenames
from vault.config import KEYRING_SIDES, SEALING_SIDES, Config
from vault.errors import SealError
from vault.migrate import upgrade
from vault.models import AccountKey, CareRequest, Reply, RetiredKey, Reviewer, Source
from vault.services import deletion, notes, sources


@dataclass
class Instance:
    source: Runtime
    journalist: Runtime
    worker: Runtime
    source_app: Flask
    journalist_app: Flask

    def homes(self) -> dict[str, GpgKeyring]:
        return {rt.side: rt.keyring for rt in (self.source, self.journalist, self.worker)}


@pytest.fixture
def instance(
    config: Config, redis: Redis, submission_key: tuple[GeneratedKey, Path]
) -> Iterator[Instance]:
    upgrade(config.database_url)
    made = {side: build_runtime(config, redis=redis, side=side) for side in KEYRING_SIDES}
    for side in SEALING_SIDES:
        load_submission_key(
            config.instance_dir, made[side].keyring, submission_key[0].public_armored
        )
    made["source"].purge_interval = 0.0  # each request of the source app looks
    source = source_app.create_app(config, made["source"])
    reviewer = journalist_app.create_app(config, made["journalist"], hasher=FAST_HASHER)
    source.testing = reviewer.testing = True
    yield Instance(made["source"], made["journalist"], made["worker"], source, reviewer)
    for rt in made.values():
        rt.engine.dispose()
        kill_agent(rt.keyring.home)


def _secret_holders(instance: Instance, fingerprint: str) -> set[str]:
    return {side for side, ring in instance.homes().items() if ring.has_secret_key(fingerprint)}


def _public_holders(instance: Instance, fingerprint: str) -> set[str]:
    return {side for side, ring in instance.homes().items() if ring.has_public_key(fingerprint)}


def test_each_process_has_its_own_home(instance: Instance, config: Config) -> None:
    homes = {side: ring.home for side, ring in instance.homes().items()}
    assert homes == {side: config.gnupg_root / side for side in KEYRING_SIDES}
    for home in homes.values():
        assert home.stat().st_mode & 0o777 == 0o700
    fingerprint = instance.source.submission_fingerprint
    assert _public_holders(instance, fingerprint) == {"source", "journalist"}


def test_submission_reply_care_and_deletion_across_homes(instance: Instance) -> None:
    """A source sends an alert and asks for care; a reviewer reads the care request and
    replies; the source reads the reply; the source is deleted: the account key's secret
    half stayed in its owner's home, the reply key's is in no home at all (the database
    keeps it, vault.services.reply_keys), and every copy of the reply key leaves every
    home."""
    account = make_account(instance.journalist, "duty1")
    reviewer = logged_in(instance.journalist_app, account)  # makes the account key
    on_duty(instance.journalist, account)
    with instance.journalist.session() as db:
        reviewer_id = db.scalars(select(Reviewer.id).where(Reviewer.uuid == account.uuid)).one()
        account_key = db.get_one(AccountKey, reviewer_id)
        account_fpr, account_public = account_key.fingerprint, account_key.public_key
    assert account_public is not None and "PUBLIC KEY BLOCK" in account_public
    assert _secret_holders(instance, account_fpr) == {"journalist"}
    assert _public_holders(instance, account_fpr) == {"journalist"}

    browser = SourceBrowser(instance.source_app.test_client())
    browser.create()
    assert browser.submit("the alert").status_code == 302
    ask(browser, URGENT)  # sealed by the source process to the on-duty account key
    with instance.source.session() as db:
        source = db.scalars(select(Source)).one()
        source_uuid, reply_fpr = source.uuid, source.reply_key_fingerprint
        assert db.scalar(select(func.count()).select_from(CareRequest)) == 1
        assert source.reply_secret_key is not None
    assert _secret_holders(instance, reply_fpr) == set()
    assert _public_holders(instance, reply_fpr) == {"source"}
    # The source process imported the account's public half from the database.
    assert _public_holders(instance, account_fpr) == {"source", "journalist"}
    assert _secret_holders(instance, account_fpr) == {"journalist"}
    assert MARKER in reviewer.get("/care/").text  # opened with the reviewer's key

    page = f"/sources/{source_uuid}"
    sent = post_form(reviewer, f"{page}/reply", {"message": "we read you"}, page=page)
    assert sent.status_code == 302, sent.text
    # The reviewer process sealed to the reply key's public half, from the database.
    assert _public_holders(instance, reply_fpr) == {"source", "journalist"}
    assert "we read you" in browser.client.get("/lookup").text
    assert _secret_holders(instance, reply_fpr) == set()  # borrowed for the page only

    deleted = post_form(reviewer, f"{page}/delete", page=f"{page}/delete")
    assert deleted.status_code == 302, deleted.text
    jobs.worker(instance.worker, [deletion.queue(instance.worker.redis)]).work(burst=True)
    with instance.worker.session() as db:
        assert db.scalar(select(func.count()).select_from(Source)) == 0
        assert db.scalar(select(func.count()).select_from(Reply)) == 0
        retired = set(db.execute(select(RetiredKey.fingerprint, RetiredKey.side)))
    assert retired == {(reply_fpr, "source"), (reply_fpr, "journalist")}
    # Each owner removes its copy: at a request (every one here) ...
    assert browser.client.get("/").status_code in (200, 302)
    assert _public_holders(instance, reply_fpr) == {"journalist"}
    # ... or when asked to.
    assert instance.journalist.purge_retired_keys() == 1
    assert _public_holders(instance, reply_fpr) == set()
    # The rows stay for the homes of other servers on the same database, until the
    # sweep forgets them (vault.services.key_retirement.RETAIN).
    assert instance.journalist.purge_retired_keys() == 0
    with instance.worker.session() as db:
        assert db.scalar(select(func.count()).select_from(RetiredKey)) == 2


def test_a_replaced_account_key_leaves_the_source_home(instance: Instance) -> None:
    account = make_account(instance.journalist, "duty1")
    with instance.journalist.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        notes.create_account_key(db, instance.journalist.keyring, reviewer, "one", actor=None)
        old = db.get_one(AccountKey, reviewer.id).fingerprint
    instance.source.keyring.seal_bytes(b"probe", [old])  # imports the public half
    assert _public_holders(instance, old) == {"source", "journalist"}
    with instance.journalist.session() as db:
        reviewer = db.get_one(Reviewer, reviewer.id)
        notes.create_account_key(db, instance.journalist.keyring, reviewer, "two", actor=None)
    assert _public_holders(instance, old) == {"source"}
    assert instance.source.purge_retired_keys() == 1
    assert _public_holders(instance, old) == set()


def test_a_key_the_database_does_not_know_is_not_imported(instance: Instance) -> None:
    """Only the public half the database names under that very fingerprint is taken."""
    with instance.source.session() as db:
        codename = codenames.generate_codename()
        source, _ = sources.create_source(
            db, instance.source.keyring, instance.source.config, codename
        )
        fingerprint, public = source.reply_key_fingerprint, source.reply_public_key
        other = instance.source.keyring.generate_reply_key("other", "p" * 64)
        # A row that names one key and holds another's public half.
        source.reply_public_key = instance.source.keyring.export_public(other)
    with pytest.raises(SealError):
        instance.journalist.keyring.seal_bytes(b"x", [fingerprint])
    assert _public_holders(instance, fingerprint) == {"source"}
    assert public is not None
