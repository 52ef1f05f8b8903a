"""The care tier's notifications, through the real parts: an urgent ASSIST request sent
through the source interface, and an escalation by `backupctl care escalate`, each reach
a real webhook receiver through the worker, saying only that something waits."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select, update

from backupctl.cli import main
from composition import jobs
from composition.runtime import Runtime
from tests.support.care import MARKER, URGENT, ask, logged_in, new_source, on_duty
from tests.support.journalist import make_account
from tests.support.receivers import WebhookInbox, webhook_server
from vault import notifications
from vault.config import Config
from vault.models import CareRequest
from vault.notify_config import NotifyConfig, WebhookChannel

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def webhook() -> Iterator[WebhookInbox]:
    with webhook_server() as inbox:
        yield inbox


@pytest.fixture
def config(config: Config, webhook: WebhookInbox) -> Config:
    return replace(config, notify=NotifyConfig(webhook=WebhookChannel(url=webhook.url)))


def _deliver(runtime: Runtime) -> None:
    jobs.worker(runtime, [notifications.queue(runtime.redis)]).work(burst=True)


def _events(webhook: WebhookInbox) -> list[str]:
    return [json.loads(post.body)["event"] for post in webhook.posts]


def test_urgent_request_and_escalation_notify_without_content(
    app: Flask, runtime: Runtime, webhook: WebhookInbox
) -> None:
    duty = make_account(runtime, "duty1")
    logged_in(app, duty)
    on_duty(runtime, duty)
    browser = new_source(runtime)
    ask(browser, URGENT)
    _deliver(runtime)
    assert _events(webhook) == ["care_waiting"]

    with runtime.session() as db:
        db.execute(
            update(CareRequest).values(
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=40)
            )
        )
        db.commit()
    env = {
        "BACKUP_INSTANCE_DIR": str(runtime.config.instance_dir),
        "DATABASE_URL": runtime.config.database_url,
        "REDIS_URL": runtime.config.redis_url or "",
        "BACKUP_SCRYPT_N": "16",
        "BACKUP_NOTIFY_WEBHOOK_URL": webhook.url,
    }
    result = CliRunner().invoke(main, ["care", "escalate"], env=env)
    assert result.exit_code == 0, result.output
    _deliver(runtime)
    assert _events(webhook) == ["care_waiting", "care_escalated"]
    with runtime.session() as db:
        (request,) = db.scalars(select(CareRequest)).all()
        designation = request.source.designation
        identifiers = [request.uuid, request.source.uuid, designation]
    for post in webhook.posts:
        for secret in (MARKER, *identifiers, "medical"):
            assert secret.encode() not in post.body
            assert all(secret not in value for value in post.headers.values())


def test_a_calm_request_notifies_nobody(
    app: Flask, runtime: Runtime, webhook: WebhookInbox
) -> None:
    logged_in(app, make_account(runtime, "analyst1"))
    browser = new_source(runtime)
    ask(browser, {"needs": ["legal"], "urgency": "later", "recent": "no"})
    _deliver(runtime)
    assert webhook.posts == []
