"""The dashboard counts unread submissions and shows urgent and overdue cases and a
server-rendered SVG chart of cases by status; partners are refused."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from tests.support.journalist import make_source
from vault.models import Reviewer
from vault.services import case_edits, cases


def test_dashboard(analyst_client: FlaskClient, runtime: Runtime) -> None:
    source = make_source(runtime)
    with runtime.session() as db:
        analyst = db.scalars(select(Reviewer)).one()
        urgent = cases.create_case(db, analyst, [source.uuid], urgent_medical=True)
        late = cases.create_case(db, analyst, [source.uuid], second_case_confirmed=True)
        case_edits.set_due(db, analyst, late.uuid, dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    html = analyst_client.get("/dashboard/").get_data(as_text=True)
    assert '<strong class="unread-total">2</strong>' in html
    urgent_block = html.split('class="urgent-cases"')[1].split("</div>")[0]
    overdue_block = html.split('class="overdue-cases"')[1].split("</div>")[0]
    assert urgent.reference in urgent_block and late.reference not in urgent_block
    assert late.reference in overdue_block and urgent.reference not in overdue_block
    assert "<svg" in html and "<script" not in html
    assert "http://" not in html and "https://" not in html


def test_partner_refused(partner_client: FlaskClient) -> None:
    assert partner_client.get("/dashboard/").status_code == 403
