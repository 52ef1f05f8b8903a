"""Bad input gets a clear 4xx page and changes nothing: no file under the store (not even
a partial one), no Submission row.

Most requests here are made by a logged-in source with files attached, so sealing sinks
really are created while the body is parsed, and must be aborted.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder

from composition.runtime import Runtime
from tests.integration.source_app.helpers import (
    SourceBrowser,
    csrf_token,
    stored_files,
    submission_count,
)
from vault.services.sources import MAX_MESSAGE_CHARS

QUICK_EXIT = 'href="/exit"'


@pytest.fixture
def sinks_opened(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the sealed partial files the app starts (one per uploaded file part)."""
    opened: list[int] = []
    original = runtime.store.begin_unassigned

    def counting(recipients: Any, budget: Any = None) -> Any:
        opened.append(1)
        return original(recipients, budget)

    monkeypatch.setattr(runtime.store, "begin_unassigned", counting)
    yield opened


def _nothing_stored(runtime: Runtime) -> None:
    assert stored_files(runtime) == []
    assert submission_count(runtime) == 0


def _multipart(fields: dict[str, Any]) -> tuple[bytes, str]:
    environ = EnvironBuilder(
        method="POST", data=fields, content_type="multipart/form-data"
    ).get_environ()
    return environ["wsgi.input"].read(), environ["CONTENT_TYPE"]


def _files(*sizes: int) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(os.urandom(size)), f"file{i}.bin") for i, size in enumerate(sizes)]


class TestBody:
    """Broken, cut-off and oversize bodies."""

    def test_malformed_multipart(
        self, logged_in: SourceBrowser, runtime: Runtime, sinks_opened: list[int]
    ) -> None:
        body, content_type = _multipart(
            {"csrf_token": logged_in.token(), "msg": "m", "fh": _files(100_000)}
        )
        boundary = content_type.split("boundary=")[1].strip('"').encode()
        # The closing boundary is mangled: the parser never sees the end of the form.
        broken = body.replace(b"--" + boundary + b"--", b"--" + boundary[:-3] + b"xx--")
        assert broken != body
        response = logged_in.client.post("/submit", data=broken, content_type=content_type)
        assert response.status_code == 400
        assert "The form could not be read" in response.text
        assert QUICK_EXIT in response.text
        assert sinks_opened == [1]
        _nothing_stored(runtime)

    def test_missing_boundary(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        response = logged_in.client.post(
            "/submit", data=b"whatever", content_type="multipart/form-data"
        )
        assert response.status_code == 400
        assert "The form could not be read" in response.text
        _nothing_stored(runtime)

    def test_cut_off_upload(
        self, logged_in: SourceBrowser, runtime: Runtime, sinks_opened: list[int]
    ) -> None:
        """The connection drops mid-file: the half-sealed file is removed."""
        body, content_type = _multipart(
            {"csrf_token": logged_in.token(), "msg": "m", "fh": _files(300_000)}
        )
        response = logged_in.client.post(
            "/submit",
            input_stream=io.BytesIO(body[: len(body) // 2]),
            content_length=len(body),
            content_type=content_type,
        )
        assert response.status_code == 400
        assert sinks_opened == [1]
        _nothing_stored(runtime)

    def test_oversize_declared_upload(
        self, make_app: Callable[..., Flask], runtime: Runtime, sinks_opened: list[int]
    ) -> None:
        """Content-Length over the limit: refused before a byte is parsed."""
        browser = SourceBrowser(make_app(max_upload_bytes=100_000).test_client())
        browser.create()
        response = browser.submit("m", [(os.urandom(150_000), "big.bin")])
        assert response.status_code == 413
        assert "Too large" in response.text
        assert "97 KB" in response.text  # 100,000 bytes, rounded down, shown to the source
        assert QUICK_EXIT in response.text
        assert "Request Entity Too Large" not in response.text  # not Werkzeug's raw page
        assert sinks_opened == []
        _nothing_stored(runtime)

    def test_oversize_streamed_upload(
        self, make_app: Callable[..., Flask], runtime: Runtime, sinks_opened: list[int]
    ) -> None:
        """No Content-Length (chunked): the limit trips mid-file; the sink is aborted.
        (The parser reads up to 1 MiB at a time: the file starts in the first read.)"""
        browser = SourceBrowser(make_app(max_upload_bytes=1_000_000).test_client())
        browser.create()
        body, content_type = _multipart(
            {"csrf_token": browser.token(), "msg": "m", "fh": _files(1_500_000)}
        )
        response = browser.client.post(
            "/submit",
            input_stream=io.BytesIO(body),
            content_type=content_type,
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
        assert response.status_code == 413
        assert "Too large" in response.text
        assert sinks_opened == [1]
        _nothing_stored(runtime)

    def test_too_many_parts(
        self, logged_in: SourceBrowser, runtime: Runtime, sinks_opened: list[int]
    ) -> None:
        files = [(b"x", f"f{i}.txt") for i in range(110)]
        response = logged_in.submit("m", files)
        assert response.status_code == 413
        assert "Too large" in response.text
        assert sinks_opened  # some files were being sealed when the limit tripped
        _nothing_stored(runtime)

    def test_huge_form_field(
        self, logged_in: SourceBrowser, runtime: Runtime, config: Any, sinks_opened: list[int]
    ) -> None:
        message = "a" * (config.max_form_field_bytes + 1)
        response = logged_in.submit(message, [(b"with a file", "f.txt")])
        assert response.status_code == 413
        assert "Too large" in response.text
        _nothing_stored(runtime)


class TestCsrf:
    """CSRF stays on: a missing or wrong token changes nothing, files included."""

    def test_missing_token(
        self, logged_in: SourceBrowser, runtime: Runtime, sinks_opened: list[int]
    ) -> None:
        response = logged_in.submit("m", [(os.urandom(100_000), "a.bin")], token="")
        assert response.status_code == 400
        assert "This page has expired" in response.text
        assert QUICK_EXIT in response.text
        assert sinks_opened == [1]  # the body was parsed (to look for the token)...
        _nothing_stored(runtime)  # ...and what it held was discarded

    def test_wrong_token(
        self, logged_in: SourceBrowser, runtime: Runtime, sinks_opened: list[int]
    ) -> None:
        token = logged_in.token()
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        response = logged_in.submit("m", [(b"doc", "a.txt"), (b"doc2", "b.txt")], token=forged)
        assert response.status_code == 400
        assert "This page has expired" in response.text
        assert sinks_opened == [1, 1]
        _nothing_stored(runtime)

    def test_token_of_another_session(
        self, logged_in: SourceBrowser, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        other = SourceBrowser(make_app().test_client())
        other.create()
        response = logged_in.submit("m", [(b"doc", "a.txt")], token=other.token())
        assert response.status_code == 400
        _nothing_stored(runtime)

    def test_login_needs_a_token(self, browser: SourceBrowser) -> None:
        response = browser.client.post("/login", data={"codename": "a b c d e f g"})
        assert response.status_code == 400
        assert "This page has expired" in response.text

    def test_logout_needs_a_token(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        assert logged_in.client.post("/logout").status_code == 400
        assert logged_in.client.get("/lookup").status_code == 200  # still logged in


class TestMessage:
    """The message itself is refused with a clear reason, and nothing is kept."""

    def test_empty_submission(
        self, logged_in: SourceBrowser, runtime: Runtime, sinks_opened: list[int]
    ) -> None:
        response = logged_in.submit("   \n  ", [(b"", "")])
        assert response.status_code == 400
        assert "Write a message or choose at least one file. Nothing was sent." in response.text
        assert sinks_opened == [1]  # the empty file input
        _nothing_stored(runtime)

    def test_invalid_utf8(
        self, logged_in: SourceBrowser, runtime: Runtime, sinks_opened: list[int]
    ) -> None:
        body, content_type = _multipart(
            {
                "csrf_token": logged_in.token(),
                "msg": "MARKER-BYTES",
                "fh": [(io.BytesIO(b"evidence"), "e.txt")],
            }
        )
        body = body.replace(b"MARKER-BYTES", b"caf\xe9 \xff\xfe broken")
        response = logged_in.client.post("/submit", data=body, content_type=content_type)
        assert response.status_code == 400
        assert "characters that could not be read. Nothing was sent." in response.text
        assert "The files you chose were not sent: choose them again." in response.text
        assert "broken" not in response.text  # the damaged message is not echoed back
        assert sinks_opened == [1]
        _nothing_stored(runtime)

    def test_message_too_long(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        message = "word " * (MAX_MESSAGE_CHARS // 5) + "overflow"
        response = logged_in.submit(message)
        assert response.status_code == 400
        assert "Your message is too long" in response.text
        assert "100,000" in response.text
        assert "overflow" in response.text  # kept in the form, so it can be shortened
        _nothing_stored(runtime)

    def test_not_logged_in(self, browser: SourceBrowser, runtime: Runtime) -> None:
        """A valid anonymous token gets the visitor to the login page; files are dropped."""
        token = browser.token("/login")
        response = browser.submit("m", [(b"doc", "a.txt")], token=token)
        assert response.status_code == 302
        assert response.headers["Location"] == "/login"
        _nothing_stored(runtime)


class TestFailureInsideTheView:
    """An error after sealing began: a neutral 500, and everything written is removed."""

    def test_store_failure(
        self,
        logged_in: SourceBrowser,
        runtime: Runtime,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        def broken_adopt(*_args: Any, **_kwargs: Any) -> Any:
            raise OSError("disk full")

        monkeypatch.setattr(runtime.store, "adopt", broken_adopt)
        secret = "MESSAGE-TEXT-THAT-MUST-NOT-BE-LOGGED"
        response = logged_in.submit(secret, [(b"FILE-TEXT", "name-not-to-log.txt")])
        assert response.status_code == 500
        assert "An error happened on our side." in response.text
        assert "disk full" not in response.text
        assert QUICK_EXIT in response.text
        _nothing_stored(runtime)  # the sealed message was shredded, the document aborted
        logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
        assert "Exception on /submit [POST]" in logged  # the error itself is logged...
        assert secret not in logged  # ...but nothing the source sent
        assert "name-not-to-log" not in logged


def test_bad_requests_answer_with_the_neutral_page(logged_in: SourceBrowser) -> None:
    """Delete without a reply id, and unknown ids: 404 page, not a crash."""
    token = logged_in.token()
    for data in ({"csrf_token": token}, {"csrf_token": token, "reply": "../../etc/passwd"}):
        response = logged_in.client.post("/reply/delete", data=data)
        assert response.status_code == 404
        assert QUICK_EXIT in response.text
    assert csrf_token(logged_in.client.get("/lookup").text)
