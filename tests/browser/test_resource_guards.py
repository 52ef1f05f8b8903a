"""Resource guards in a real browser (Chromium, JavaScript off) against both apps served
over HTTP: before login the session is only a sealed cookie (Redis stays empty); with
the store's filesystem (a tmpfs) at its reserve, an upload gets the clear "Sending is
paused" page, nothing is stored, and once room is back the same source sends."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from redis import Redis
from sqlalchemy import func, select

from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.browser.conftest import Served
from tests.support.filesystems import MIB, fill_to, runtime_on_small_store
from vault.config import Config
from vault.models import Submission


@pytest.fixture
def runtime(
    config: Config, redis: Redis, submission_key: tuple[GeneratedKey, Path]
) -> Iterator[Runtime]:
    """What `served` serves: the store on a 48 MiB tmpfs keeping 8 MiB free."""
    with runtime_on_small_store(
        config, redis, submission_key[0].public_armored, store_mib=48, reserve_mib=8
    ) as guarded:
        yield guarded


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sealed_anonymous_cookie_then_a_clear_refusal_when_the_disk_is_full(
    browser: Browser, served: Served, runtime: Runtime, tmp_path: Path
) -> None:
    video = tmp_path / "video.mp4"
    video.write_bytes(os.urandom(12 * MIB))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2 * MIB))

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(served.source_url + "/generate")
    [cookie] = [c for c in context.cookies() if c["name"] == "src"]
    assert cookie["value"].startswith("a.") and cookie["httpOnly"]
    assert list(runtime.redis.scan_iter(match="source-session:*")) == []
    page.get_by_role("button", name=re.compile("continue", re.I)).click()
    assert len(list(runtime.redis.scan_iter(match="source-session:*"))) == 1

    weight = fill_to(runtime, 4 * MIB)  # others have left 4 MiB above the reserve
    page.set_input_files("#fh", [str(video)])
    page.get_by_role("button", name="Send").click()
    expect(page.locator("h1")).to_have_text("Sending is paused")
    expect(page.locator("body")).to_contain_text("what you sent before is safe")
    stored = [p for p in runtime.store.root.rglob("*") if p.is_file() and p != weight]
    assert stored == []

    weight.unlink()  # room is back
    page.goto(served.source_url + "/lookup")
    page.set_input_files("#fh", [str(photo)])
    page.get_by_role("button", name="Send").click()
    expect(page.locator("body")).to_contain_text(re.compile("thank", re.I))
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Submission)) == 1
    assert not list(runtime.store.root.rglob(".partial-*"))
    context.close()
