"""The disk reserve, on a real small filesystem (a tmpfs mounted on the store): uploads,
messages, reports and reviewer replies are refused with a clear page before the disk is
full, an upload that crosses the reserve while streaming is stopped and its partial
ciphertext removed, nothing is recorded, nothing accepted before is lost, and the
service takes new submissions again as soon as room is back."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select

import journalist_app
import source_app
from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.integration.source_app.helpers import SourceBrowser
from tests.support.filesystems import MIB, fill_to, runtime_on_small_store
from tests.support.journalist import FAST_HASHER, login, make_account, post_form
from tests.support.sealing import encrypt_to
from vault.config import Config
from vault.models import Reply, Submission

STORE_MIB = 40
RESERVE_MIB = 8
FULL_PAGE = "Sending is paused"


@pytest.fixture
def guarded(
    config: Config, redis: Redis, submission_key: tuple[GeneratedKey, Path]
) -> Iterator[Runtime]:
    """The store on a 40 MiB tmpfs with an 8 MiB reserve: 32 MiB of room."""
    with runtime_on_small_store(
        config,
        redis,
        submission_key[0].public_armored,
        store_mib=STORE_MIB,
        reserve_mib=RESERVE_MIB,
    ) as runtime:
        yield runtime


@pytest.fixture
def source(guarded: Runtime) -> SourceBrowser:
    browser = SourceBrowser(source_app.create_app(guarded.config, guarded).test_client())
    browser.create()
    return browser


def _store_files(runtime: Runtime) -> list[Path]:
    return sorted(
        p for p in runtime.store.root.rglob("*") if p.is_file() and p.name != "ballast.bin"
    )


def _rows(runtime: Runtime) -> int:
    with runtime.session() as db:
        return int(db.scalar(select(func.count()).select_from(Submission)) or 0)


class _Body(io.BytesIO):
    """A request body that runs `hook` once the server has read `at` bytes of it (what a
    concurrent writer does to the disk during a slow upload), and remembers how far the
    server read."""

    def __init__(self, data: bytes, at: int | None, hook: Callable[[], None]) -> None:
        super().__init__(data)
        self.at, self.hook, self.furthest = at, hook, 0

    def _advanced(self) -> None:
        self.furthest = max(self.furthest, self.tell())
        if self.at is not None and self.tell() >= self.at:
            self.at = None
            self.hook()

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._advanced()
        return chunk

    def readinto(self, buffer: Any) -> int:  # what Werkzeug's stream reader calls
        count = super().readinto(buffer)
        self._advanced()
        return count


def _multipart(token: str, message: str, files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "guard-" + os.urandom(8).hex()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="msg"\r\n\r\n{message}\r\n',
    ]
    body = "".join(parts).encode()
    for name, content in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="fh"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        body += head.encode() + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _post(
    client: FlaskClient, path: str, body: bytes, content_type: str, body_stream: _Body
) -> tuple[int, str]:
    response = client.post(
        path, input_stream=body_stream, content_type=content_type, content_length=len(body)
    )
    return response.status_code, response.get_data(as_text=True)


class TestUploads:
    def test_an_upload_that_would_not_fit_is_refused_before_it_is_read(
        self, guarded: Runtime, source: SourceBrowser
    ) -> None:
        body, kind = _multipart(source.token(), "", [("video.mp4", os.urandom(36 * MIB))])
        stream = _Body(body, None, lambda: None)
        status, page = _post(source.client, "/submit", body, kind, stream)
        assert status == 507 and FULL_PAGE in page
        assert "what you sent before is safe" in page
        assert stream.furthest < MIB  # refused from its announced length: not read
        assert _store_files(guarded) == [] and _rows(guarded) == 0

    def test_an_upload_crossing_the_reserve_while_streaming_is_stopped(
        self, guarded: Runtime, source: SourceBrowser
    ) -> None:
        earlier = source.submit("sent before the disk filled", [(os.urandom(MIB), "a.bin")])
        assert earlier.status_code == 302
        kept = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in _store_files(guarded)}
        # The message, the file, and the source's copy of its consent (one per source).
        assert len(kept) == 3 and _rows(guarded) == 2

        # 16 MiB announced, which fits; after 4 MiB, other writers take all but 2 MiB.
        body, kind = _multipart(source.token(), "", [("clip.mp4", os.urandom(16 * MIB))])

        def others_write() -> None:
            fill_to(guarded, 2 * MIB)

        stream = _Body(body, 4 * MIB, others_write)
        status, page = _post(source.client, "/submit", body, kind, stream)
        assert status == 507 and FULL_PAGE in page
        assert stream.at is None  # the other writers did come in mid-upload
        assert 4 * MIB <= stream.furthest < 12 * MIB  # stopped soon after, not at the end
        # Its partial ciphertext is gone; what was accepted before is untouched.
        assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in _store_files(guarded)} == (
            kept
        )
        assert _rows(guarded) == 2
        assert not list(guarded.store.root.rglob(".partial-*"))
        # The database still had its room: the reserve was never touched.
        assert guarded.store.guard is not None
        assert guarded.store.guard.headroom() > -RESERVE_MIB * MIB

    def test_a_message_and_a_report_are_refused_then_accepted_once_room_is_back(
        self, guarded: Runtime, source: SourceBrowser
    ) -> None:
        weight = fill_to(guarded, -MIB)  # 1 MiB into the reserve
        words = "the camp near the river"
        refused = source.submit(words)
        assert refused.status_code == 507
        assert FULL_PAGE not in refused.text  # the form itself, with its explanation
        assert "running out of space" in refused.text
        assert words in refused.text  # the message is kept: nothing to retype
        report = source.client.post(
            "/report",
            data={"csrf_token": source.token("/report"), "account": words},
            content_type="multipart/form-data",
        )
        assert report.status_code == 507 and words in report.text
        assert _rows(guarded) == 0 and _store_files(guarded) == []

        weight.unlink()  # room is back: nothing to restart
        assert source.submit(words).status_code == 302
        assert _rows(guarded) == 1

    def test_the_refusal_is_logged_for_the_admins(
        self, guarded: Runtime, source: SourceBrowser, caplog: pytest.LogCaptureFixture
    ) -> None:
        fill_to(guarded, -MIB)
        assert source.submit("the camp near the river").status_code == 507
        assert "refused: the disk space reserve is reached" in caplog.text
        assert "camp" not in caplog.text

    def test_the_reserve_is_translated(self, guarded: Runtime, source: SourceBrowser) -> None:
        source.client.get("/language/fr?next=/lookup")
        fill_to(guarded, -MIB)
        refused = source.submit("bonjour")
        assert refused.status_code == 507
        assert "Notre serveur manque de place" in refused.text


class TestReviewerReplies:
    def test_html_and_api_replies_are_refused_clearly(
        self, guarded: Runtime, source: SourceBrowser
    ) -> None:
        assert source.submit("hello").status_code == 302
        with guarded.session() as db:
            row = db.scalars(select(Submission)).one()
            source_uuid, source_fpr = row.source.uuid, row.source.reply_key_fingerprint
        account = make_account(guarded, "analyst1")
        app = journalist_app.create_app(guarded.config, guarded, hasher=FAST_HASHER)
        reviewer = app.test_client()
        assert login(reviewer, account).status_code == 302
        fill_to(guarded, -MIB)

        page = f"/sources/{source_uuid}"
        html = post_form(reviewer, f"{page}/reply", {"message": "we read you"}, page=page)
        assert html.status_code == 507
        assert "running out of disk space" in html.get_data(as_text=True)

        token = reviewer.post(
            "/api/v1/token",
            json={
                "username": account.username,
                "passphrase": account.passphrase,
                "one_time_code": account.code(1),
            },
        ).get_json()["token"]
        armored = encrypt_to(
            guarded.keyring, b"we read you", [source_fpr, guarded.submission_fingerprint]
        ).decode()
        api = reviewer.post(
            f"/api/v1/sources/{source_uuid}/replies",
            json={"reply": armored},
            headers={"Authorization": f"Token {token}"},
        )
        assert api.status_code == 507
        assert api.get_json()["error"] == "Insufficient Storage"
        assert "disk space" in api.get_json()["message"]
        with guarded.session() as db:
            assert db.scalar(select(func.count()).select_from(Reply)) == 0
        assert not [p for p in _store_files(guarded) if p.name.endswith("-reply.gpg")]


def test_the_store_and_the_database_filesystems_are_both_watched(guarded: Runtime) -> None:
    """The store on its tmpfs, SQLite (when used) beside the instance: two filesystems."""
    assert guarded.store.guard is not None
    watched = guarded.store.guard.paths
    store_device = os.stat(guarded.store.root).st_dev
    assert os.stat(watched[0]).st_dev == store_device
    if guarded.config.database_url.startswith("sqlite"):
        if store_device != os.stat(guarded.config.instance_dir).st_dev:  # tmpfs mounted
            assert len(watched) == 2
            assert os.stat(watched[1]).st_dev == os.stat(guarded.config.instance_dir).st_dev
