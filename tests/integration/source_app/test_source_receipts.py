"""A source sees a receipt code for each thing sent, finds the codes again later, and can
read the receipt key's fingerprint."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from keys.lifecycle import fingerprint_groups
from tests.integration.source_app.helpers import SourceBrowser
from vault.models import CustodyReceipt
from vault.services import custody

_CODE = re.compile(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}")


def test_receipt_codes_after_sending_and_later(logged_in: SourceBrowser, runtime: Runtime) -> None:
    response = logged_in.submit("what I saw", [(b"%PDF-1.4 report", "report.pdf")])
    assert response.status_code == 302
    page = logged_in.client.get("/lookup").get_data(as_text=True)
    shown = _CODE.findall(page)
    assert len(shown) == 2
    with runtime.session() as db:
        rows = db.scalars(select(CustodyReceipt).order_by(CustodyReceipt.seq)).all()
        assert shown == [custody.receipt_code(row.hash) for row in rows]
    later = logged_in.client.get("/receipts")
    assert later.status_code == 200
    assert _CODE.findall(later.get_data(as_text=True)) == shown


def test_receipts_need_login_and_the_key_is_public(client: FlaskClient, runtime: Runtime) -> None:
    assert client.get("/receipts").status_code == 302
    page = client.get("/receipt-key").get_data(as_text=True)
    assert fingerprint_groups(runtime.receipt_key.fingerprint) in page
    assert "BEGIN PUBLIC KEY" in page
