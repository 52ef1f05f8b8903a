"""A NUL character anywhere in a request gets a clear 400 on both apps (PostgreSQL would
otherwise fail inside a query), and nothing is stored."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

import journalist_app
import source_app
from composition.runtime import Runtime
from tests.support.journalist import FAST_HASHER
from vault.models import AuditEvent, Source


@pytest.mark.parametrize("path", ["/sources/%00", "/login?next=%00"])
def test_journalist_refuses_nul(runtime: Runtime, path: str) -> None:
    client = journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER).test_client()
    assert client.get(path).status_code in (302, 400)  # anonymous: sent to login, or 400
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "username": "ad\x00min",
            "passphrase": "x",
            "code": "1",
        },
    )
    assert response.status_code == 400
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_source_refuses_nul(runtime: Runtime) -> None:
    client = source_app.create_app(runtime.config, runtime).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post("/login", data={"csrf_token": token.group(1), "codename": "a\x00b"})
    assert response.status_code == 400
    assert client.get("/lookup%00").status_code in (400, 404)
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Source)) == 0
