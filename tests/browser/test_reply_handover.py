"""Handing a source over: analyst A replies and writes a note; analyst B logs in and
reads the reply's text, author and time on the source page, takes its ciphertext to the
workstation, and reads the note. Long unbroken text wraps instead of widening the page.
Real Chromium with JavaScript disabled, both apps served as in production."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.browser.conftest import Served
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support import leaks
from tests.support.journalist import Account, make_account, make_source
from vault.models import Reply, Reviewer
from vault.services import accounts, cases

REPLY_MARKER = "MARKER-handover-reply-3b7e"
NOTE_MARKER = "MARKER-handover-note-a41c"
# One unbroken "word" of 2,000 characters: it must wrap, not widen the page.
LONG = "w" * 2000
VIEWPORT = {"width": 1280, "height": 900}


def _account_with_key(runtime: Runtime, username: str) -> Account:
    """An account holding its key from creation, as the admin pages make it."""
    account = make_account(runtime, username)
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        accounts.make_account_key(db, runtime.keyring, reviewer, account.passphrase, actor=None)
    return account


def _login(browser: Browser, served: Served, account: Account) -> Page:
    context = browser.new_context(
        java_script_enabled=False, accept_downloads=True, viewport=VIEWPORT
    )
    page = context.new_page()
    page.goto(served.journalist_url + "/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=passphrase]", account.passphrase)
    page.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    return page


def _fits(page: Page) -> None:
    """Nothing on the page is wider than the 1,280 px viewport."""
    page.wait_for_load_state("load")  # the stylesheet applied, not only the DOM parsed
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"{page.url} is {width}px wide"


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_colleague_reads_the_reply_and_long_text_wraps(
    browser: Browser,
    served: Served,
    runtime: Runtime,
    workstation_keyring: GpgKeyring,
    tmp_path: Path,
) -> None:
    first = _account_with_key(runtime, "analyst1")
    second = _account_with_key(runtime, "analyst2")
    source = make_source(runtime)
    with runtime.session() as db:
        author = db.scalars(select(Reviewer).where(Reviewer.uuid == first.uuid)).one()
        case_uuid = cases.create_case(db, author, [source.uuid]).uuid
    source_page = f"{served.journalist_url}/sources/{source.uuid}"
    notes_page = f"{served.journalist_url}/cases/{case_uuid}/notes"

    # -- analyst A replies to the source and writes a note -------------------------
    a = _login(browser, served, first)
    a.goto(source_page)
    a.fill("textarea[name=message]", f"{REPLY_MARKER} we will call on Tuesday {LONG}")
    a.get_by_role("button", name="Send reply").click()
    expect(a.locator("article.reply .note-text")).to_contain_text(REPLY_MARKER)
    _fits(a)
    a.goto(notes_page)
    a.fill("textarea[name=text]", f"{NOTE_MARKER} {LONG}")
    a.get_by_role("button", name="Save encrypted note").click()
    expect(a.locator("article.note .meta")).to_contain_text("analyst1")
    _fits(a)
    a.context.close()

    # -- analyst B takes over: the reply's text, author and time ------------------
    b = _login(browser, served, second)
    b.goto(source_page)
    reply = b.locator("article.reply")
    expect(reply).to_have_count(1)
    expect(reply.locator(".note-text")).to_contain_text(f"{REPLY_MARKER} we will call on Tuesday")
    expect(reply.locator(".meta")).to_contain_text("analyst1")
    expect(reply.locator(".meta")).to_contain_text("UTC")
    _fits(b)

    # ... and its ciphertext for the workstation, which opens it with the submission key.
    with runtime.session() as db:
        stored = db.scalars(select(Reply)).one()
    with b.expect_download() as info:
        reply.get_by_role("link", name=stored.filename).click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name == stored.filename
    assert saved.read_bytes() == runtime.store.path_of(source.uuid, stored.filename).read_bytes()
    opened = workstation_keyring.open_bytes(saved.read_bytes(), SUBMISSION_PASSPHRASE)
    assert opened.decode().startswith(REPLY_MARKER)

    # ... and the note, with its author, wrapped.
    b.goto(notes_page)
    note = b.locator("article.note")
    expect(note.locator(".note-text")).to_contain_text(NOTE_MARKER)
    expect(note.locator(".meta")).to_contain_text("analyst1")
    _fits(b)
    b.context.close()

    # -- the texts are nowhere on the server side ---------------------------------
    leaks.assert_no_leak(
        (REPLY_MARKER, NOTE_MARKER),
        files=[runtime.config.instance_dir, served.server_tmp, served.log_dir],
        engine=runtime.engine,
        redis=runtime.redis,
    )
