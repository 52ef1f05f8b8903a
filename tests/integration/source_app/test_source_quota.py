"""Each source's quota of stored bytes: the pages say what is left, an upload past it is
refused (from its announced size, or while it streams, or at the end with the exact
ciphertext sizes), nothing is stored then, other sources are unaffected, and what the
team deletes stops counting."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from composition.runtime import Runtime
from tests.integration.source_app.helpers import SourceBrowser, stored_files
from vault.db import utcnow
from vault.models import Submission

KIB = 1024
QUOTA = 512 * KIB


@pytest.fixture
def quota_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(source_quota_bytes=QUOTA, max_upload_bytes=4 * 1024 * KIB)


@pytest.fixture
def source(quota_app: Flask) -> SourceBrowser:
    browser = SourceBrowser(quota_app.test_client())
    browser.create()
    return browser


def _rows(runtime: Runtime) -> int:
    with runtime.session() as db:
        return int(db.scalar(select(func.count()).select_from(Submission)) or 0)


def test_the_page_says_what_is_left(source: SourceBrowser) -> None:
    page = source.client.get("/lookup").text
    assert "This codename can still store 512 KB." in page
    assert source.submit("", [(os.urandom(200 * KIB), "photo.jpg")]).status_code == 302
    page = source.client.get("/lookup").text
    assert "This codename can still store 311 KB." in page  # 512 - 200 - sealing overhead
    report = source.client.get("/report").text
    assert "This codename can still store 311 KB." in report


def test_the_hint_is_absent_while_the_quota_exceeds_an_upload(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(source_quota_bytes=8 * 1024 * KIB, max_upload_bytes=4 * 1024 * KIB)
    browser = SourceBrowser(app.test_client())
    browser.create()
    assert "can still store" not in browser.client.get("/lookup").text


def test_an_upload_announced_past_the_quota_is_refused(
    source: SourceBrowser, runtime: Runtime
) -> None:
    refused = source.submit("", [(os.urandom(1024 * KIB), "video.mp4")])
    assert refused.status_code == 413
    assert "Too much for this codename" in refused.text
    assert "you can still send 512 KB" in refused.text
    assert stored_files(runtime) == [] and _rows(runtime) == 0


def test_an_upload_crossing_the_quota_while_streaming_is_stopped(
    source: SourceBrowser, runtime: Runtime
) -> None:
    # 700 KiB: within the announced-size allowance for form overhead, past the quota.
    refused = source.submit("", [(os.urandom(700 * KIB), "clip.mp4")])
    assert refused.status_code == 413
    # The error page (stopped in the parser), not the form the view would give back.
    assert "<h1>Too much for this codename</h1>" in refused.text
    assert "you can still send 512 KB" in refused.text
    assert stored_files(runtime) == [] and _rows(runtime) == 0


def test_the_exact_sizes_are_checked_at_the_end(source: SourceBrowser, runtime: Runtime) -> None:
    assert source.submit("", [(os.urandom(440 * KIB), "a.bin")]).status_code == 302
    before = stored_files(runtime)
    message = "x" * 90_000  # 88 KiB: more than is left
    refused = source.submit(message)
    assert refused.status_code == 413
    assert "you can still send 71 KB" in refused.text
    assert message in refused.text  # kept on the page, nothing to retype
    assert stored_files(runtime) == before and _rows(runtime) == 1


def test_a_full_quota_says_so_and_deleting_frees_it(
    source: SourceBrowser, runtime: Runtime, make_app: Callable[..., Flask], quota_app: Flask
) -> None:
    assert source.submit("", [(os.urandom(300 * KIB), "a.bin")]).status_code == 302
    # The operator lowers the quota below what this source already stored.
    lowered = SourceBrowser(make_app(source_quota_bytes=256 * KIB).test_client())
    lowered.client.set_cookie("src", source.cookie() or "")
    assert "This codename is full." in lowered.client.get("/lookup").text
    refused = lowered.submit("one more word")
    assert refused.status_code == 413
    assert "yours has reached it" in refused.text
    assert _rows(runtime) == 1

    other = SourceBrowser(quota_app.test_client())
    other.create()
    assert other.submit("another source is not affected").status_code == 302

    with runtime.session() as db:  # the team deletes the large file
        large = db.scalars(select(Submission).where(Submission.size > 200 * KIB)).one()
        large.deleted_at = utcnow()
        db.commit()
    assert lowered.submit("one more word").status_code == 302


def test_the_quota_is_translated(source: SourceBrowser) -> None:
    source.client.get("/language/fr?next=/lookup")
    refused = source.submit("", [(os.urandom(1024 * KIB), "video.mp4")])
    assert refused.status_code == 413
    assert "vous pouvez encore envoyer 512 KB" in refused.text
