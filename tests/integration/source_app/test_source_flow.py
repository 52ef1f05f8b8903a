"""The whole source journey through the web interface, CSRF on, real gpg/Redis/DB."""

from __future__ import annotations

import os
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.source_app.helpers import (
    SourceBrowser,
    gunzip,
    gzip_name,
    session_keys,
    stored_files,
    submission_count,
)
from vault.models import Reply, Source, Submission, SubmissionKind
from vault.services import replies


def _send_reply(runtime: Runtime, text: str) -> str:
    with runtime.session() as db:
        source = db.scalars(select(Source)).one()
        reply = replies.send_reply(
            db, runtime.store, runtime.keyring, source, None, text, runtime.submission_fingerprint
        )
        return reply.uuid


class TestJourney:
    """A new source sends an alert, reads a reply, deletes it, logs out and comes back."""

    def test_new_source_sends_reads_reply_and_returns(
        self, browser: SourceBrowser, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        landing = browser.client.get("/")
        assert landing.status_code == 200
        assert 'href="/generate"' in landing.text
        assert 'href="/login"' in landing.text

        codename = browser.create()
        assert len(codename.split()) == runtime.config.codename_words
        lookup = browser.client.get("/lookup")
        assert "You can now send us a message or files." in lookup.text
        assert "No replies yet." in lookup.text

        report = "Soldiers came to the village at night.\nThree women were taken. Émilie saw it."
        photo = os.urandom(200_000)  # past the 64 KiB sniff window: streamed through gzip
        notes = b"voice note transcript, in Kirundi" * 50
        testimony = "Ubuhamya bw'umutangabuhamya — شهادة".encode() * 20
        response = browser.submit(
            report,
            [(photo, "photo.jpg"), (notes, "témoin notes.txt"), (testimony, "ubuhamya شهادة.txt")],
        )
        assert response.status_code == 302
        assert response.headers["Location"] == "/lookup"
        assert "Thank you." in browser.client.get("/lookup").text

        with runtime.session() as db:
            source = db.scalars(select(Source)).one()
            rows = db.scalars(select(Submission).order_by(Submission.id)).all()
            assert [row.kind for row in rows] == [
                SubmissionKind.MESSAGE,
                SubmissionKind.FILE,
                SubmissionKind.FILE,
                SubmissionKind.FILE,
            ]
            assert source.pending is False
            paths = [runtime.store.path_of(source.uuid, row.filename) for row in rows]
        # Only sealed files remain: no partial, nothing left in incoming/; and beside the
        # first, the source's own copy of its consent (vault.services.source_consent).
        consent_copy = paths[0].with_name(paths[0].name.replace("-msg.gpg", "-consent.gpg"))
        assert stored_files(runtime) == sorted([*paths, consent_copy])

        ciphertexts = [path.read_bytes() for path in paths]
        for ciphertext in ciphertexts:
            assert report.encode() not in ciphertext
            assert photo[:4096] not in ciphertext
            assert b"Kirundi" not in ciphertext
        opened = [workstation_keyring.open_bytes(c, SUBMISSION_PASSPHRASE) for c in ciphertexts]
        assert opened[0].decode() == report
        assert gzip_name(opened[1]) == "photo.jpg"
        assert gunzip(opened[1]) == photo
        # File names survive whatever the script (the gzip header carries UTF-8).
        assert gzip_name(opened[2]) == "témoin notes.txt"
        assert gunzip(opened[2]) == notes
        assert gzip_name(opened[3]) == "ubuhamya شهادة.txt"
        assert gunzip(opened[3]) == testimony

        reply_text = "We received your alert. A counsellor who speaks Kirundi can call you."
        reply_uuid = _send_reply(runtime, reply_text)
        page = browser.client.get("/lookup")
        assert reply_text in page.text
        assert "No replies yet." not in page.text

        deleted = browser.client.post(
            "/reply/delete", data={"csrf_token": browser.token(), "reply": reply_uuid}
        )
        assert deleted.status_code == 302
        page = browser.client.get("/lookup")
        assert "The reply was deleted." in page.text
        assert reply_text not in page.text
        with runtime.session() as db:
            reply = db.scalars(select(Reply)).one()
            assert reply.deleted_by_source is True  # reviewers keep their copy

        assert len(session_keys(runtime)) == 1
        logged_out = browser.logout()
        assert logged_out.status_code == 200
        assert "You are logged out" in logged_out.text
        assert session_keys(runtime) == []
        assert browser.cookie() is None
        assert browser.client.get("/lookup").headers["Location"] == "/login"

        # Coming back: case and extra spaces are forgiven.
        back = browser.login("  " + codename.upper().replace(" ", "   ") + " ")
        assert back.status_code == 302
        assert back.headers["Location"] == "/lookup"
        assert browser.client.get("/lookup").status_code == 200

    def test_replies_of_other_sources_cannot_be_deleted(
        self, browser: SourceBrowser, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        """A reply id from another source is a 404, and the reply stays."""
        browser.start()
        reply_uuid = _send_reply(runtime, "for the first source only")
        newcomer = SourceBrowser(make_app().test_client())  # not recorded yet
        newcomer.create()
        other = SourceBrowser(make_app().test_client())  # recorded
        other.start("my own message")
        for visitor in (newcomer, other):
            response = visitor.client.post(
                "/reply/delete", data={"csrf_token": visitor.token(), "reply": reply_uuid}
            )
            assert response.status_code == 404
            assert "Page not found" in response.text
        with runtime.session() as db:
            assert db.scalars(select(Reply)).one().deleted_by_source is False
        assert "for the first source only" in browser.client.get("/lookup").text


class TestSubmissionShapes:
    """What a browser actually sends: file-only, message-only, empty file inputs."""

    def test_files_only_and_empty_inputs_skipped(
        self, logged_in: SourceBrowser, runtime: Runtime
    ) -> None:
        response = logged_in.submit("", [(b"", ""), (b"%PDF-1.4 statement", "statement.pdf")])
        assert response.status_code == 302
        with runtime.session() as db:
            rows = db.scalars(select(Submission)).all()
        assert [row.kind for row in rows] == [SubmissionKind.FILE]
        assert [p.name.split("-")[-1] for p in stored_files(runtime)] == [
            "consent.gpg",
            "doc.gz.gpg",
        ]

    def test_message_with_no_file_chosen(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        """A browser sends an empty file part when nothing is chosen: only the message is kept."""
        response = logged_in.submit("just words", [(b"", "")])
        assert response.status_code == 302
        assert submission_count(runtime) == 1
        assert [p.name.split("-")[-1] for p in stored_files(runtime)] == ["consent.gpg", "msg.gpg"]

    def test_named_empty_file_is_kept(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        """A chosen file that happens to be empty is still what the source sent."""
        assert logged_in.submit("", [(b"", "empty.txt")]).status_code == 302
        assert submission_count(runtime) == 1


class TestCodenameCreation:
    """The codename is shown once and only the POST creates the source."""

    def test_each_visit_shows_a_new_codename(
        self, browser: SourceBrowser, runtime: Runtime
    ) -> None:
        first, _ = browser.generate()
        second, token = browser.generate()
        assert first != second
        assert browser.client.post("/create", data={"csrf_token": token}).status_code == 302
        assert browser.submit("hello").status_code == 302
        # The last codename shown is the one that works.
        browser.logout()
        assert browser.login(first).status_code == 403
        assert browser.login(second).status_code == 302

    def test_create_without_a_shown_codename(
        self, browser: SourceBrowser, runtime: Runtime
    ) -> None:
        token = browser.token("/login")
        response = browser.client.post("/create", data={"csrf_token": token})
        assert response.status_code == 302
        assert response.headers["Location"] == "/generate"
        with runtime.session() as db:
            assert db.scalars(select(Source)).all() == []

    def test_create_twice_makes_one_source(self, browser: SourceBrowser, runtime: Runtime) -> None:
        _, token = browser.generate()
        assert browser.client.post("/create", data={"csrf_token": token}).headers["Location"] == (
            "/lookup"
        )
        # Replaying the form (Back + resend) cannot create a second source: login
        # regenerated the session, so the old page's token is void.
        again = browser.client.post("/create", data={"csrf_token": token})
        assert again.status_code == 400
        assert "This page has expired" in again.text
        assert browser.submit("hello").status_code == 302
        with runtime.session() as db:
            assert len(db.scalars(select(Source)).all()) == 1

    def test_logged_in_visitors_go_to_their_page(self, logged_in: SourceBrowser) -> None:
        for path in ("/", "/generate", "/login"):
            response = logged_in.client.get(path)
            assert response.status_code == 302
            assert response.headers["Location"] == "/lookup"


def test_deleted_source_is_logged_out(recorded: SourceBrowser, runtime: Runtime) -> None:
    """Once the team deletes a source, their open session shows nothing more."""
    with runtime.session() as db:
        source = db.scalars(select(Source)).one()
        source.deleted_at = source.created_at
        db.commit()
    response = recorded.client.get("/lookup")
    assert response.headers["Location"] == "/login"
    assert session_keys(runtime) == []


def test_unreadable_reply_does_not_break_the_page(
    recorded: SourceBrowser, runtime: Runtime
) -> None:
    """A reply that cannot be decrypted is flagged; the rest of the page still works."""
    _send_reply(runtime, "first")
    with runtime.session() as db:
        source = db.scalars(select(Source)).one()
        reply = db.scalars(select(Reply)).one()
        path = runtime.store.path_of(source.uuid, reply.filename)
    path.write_bytes(b"not openpgp")
    page = recorded.client.get("/lookup")
    assert page.status_code == 200
    assert "This reply could not be opened." in page.text
    assert 'action="/submit"' in page.text  # the submit form is still there
