"""Sources list, source page, download, reply, star, seen, deletion through the RQ worker,
and least privilege for partners."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from composition import jobs
from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import (
    SubmittedSource,
    make_source,
    post_form,
    source_row,
    submission_row,
)
from tests.support.leaks import assert_no_leak
from vault import codenames
from vault.models import AuditEvent, Reply, SeenSubmission, Source, Submission
from vault.services import deletion, reply_keys, sources


def _row(html: str, designation: str) -> str:
    """The inbox table row of one source."""
    match = re.search(
        r"<tr class=\"source[^\"]*\">(?:(?!</tr>).)*"
        + re.escape(designation)
        + r"(?:(?!</tr>).)*</tr>",
        html,
        re.S,
    )
    assert match, f"{designation} not listed"
    return match.group(0)


def _count(row: str, name: str) -> int:
    match = re.search(rf'<td class="n {name}">(\d+)</td>', row)
    assert match, name
    return int(match.group(1))


def _page(source: SubmittedSource) -> str:
    return f"/sources/{source.uuid}"


def _download(source: SubmittedSource, submission_uuid: str) -> str:
    return f"/sources/{source.uuid}/submissions/{submission_uuid}/download"


def _work(runtime: Runtime) -> None:
    jobs.worker(runtime, [deletion.queue(runtime.redis)]).work(burst=True)


def _audited(runtime: Runtime, action: str, object_uuid: str) -> bool:
    with runtime.session() as db:
        return (
            db.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.object_uuid == object_uuid)
            )
            or 0
        ) > 0


def test_inbox_lists_visible_sources_with_counts(
    analyst_client: FlaskClient, runtime: Runtime
) -> None:
    """A submitting source is listed with counts; pending and deleted ones are not."""
    listed = make_source(runtime)
    hidden = make_source(runtime)
    with runtime.session() as db:
        pending, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        pending_designation = pending.designation
        gone = db.scalar(select(Source).where(Source.uuid == hidden.uuid))
        assert gone is not None
        deletion.request_source_deletion(db, runtime.redis, gone)
    html = analyst_client.get("/").get_data(as_text=True)
    row = _row(html, listed.designation)
    assert listed.uuid in row
    assert (_count(row, "submissions"), _count(row, "replies"), _count(row, "unread-count")) == (
        2,
        0,
        2,
    )
    assert pending_designation not in html and hidden.designation not in html
    assert analyst_client.get(_page(hidden)).status_code == 404


def test_source_page_shows_files(analyst_client: FlaskClient, runtime: Runtime) -> None:
    """The source page lists submissions by file name, size and date; audited."""
    source = make_source(runtime)
    response = analyst_client.get(_page(source))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert source.designation in html
    assert source.message_filename in html and source.document_filename in html
    assert "UTC" in html and "Send reply" in html
    assert _audited(runtime, "source_viewed", source.uuid)


def test_download_returns_the_stored_ciphertext(
    analyst_client: FlaskClient, runtime: Runtime, workstation_keyring: GpgKeyring
) -> None:
    """Exactly the stored bytes, as an attachment; marked seen and downloaded, audited."""
    source = make_source(runtime, message="only for the air-gapped side")
    stored = runtime.store.path_of(source.uuid, source.message_filename).read_bytes()
    response = analyst_client.get(_download(source, source.message_uuid))
    assert response.status_code == 200
    assert response.data == stored
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and source.message_filename in disposition
    assert b"only for the air-gapped side" not in response.data
    opened = workstation_keyring.open_bytes(response.data, SUBMISSION_PASSPHRASE)
    assert opened == b"only for the air-gapped side"
    row = submission_row(runtime, source.message_uuid)
    assert row is not None and row.downloaded
    assert _audited(runtime, "submission_downloaded", source.message_uuid)
    row_html = _row(analyst_client.get("/").get_data(as_text=True), source.designation)
    assert _count(row_html, "unread-count") == 1


def test_download_of_another_sources_file_is_404(
    analyst_client: FlaskClient, runtime: Runtime
) -> None:
    """A submission is only reachable under its own source."""
    one, other = make_source(runtime), make_source(runtime)
    assert analyst_client.get(_download(one, other.message_uuid)).status_code == 404
    assert analyst_client.get(_download(one, "no-such-uuid")).status_code == 404


def test_reply_is_sealed_for_the_source(
    analyst_client: FlaskClient, runtime: Runtime, workstation_keyring: GpgKeyring
) -> None:
    """A reply becomes N-slug-reply.gpg that the source's key (and the submission key) opens."""
    source = make_source(runtime)
    marker = "we-read-you-and-can-help-7f3a"
    response = post_form(
        analyst_client, f"{_page(source)}/reply", {"message": marker}, page=_page(source)
    )
    assert response.status_code == 302
    with runtime.session() as db:
        [reply] = db.scalars(select(Reply)).all()
        slug = source.designation.replace(" ", "_")
        assert reply.filename == f"3-{slug}-reply.gpg"
        assert reply.reviewer_id is not None
    ciphertext = runtime.store.path_of(source.uuid, reply.filename).read_bytes()
    assert marker.encode() not in ciphertext
    # The source's key is in the database, borrowed for the opening (vault.services.reply_keys).
    with runtime.session() as db:
        row = db.scalars(select(Source).where(Source.uuid == source.uuid)).one()
        passphrase = source.reply_passphrase
        with reply_keys.opening(db, runtime.keyring, row, passphrase) as opener:
            assert opener.open_bytes(ciphertext, passphrase) == marker.encode()
    assert workstation_keyring.open_bytes(ciphertext, SUBMISSION_PASSPHRASE) == marker.encode()
    # The reply text is nowhere: not in Redis (sessions, flashes, queues), rows or files.
    assert_no_leak(
        marker, files=[runtime.config.instance_dir], engine=runtime.engine, redis=runtime.redis
    )
    # The author reads it back from the team copy, opened in memory with their key.
    page = analyst_client.get(_page(source)).get_data(as_text=True)
    assert reply.filename in page and marker in page
    row = _row(analyst_client.get("/").get_data(as_text=True), source.designation)
    assert _count(row, "replies") == 1
    assert _audited(runtime, "reply_sent", source.uuid)


def test_empty_reply_changes_nothing(analyst_client: FlaskClient, runtime: Runtime) -> None:
    """A blank reply is refused with a message; no file, no row."""
    source = make_source(runtime)
    response = post_form(
        analyst_client, f"{_page(source)}/reply", {"message": "   "}, page=_page(source)
    )
    assert response.status_code == 302
    page = analyst_client.get(_page(source)).get_data(as_text=True)
    assert "nothing was sent" in page
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Reply)) == 0
    assert not list(runtime.store.source_dir(source.uuid).glob("*reply*"))


def test_reply_without_csrf_is_refused(analyst_client: FlaskClient, runtime: Runtime) -> None:
    """No token, no reply."""
    source = make_source(runtime)
    response = analyst_client.post(f"{_page(source)}/reply", data={"message": "hello"})
    assert response.status_code == 400
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Reply)) == 0


def test_star_and_unstar(analyst_client: FlaskClient, runtime: Runtime) -> None:
    """Starring shows in the list and the row; unstarring undoes it."""
    source = make_source(runtime)
    assert post_form(analyst_client, f"{_page(source)}/star", page=_page(source)).status_code == 302
    row = source_row(runtime, source.uuid)
    assert row is not None and row.starred
    assert "★" in _row(analyst_client.get("/").get_data(as_text=True), source.designation)
    post_form(analyst_client, f"{_page(source)}/unstar", page=_page(source))
    row = source_row(runtime, source.uuid)
    assert row is not None and not row.starred
    assert _audited(runtime, "source_starred", source.uuid)
    assert _audited(runtime, "source_unstarred", source.uuid)


def test_mark_seen_one_then_all(
    analyst_client: FlaskClient, runtime: Runtime, analyst: object
) -> None:
    """Seen is per reviewer: unread counts drop as submissions are marked."""
    source = make_source(runtime)
    path = f"{_page(source)}/submissions/{source.document_uuid}/seen"
    assert post_form(analyst_client, path, page=_page(source)).status_code == 302
    row = _row(analyst_client.get("/").get_data(as_text=True), source.designation)
    assert _count(row, "unread-count") == 1
    post_form(analyst_client, f"{_page(source)}/seen", page=_page(source))
    row = _row(analyst_client.get("/").get_data(as_text=True), source.designation)
    assert _count(row, "unread-count") == 0
    post_form(analyst_client, f"{_page(source)}/seen", page=_page(source))  # idempotent
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(SeenSubmission)) == 2


def test_delete_submission_through_the_worker(
    analyst_client: FlaskClient, runtime: Runtime
) -> None:
    """Confirm page, POST, hidden at once; the job shreds the file and removes the row."""
    source = make_source(runtime)
    path = runtime.store.path_of(source.uuid, source.document_filename)
    confirm_url = f"{_page(source)}/submissions/{source.document_uuid}/delete"
    confirm = analyst_client.get(confirm_url)
    confirm_html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'method="post"' in confirm_html
    assert f"Delete {source.document_filename} from {source.designation}?" in confirm_html
    assert path.exists()  # a GET changes nothing
    assert analyst_client.post(confirm_url).status_code == 400  # no CSRF token
    assert post_form(analyst_client, confirm_url, page=confirm_url).status_code == 302
    assert source.document_filename not in analyst_client.get(_page(source)).get_data(as_text=True)
    _work(runtime)
    assert not path.exists()
    assert submission_row(runtime, source.document_uuid) is None
    assert submission_row(runtime, source.message_uuid) is not None
    assert runtime.store.path_of(source.uuid, source.message_filename).exists()
    assert _audited(runtime, "submission_deletion_requested", source.document_uuid)


def test_delete_source_through_the_worker(analyst_client: FlaskClient, runtime: Runtime) -> None:
    """The whole source: files, reply key and rows are gone after the job."""
    source = make_source(runtime)
    keep = make_source(runtime)
    post_form(analyst_client, f"{_page(source)}/reply", {"message": "hi"}, page=_page(source))
    with runtime.session() as db:
        row = db.scalar(select(Source).where(Source.uuid == source.uuid))
        assert row is not None
        fingerprint = row.reply_key_fingerprint
    confirm_url = f"{_page(source)}/delete"
    assert analyst_client.get(confirm_url).status_code == 200
    response = post_form(analyst_client, confirm_url, page=confirm_url)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert source.designation not in analyst_client.get("/").get_data(as_text=True)
    assert analyst_client.get(_page(source)).status_code == 404
    _work(runtime)
    assert source_row(runtime, source.uuid) is None
    assert not runtime.store.source_dir(source.uuid).exists()
    runtime.purge_retired_keys()  # the home's own process removes the retired key
    assert not runtime.keyring.has_public_key(fingerprint)
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Reply)) == 0
        remaining = db.scalars(select(Submission.uuid)).all()
    assert set(remaining) == {keep.message_uuid, keep.document_uuid}
    assert _audited(runtime, "source_deletion_requested", source.uuid)


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("GET", ""),
        ("GET", "/delete"),
        ("GET", "/submissions/{msg}/download"),
        ("POST", "/reply"),
        ("POST", "/star"),
        ("POST", "/seen"),
        ("POST", "/delete"),
        ("POST", "/submissions/{msg}/delete"),
    ],
)
def test_partner_is_refused_every_source_page(
    partner_client: FlaskClient, runtime: Runtime, method: str, suffix: str
) -> None:
    """Partners get 403 on anything about a source, and the source is untouched."""
    source = make_source(runtime)
    url = _page(source) + suffix.format(msg=source.message_uuid)
    if method == "GET":
        response = partner_client.get(url)
    else:
        response = post_form(partner_client, url, {"message": "x"})
    assert response.status_code == 403
    assert "You are not allowed to do this." in response.get_data(as_text=True)
    row = source_row(runtime, source.uuid)
    assert row is not None and row.deleted_at is None and not row.starred
    sub = submission_row(runtime, source.message_uuid)
    assert sub is not None and not sub.downloaded and sub.deleted_at is None
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Reply)) == 0
        assert db.scalar(select(func.count()).select_from(SeenSubmission)) == 0
    inbox = partner_client.get("/").get_data(as_text=True)
    assert source.designation not in inbox and source.uuid not in inbox


def test_inbox_counts_follow_seen_marks_replies_and_deletions(
    analyst_client: FlaskClient, runtime: Runtime
) -> None:
    """Each row's three counts (read in one query, from the live rows' indexes and the
    reader's unread rows) follow what happens: a download, a reply, a deletion, a
    "mark all seen"; the unread filter and the unread badge always agree."""
    source, other = make_source(runtime), make_source(runtime)

    def counts() -> tuple[int, int, int]:
        row = _row(analyst_client.get("/").get_data(as_text=True), source.designation)
        return _count(row, "submissions"), _count(row, "replies"), _count(row, "unread-count")

    def in_unread_filter() -> bool:
        return source.designation in analyst_client.get("/?unread=1").get_data(as_text=True)

    assert counts() == (2, 0, 2) and in_unread_filter()
    assert analyst_client.get(_download(source, source.message_uuid)).status_code == 200
    assert counts() == (2, 0, 1) and in_unread_filter()
    post_form(analyst_client, f"{_page(source)}/reply", {"message": "hi"}, page=_page(source))
    assert counts() == (2, 1, 1)
    with runtime.session() as db:
        document = db.scalars(
            select(Submission).where(Submission.uuid == source.document_uuid)
        ).one()
        deletion.request_submission_deletion(db, runtime.redis, document)
    assert counts() == (1, 1, 0) and not in_unread_filter()
    post_form(analyst_client, f"{_page(other)}/seen", page=_page(other))
    row = _row(analyst_client.get("/").get_data(as_text=True), other.designation)
    assert (_count(row, "submissions"), _count(row, "unread-count")) == (2, 0)
