"""The real, unmodified `securedrop-sdk` (module `sdclientapi`, from PyPI) against a live
BackUp reviewer server: every call a SecureDrop client makes, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import gnupg
import pytest
import requests
import sdclientapi
from sdclientapi import API, AuthError, ReplyError, WrongUUIDError
from sqlalchemy import func, select

from composition.runtime import Runtime
from tests.integration.api.conftest import Server, run_jobs
from tests.support.journalist import (
    Account,
    make_account,
    make_source,
    source_row,
    submission_row,
)
from tests.support.leaks import assert_no_leak
from vault.models import AuditEvent, CustodyReceipt, Reply, Role, Source, Submission
from vault.services import reply_keys, sources


def _login(server: Server, account: Account, offset: int = 0) -> API:
    api = API(server.url, account.username, account.passphrase, account.code(offset))
    assert api.authenticate() is True
    return api


def _encrypt(gpg: gnupg.GPG, text: str, *armored_keys: str) -> str:
    fingerprints: list[str] = []
    for armored in armored_keys:
        fingerprints += gpg.import_keys(armored).fingerprints
    result = gpg.encrypt(text, fingerprints, always_trust=True, armor=True)
    assert result.ok, result.status
    return str(result)


def test_sdk_reads_every_source_and_downloads_every_submission(
    runtime: Runtime, server: Server, analyst: Account, tmp_path: Path
) -> None:
    first, second = make_source(runtime, "first"), make_source(runtime, "second")
    api = _login(server, analyst)
    assert api.token_journalist_uuid == analyst.uuid
    assert api.token_expiration is not None

    listed = {s.uuid: s for s in api.get_sources()}
    assert set(listed) == {first.uuid, second.uuid}
    for made in (first, second):
        src = listed[made.uuid]
        row = source_row(runtime, made.uuid)
        assert row is not None
        assert src.journalist_designation == made.designation
        assert (src.number_of_documents, src.number_of_messages) == (1, 1)
        assert src.key["type"] == "PGP"
        assert src.key["fingerprint"] == row.reply_key_fingerprint
        assert "BEGIN PGP PUBLIC KEY BLOCK" in src.key["public"]
        assert src.is_starred is False and src.is_flagged is False
        assert src.url == f"/api/v1/sources/{made.uuid}"
        assert api.get_source_from_string(made.uuid).uuid == made.uuid

    all_submissions = api.get_all_submissions()
    assert len(all_submissions) == 4
    for sub in all_submissions:
        etag, path = api.download_submission(sub, str(tmp_path))
        body = Path(path).read_bytes()
        assert etag == "sha256:" + hashlib.sha256(body).hexdigest()
        row = submission_row(runtime, sub.uuid)
        assert row is not None and etag == f"sha256:{row.sha256}" and row.size == len(body)
    # Downloads mark the submissions read, by this reviewer.
    for sub in api.get_submissions(listed[first.uuid]):
        assert sub.is_read is True and sub.seen_by == [analyst.uuid]
        assert api.get_submission(sub).uuid == sub.uuid
    # Every API call left an audit event naming this reviewer (downloads among them).
    with runtime.session() as db:
        downloads = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "submission_downloaded")
        )
    assert downloads == 4


def test_download_supports_ranges_and_reports_the_whole_file_hash(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    made = make_source(runtime)
    api = _login(server, analyst)
    url = server.api(f"sources/{made.uuid}/submissions/{made.document_uuid}/download")
    whole = requests.get(url, headers=api.req_headers, timeout=20)
    assert whole.status_code == 200
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Type"] == "application/pgp-encrypted"
    part = requests.get(url, headers={**api.req_headers, "Range": "bytes=100-599"}, timeout=20)
    assert part.status_code == 206
    assert part.content == whole.content[100:600]
    assert part.headers["Content-Range"] == f"bytes 100-599/{len(whole.content)}"
    assert part.headers["Etag"] == "sha256:" + hashlib.sha256(whole.content).hexdigest()
    bad = requests.get(url, headers={**api.req_headers, "Range": "bytes=99999999-"}, timeout=20)
    assert bad.status_code == 416
    assert bad.json()["error"] == "Requested Range Not Satisfiable"


def test_sdk_replies_stars_seen_deletes_and_logs_out(
    runtime: Runtime,
    server: Server,
    analyst: Account,
    client_gpg: gnupg.GPG,
    submission_key: tuple[object, Path],
    tmp_path: Path,
) -> None:
    made, other = make_source(runtime, "hello"), make_source(runtime, "other")
    api = _login(server, analyst)
    source = api.get_source_from_string(made.uuid)

    # A reply encrypted on the client to the source's key and the submission key.
    submission_public = runtime.keyring.export_public(runtime.submission_fingerprint)
    armored = _encrypt(client_gpg, "we can help you", source.key["public"], submission_public)
    stored = api.reply_source(source, armored)
    assert stored.uuid and stored.filename.endswith("-reply.gpg")
    [reply] = api.get_replies_from_source(source)
    assert reply.uuid == stored.uuid and reply.journalist_uuid == analyst.uuid
    assert reply.journalist_username == analyst.username and reply.seen_by == [analyst.uuid]
    # Another reviewer marks it seen: recorded, once, after its author.
    colleague = make_account(runtime, "analyst2", Role.ANALYST)
    other_api = _login(server, colleague)
    for _ in range(2):
        assert "resources marked seen" in other_api.seen([], [], [reply.uuid])
    [seen_twice] = other_api.get_replies_from_source(source)
    assert seen_twice.seen_by == [analyst.uuid, colleague.uuid]
    assert api.get_reply_from_source(source, reply.uuid).filename == stored.filename
    assert [r.uuid for r in api.get_all_replies()] == [reply.uuid]
    etag, path = api.download_reply(reply, str(tmp_path))
    assert Path(path).read_text() == armored
    assert etag == "sha256:" + hashlib.sha256(armored.encode()).hexdigest()
    # The source reads it with their codename-derived passphrase.
    with runtime.session() as db:
        src_row = db.scalar(select(Source).where(Source.uuid == made.uuid))
        reply_row = db.scalar(select(Reply).where(Reply.uuid == reply.uuid))
        assert src_row is not None and reply_row is not None
        # Its custody receipt names both keys it was sealed to.
        [receipt] = db.scalars(
            select(CustodyReceipt).where(CustodyReceipt.object_uuid == reply.uuid)
        ).all()
        body = json.loads(receipt.body)
        assert sorted(body["sealed_to"]) == sorted(
            [src_row.reply_key_fingerprint, runtime.submission_fingerprint]
        )
        with reply_keys.opening(db, runtime.keyring, src_row, made.reply_passphrase) as opener:
            text = sources.read_reply(
                runtime.store, opener, src_row, reply_row, made.reply_passphrase
            )
    assert text == "we can help you"

    # A client-chosen uuid is kept; reusing it is a conflict.
    chosen = "0b5ad0a5-8d8e-4f5b-9f43-5b6d2a7b1c11"
    assert api.reply_source(source, armored, reply_uuid=chosen).uuid == chosen
    again = requests.post(
        server.api(f"sources/{made.uuid}/replies"),
        json={"reply": armored, "uuid": chosen},
        headers=api.req_headers,
        timeout=20,
    )
    assert again.status_code == 409
    assert again.json() == {"error": "Conflict", "message": "That UUID is already in use."}

    # Plaintext, or a message the workstation could not read, is refused.
    with pytest.raises(ReplyError):
        api.reply_source(source, "plaintext never stored")
    only_source = _encrypt(client_gpg, "secret", source.key["public"])
    refused = requests.post(
        server.api(f"sources/{made.uuid}/replies"),
        json={"reply": only_source},
        headers=api.req_headers,
        timeout=20,
    )
    assert refused.status_code == 400
    assert refused.json()["message"] == "You must encrypt replies client side"
    assert len(api.get_replies_from_source(source)) == 2

    # Star, unstar, flag.
    assert api.add_star(source) is True
    assert api.get_source(source).is_starred is True
    assert api.remove_star(source) is True
    assert api.get_source(source).is_starred is False
    assert api.flag_source(source) is True

    # Seen, by kind; a wrong kind or an unknown uuid is a 404 naming it.
    assert "resources marked seen" in api.seen([made.document_uuid], [made.message_uuid], [])
    for sub in api.get_submissions(source):
        assert sub.is_read is True and analyst.uuid in sub.seen_by
    with pytest.raises(WrongUUIDError):
        api.seen([made.message_uuid], [], [])

    # Accounts.
    me = api.get_current_user()
    assert me["uuid"] == analyst.uuid and me["username"] == analyst.username
    assert me["is_admin"] is False and me["last_login"]
    assert {u.uuid for u in api.get_users()} == {analyst.uuid, colleague.uuid}

    # Deletes: hidden at once, shredded by the job.
    message_path = runtime.store.path_of(made.uuid, made.message_filename)
    [msg] = [s for s in api.get_submissions(source) if s.uuid == made.message_uuid]
    assert api.delete_submission(msg) is True
    with pytest.raises(WrongUUIDError):
        api.get_submission(msg)
    [first_reply, _] = api.get_replies_from_source(source)
    assert api.delete_reply(first_reply) is True
    run_jobs(runtime)
    assert not message_path.exists()
    assert submission_row(runtime, made.message_uuid) is None
    assert [r.uuid for r in api.get_replies_from_source(source)] == [chosen]

    assert api.delete_conversation(made.uuid) is True
    run_jobs(runtime)
    with runtime.session() as db:
        left = db.scalar(
            select(func.count())
            .select_from(Submission)
            .join(Source)
            .where(Source.uuid == made.uuid)
        )
    assert left == 0
    assert api.get_source(source).number_of_documents == 0  # the source itself remains

    other_fpr = _fpr(runtime, other.uuid)
    assert api.delete_source_from_string(other.uuid) is True
    with pytest.raises(WrongUUIDError):
        api.get_source_from_string(other.uuid)
    run_jobs(runtime)
    assert source_row(runtime, other.uuid) is None
    runtime.purge_retired_keys()  # the home's own process removes the retired key
    assert not runtime.keyring.has_public_key(other_fpr)

    # Logout revokes the token at once.
    assert api.logout() is True
    with pytest.raises(AuthError):
        api.get_sources()


def _fpr(runtime: Runtime, source_uuid: str) -> str:
    row = source_row(runtime, source_uuid)
    assert row is not None
    return row.reply_key_fingerprint


def test_no_reply_text_or_passphrase_reaches_the_server_side(
    runtime: Runtime, server: Server, analyst: Account, client_gpg: gnupg.GPG
) -> None:
    """The reply's text never leaves the client; a passphrase typed in the wrong field is
    neither stored, logged nor echoed: not in files, rows, Redis or logs."""
    marker = "ZEBRA-PLAINTEXT-7f3c reply"
    made = make_source(runtime)
    confused = API(server.url, analyst.passphrase, analyst.username, "123456")
    with pytest.raises(AuthError):
        confused.authenticate()
    api = _login(server, analyst)
    source = api.get_source_from_string(made.uuid)
    submission_public = runtime.keyring.export_public(runtime.submission_fingerprint)
    api.reply_source(source, _encrypt(client_gpg, marker, source.key["public"], submission_public))
    with pytest.raises(ReplyError):
        api.reply_source(source, marker)  # plaintext by mistake: refused, kept nowhere
    assert api.logout() is True
    assert_no_leak(
        (marker, analyst.passphrase),
        files=[runtime.config.instance_dir, server.log_dir, server.tmp],
        engine=runtime.engine,
        redis=runtime.redis,
    )
    # The app's own log was written while it served, and searched: it logged the gpg runs
    # that checked the reply's recipients. The source's key came from the database: no
    # gpg export ran for it (vault.services.inbox.public_keys).
    log = server.app_log()
    assert "gnupg DEBUG" in log and "--list-keys" in log
    assert "--export" not in log


def test_sdk_version_is_the_pinned_one() -> None:
    from importlib.metadata import version

    assert version("securedrop-sdk") == "0.4.0"
    assert sdclientapi.API is API
