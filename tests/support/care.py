"""Helpers for the care tier's tests: a reviewer logged in (so holding an account key),
put on care duty, and a new source sending the ASSIST form through the source app."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from source_app import create_app as create_source_app
from tests.integration.source_app.helpers import SourceBrowser, csrf_token
from tests.support.journalist import Account, login
from vault.models import Reviewer
from vault.services import care

MARKER = "CARE-MARKER-7f3a call Amina at the market"
URGENT = {"needs": ["medical", "safety"], "urgency": "today", "recent": "yes"}


def logged_in(app: Flask, account: Account, step: int = 0) -> FlaskClient:
    client = app.test_client()
    assert login(client, account, code=account.code(step)).status_code == 302
    return client


def on_duty(runtime: Runtime, account: Account, value: bool = True) -> None:
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        care.set_on_duty(db, None, reviewer, value)


def new_source(runtime: Runtime) -> SourceBrowser:
    browser = SourceBrowser(create_source_app(runtime.config, runtime).test_client())
    browser.create()
    return browser


def ask(browser: SourceBrowser, fields: dict[str, object], *, lang: str = "fr") -> str:
    """Send the ASSIST form as a source would (language chosen first); the page after."""
    browser.client.get(f"/language/{lang}")
    page = browser.client.get("/help/form").text
    data = {"csrf_token": csrf_token(page), "contact": "other", "contact_details": MARKER}
    response = browser.client.post("/help/form", data={**data, **fields})
    assert response.status_code == 302, response.text
    return browser.client.get(response.headers["Location"]).text
