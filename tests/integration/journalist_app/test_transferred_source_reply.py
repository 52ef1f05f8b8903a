"""A source transferred from a partner organisation has no reply key here: a reply to it
is refused with a clear message, nothing is sealed or stored, and deleting it never asks
gpg to remove a key with an empty name. Real gpg, Redis, SQLite and PostgreSQL."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select, update

from composition.runtime import Runtime
from tests.support.journalist import login, make_account, make_source, post_form
from vault.models import Reply, RetiredKey, Source
from vault.services import key_retirement

NO_REPLY_KEY = "This source came to us from a partner organisation"


def test_a_reply_to_a_transferred_source_is_refused_with_a_clear_message(
    app: Flask, runtime: Runtime
) -> None:
    analyst = make_account(runtime, "analyst1")
    source = make_source(runtime)
    with runtime.session() as db:
        # What vault.services.case_transfers gives a received source: no reply key.
        db.execute(
            update(Source).where(Source.uuid == source.uuid).values(reply_key_fingerprint="")
        )
    client = app.test_client()
    assert login(client, analyst, code=analyst.code(0)).status_code == 302
    page = f"/sources/{source.uuid}"
    response = post_form(client, f"{page}/reply", {"message": "we can help"}, page=page)
    assert response.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert NO_REPLY_KEY in html
    assert "Your reply was encrypted" not in html
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Reply)) == 0


def test_no_key_with_an_empty_name_is_retired(runtime: Runtime) -> None:
    with runtime.session() as db:
        key_retirement.retire(db, "")
        assert db.scalar(select(func.count()).select_from(RetiredKey)) == 0
