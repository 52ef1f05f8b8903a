"""The whole dropbox loop in a real browser with JavaScript disabled, then a search for
the plaintext everywhere the server writes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.browser.conftest import Served
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support import leaks
from tests.support.journalist import make_account
from vault.models import Role
from workstation.decrypt import decrypt_downloads

MESSAGE_MARKER = "MARKER-msg-4f9c2a71"
FILE_MARKER = "MARKER-file-b83d0e55"
REPLY_MARKER = "MARKER-reply-19ae7c3d"


def _new_page(browser: Browser) -> Page:
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    return context.new_page()


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_source_to_reviewer_to_workstation_and_back(
    browser: Browser,
    served: Served,
    runtime: Runtime,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> None:
    originals = tmp_path / "originals"
    originals.mkdir()
    text_doc = originals / "witness statement.txt"
    text_doc.write_bytes((f"{FILE_MARKER} what I saw\n" * 2000).encode())
    photo = originals / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(300_000) + FILE_MARKER.encode())

    # -- a new source sends a message and two files --------------------------------
    source = _new_page(browser)
    source.goto(served.source_url)
    source.get_by_role("link", name="I am new").click()
    codename = source.locator(".codename").inner_text().strip()
    assert len(codename.split()) == 7
    source.get_by_role("button", name=re.compile("continue", re.I)).click()
    source.fill("#msg", f"{MESSAGE_MARKER} they came at night")
    source.set_input_files("#fh", [str(text_doc), str(photo)])
    source.get_by_role("button", name="Send").click()
    expect(source.locator("body")).to_contain_text(re.compile("received|thank", re.I))
    assert source.locator("a[href*='exit']").count() >= 1  # quick exit on every page
    source.context.close()

    # -- a reviewer logs in with TOTP and downloads the three sealed files -----------
    account = make_account(runtime, "analyst1", Role.ANALYST)
    reviewer = _new_page(browser)
    reviewer.goto(served.journalist_url + "/login")
    reviewer.fill("input[name=username]", account.username)
    reviewer.fill("input[name=passphrase]", account.passphrase)
    reviewer.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    reviewer.get_by_role("button", name="Log in").click()
    reviewer.locator("nav a[href='/']").click()  # analysts land on the dashboard
    # `all()` does not wait for the page the click loads: the count does.
    expect(reviewer.locator("tbody a")).to_have_count(1)
    links = reviewer.locator("tbody a").all()
    assert len(links) == 1
    links[0].click()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    saved = []
    download_links = reviewer.locator("a[href$='/download']")
    assert download_links.count() == 3
    for index in range(3):
        with reviewer.expect_download() as info:
            download_links.nth(index).click()
        target = downloads / info.value.suggested_filename
        info.value.save_as(target)
        saved.append(target)
    assert sorted(p.name.split("-", 2)[-1] for p in saved) == [
        "doc.gz.gpg",
        "doc.gz.gpg",
        "msg.gpg",
    ]

    # -- the air-gapped workstation decrypts: bytes equal the originals --------------
    out = tmp_path / "workstation-out"
    decrypted = decrypt_downloads(submission_key[1], SUBMISSION_PASSPHRASE, saved, out)
    # Each document keeps its source and number: N-designation-doc-<original name>.
    by_name = {p.name.split("-doc-", 1)[-1]: p.read_bytes() for p in decrypted}
    assert by_name["witness statement.txt"] == text_doc.read_bytes()
    assert by_name["photo.jpg"] == photo.read_bytes()
    [message_file] = [p for p in decrypted if p.name.endswith("-msg.txt")]
    assert message_file.read_text() == f"{MESSAGE_MARKER} they came at night"

    # -- the reviewer replies; the source reads it after logging in again -----------
    reviewer.fill("textarea[name=message]", f"{REPLY_MARKER} we can help")
    reviewer.get_by_role("button", name="Send reply").click()
    reviewer.context.close()

    back = _new_page(browser)
    back.goto(served.source_url)
    back.get_by_role("link", name="I have a codename").click()
    back.fill("#codename", codename)
    back.get_by_role("button", name="Continue").click()
    expect(back.locator(".reply .text")).to_have_text(f"{REPLY_MARKER} we can help")
    back.context.close()

    # -- the plaintext is nowhere on the server side --------------------------------
    # The SQLite file and its WAL are searched with the engine (they sit beside the
    # instance directory), every Redis key of every type, the logs and the temp dir.
    leaks.assert_no_leak(
        (MESSAGE_MARKER, FILE_MARKER, REPLY_MARKER, codename),
        files=[runtime.config.instance_dir, served.server_tmp, served.log_dir],
        engine=runtime.engine,
        redis=runtime.redis,
    )
    # The search itself works: it finds the markers where plaintext is expected.
    found = leaks.LeakScanner(MESSAGE_MARKER, FILE_MARKER).scan(files=[out, originals])
    assert {(hit.marker, hit.place) for hit in found} >= {
        (MESSAGE_MARKER, f"file {message_file}"),
        (FILE_MARKER, f"file {text_doc}"),
    }
    # The database's files themselves are searched: a reviewer's username is stored in
    # them (in the WAL until a checkpoint folds it into the main file).
    stored = leaks.LeakScanner(account.username).scan(engine=runtime.engine)
    database = runtime.engine.url.database
    files = {f"file {database}", f"file {database}-wal"}
    assert files & {hit.place for hit in stored}, stored
    # The apps' own logs were written while they served, and searched: the source app
    # logged its gpg run that opened the reply for the source.
    assert "DECRYPTION_OKAY" in served.app_log()
