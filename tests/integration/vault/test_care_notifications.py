"""Care notifications through real parts: aiosmtpd as the relay, an HTTP server as the
webhook receiver, the suite's Redis, and the real worker (`backupctl worker --burst`, or
its SimpleWorker in-process). Nothing of a request may be in what leaves the server."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from redis import Redis
from rq import Retry, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from backupctl.cli import main
from composition import jobs as worker_jobs
from composition.runtime import Runtime
from tests.support.leaks import assert_no_leak
from tests.support.receivers import (
    SmtpInbox,
    WebhookInbox,
    free_port,
    smtp_server,
    webhook_server,
)
from vault import codenames, notifications
from vault.config import Config
from vault.notify_channels import BODIES, EVENT_ESCALATED, EVENT_WAITING, NotifyDeliveryError
from vault.notify_config import EMAIL, WEBHOOK, EmailChannel, NotifyConfig, WebhookChannel
from vault.services import sources

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
WEBHOOK_SECRET = b"receiver-shared-secret-0123456789"
JOURNALIST_ONION = "a" * 56 + ".onion"
NEED_MARKER = "NEED-MARKER-post-exposure-prophylaxis-7d1"
PLACE_MARKER = "PLACE-MARKER-Kamenge-north-3f9"


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def webhook() -> Iterator[WebhookInbox]:
    with webhook_server() as inbox:
        yield inbox


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "notify-webhook-secret"
    path.write_bytes(WEBHOOK_SECRET + b"\n")
    path.chmod(0o600)
    return path


def _notify(smtp: SmtpInbox, webhook: WebhookInbox, secret: Path, interval: int) -> NotifyConfig:
    return NotifyConfig(
        email=EmailChannel(
            host="127.0.0.1",
            port=smtp.port,
            starttls=False,
            sender="backup@ngo.example",
            recipients=("care-a@ngo.example", "care-b@ngo.example"),
        ),
        webhook=WebhookChannel(url=webhook.url, secret_file=secret),
        interval_seconds=interval,
    )


@pytest.fixture
def config(config: Config, smtp: SmtpInbox, webhook: WebhookInbox, secret_file: Path) -> Config:
    """The suite's configuration with both channels pointed at this test's receivers."""
    return replace(
        config,
        journalist_onion_host=JOURNALIST_ONION,
        notify=_notify(smtp, webhook, secret_file, interval=600),
    )


def _worker(rt: Runtime) -> SimpleWorker:
    return worker_jobs.worker(rt, [notifications.queue(rt.redis)])


def _care_like_source(rt: Runtime) -> list[str]:
    """A source that asked for help, with known need and place: every value a message
    must never carry (designation, uuid, need, place, the reviewer onion address)."""
    with rt.session() as db:
        source, _ = sources.create_source(db, rt.keyring, rt.config, codenames.generate_codename())
        text = f"ASSIST need={NEED_MARKER} place={PLACE_MARKER} urgent"
        [submission] = sources.submit(db, rt.store, source, rt.submission_fingerprint, text, [])
        db.commit()
        return [
            source.designation,
            source.uuid,
            submission.uuid,
            NEED_MARKER,
            PLACE_MARKER,
            JOURNALIST_ONION,
        ]


def _verify_signature(headers: dict[str, str], body: bytes) -> bool:
    timestamp = headers["X-BackUp-Timestamp"]
    expected = hmac.new(WEBHOOK_SECRET, timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(headers["X-BackUp-Signature"], "sha256=" + expected.hexdigest())


@SQLITE
def test_the_worker_sends_a_message_that_carries_nothing(
    runtime: Runtime,
    smtp: SmtpInbox,
    webhook: WebhookInbox,
    secret_file: Path,
    cli_env: dict[str, str],
) -> None:
    """`backupctl worker` (as production runs it) delivers by mail and webhook; the raw
    mail, the POST and Redis hold no designation, id, need, place or onion address."""
    markers = _care_like_source(runtime)
    notifications.enqueue_care_waiting(runtime.redis, runtime.config, escalation=False)
    env = {
        **cli_env,
        "BACKUP_JOURNALIST_ONION_HOST": JOURNALIST_ONION,
        "BACKUP_NOTIFY_SMTP_HOST": "127.0.0.1",
        "BACKUP_NOTIFY_SMTP_PORT": str(smtp.port),
        "BACKUP_NOTIFY_SMTP_STARTTLS": "0",
        "BACKUP_NOTIFY_SMTP_FROM": "backup@ngo.example",
        "BACKUP_NOTIFY_EMAIL_TO": "care-a@ngo.example,care-b@ngo.example",
        "BACKUP_NOTIFY_WEBHOOK_URL": webhook.url,
        "BACKUP_NOTIFY_WEBHOOK_SECRET_FILE": str(secret_file),
    }
    result = CliRunner().invoke(main, ["worker", "--burst"], env=env)
    assert result.exit_code == 0, result.output

    [mail] = smtp.messages
    text = mail.raw.replace(b"\r\n", b"\n")  # as sent over SMTP: CRLF line ends
    assert mail.mail_from == "backup@ngo.example"
    assert mail.rcpt_tos == ["care-a@ngo.example", "care-b@ngo.example"]
    assert mail.helo == "localhost"  # not this machine's name
    head, body = text.split(b"\n\n", 1)
    assert body == BODIES[EVENT_WAITING].encode()
    header_names = {line.split(b":")[0] for line in head.splitlines()}
    assert header_names == {
        b"From",
        b"To",
        b"Subject",
        b"Date",
        b"Content-Type",
        b"Content-Transfer-Encoding",
        b"MIME-Version",
    }
    [post] = webhook.posts
    assert post.path == "/hooks/backup"
    assert json.loads(post.body) == {"event": "care_waiting"}
    assert _verify_signature(post.headers, post.body)
    headers = "\n".join(f"{k}: {v}" for k, v in post.headers.items()).encode()
    assert_no_leak(
        markers,
        blobs={"mail": mail.raw, "webhook body": post.body, "webhook headers": headers},
        redis=runtime.redis,
    )
    assert_no_leak(markers, blobs={"worker output": result.output.encode() + b" "})


@SQLITE
def test_a_burst_is_one_message_and_a_later_request_is_told_at_the_interval_end(
    runtime: Runtime, smtp: SmtpInbox, webhook: WebhookInbox, secret_file: Path
) -> None:
    config = replace(runtime.config, notify=_notify(smtp, webhook, secret_file, interval=3))
    runtime.config = config
    worker = _worker(runtime)
    for _ in range(50):
        notifications.enqueue_care_waiting(runtime.redis, config, escalation=False)
    assert notifications.queue(runtime.redis).count == 2  # one job per channel
    worker.work(burst=True)
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1

    # Within the interval: nothing now, one message at its end for all 50 of them.
    for _ in range(50):
        notifications.enqueue_care_waiting(runtime.redis, config, escalation=False)
    window_left_ms = runtime.redis.pttl("backup:notify:email:care_waiting:sent")
    assert window_left_ms > 0, "the interval ran out before the test went on"
    assert ScheduledJobRegistry(queue=notifications.queue(runtime.redis)).count == 2
    worker.work(burst=True)
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1
    time.sleep(window_left_ms / 1000 + 0.5)
    _worker(runtime).work(burst=True, with_scheduler=True)
    assert len(smtp.messages) == 2 and len(webhook.posts) == 2
    # Every key it keeps expires (Redis evicts only keys with a TTL).
    keys = runtime.redis.keys("backup:notify:*")
    assert keys and all(runtime.redis.ttl(key) > 0 for key in keys)


@SQLITE
def test_an_escalation_is_its_own_message(
    runtime: Runtime, smtp: SmtpInbox, webhook: WebhookInbox
) -> None:
    notifications.enqueue_care_waiting(runtime.redis, runtime.config, escalation=False)
    notifications.enqueue_care_waiting(runtime.redis, runtime.config, escalation=True)
    notifications.enqueue_care_waiting(runtime.redis, runtime.config, escalation=True)
    _worker(runtime).work(burst=True)
    bodies = sorted(m.raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1] for m in smtp.messages)
    assert bodies == sorted(BODIES[e].encode() for e in (EVENT_WAITING, EVENT_ESCALATED))
    events = sorted(json.loads(post.body)["event"] for post in webhook.posts)
    assert events == ["care_escalated", "care_waiting"]


@SQLITE
def test_a_failing_relay_never_reaches_the_caller_and_is_retried(
    runtime: Runtime,
    smtp: SmtpInbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    markers = _care_like_source(runtime)
    # Retried at once rather than after 10 s: the same policy, shorter.
    monkeypatch.setattr(notifications, "DEFAULT_RETRY", Retry(max=2))
    runtime.config = replace(runtime.config, notify=replace(runtime.config.notify, webhook=None))
    smtp.refuse_with = "451 4.3.0 try again later"
    notifications.enqueue_care_waiting(runtime.redis, runtime.config, escalation=False)
    [job_id] = notifications.queue(runtime.redis).job_ids
    worker = _worker(runtime)
    with caplog.at_level(logging.WARNING, logger="vault.notifications"):
        worker.work(burst=True, max_jobs=1)
    job = Job.fetch(job_id, connection=runtime.redis)
    assert job.get_status() == JobStatus.QUEUED and job.retries_left == 1
    assert smtp.attempts == 1 and smtp.messages == []
    assert "care notification through email failed: SMTPDataError" in caplog.text
    smtp.refuse_with = None
    worker.work(burst=True)
    assert Job.fetch(job_id, connection=runtime.redis).get_status() == JobStatus.FINISHED
    assert smtp.attempts == 2 and len(smtp.messages) == 1
    assert_no_leak(markers, blobs={"log": caplog.text.encode()}, redis=runtime.redis)


@SQLITE
def test_a_webhook_that_answers_an_error_fails_the_delivery(
    runtime: Runtime, webhook: WebhookInbox
) -> None:
    webhook.status = 500
    with pytest.raises(NotifyDeliveryError, match="HTTP 500"):
        notifications.send_now(runtime.config, WEBHOOK, EVENT_WAITING)
    assert len(webhook.posts) == 1


@SQLITE
def test_redis_down_never_raises_into_the_caller(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    with caplog.at_level(logging.WARNING, logger="vault.notifications"):
        notifications.enqueue_care_waiting(unreachable, config, escalation=True)
    assert "not queued: ConnectionError" in caplog.text


@SQLITE
def test_a_failed_enqueue_leaves_no_pending_mark(
    config: Config, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A request whose job could not be queued must not silence the ones after it."""
    queue_key = notifications.queue(redis).key
    redis.set(queue_key, "not a list")  # RQ's push now fails with WRONGTYPE
    with caplog.at_level(logging.WARNING, logger="vault.notifications"):
        notifications.enqueue_care_waiting(redis, config, escalation=False)
    assert "not queued: ResponseError" in caplog.text
    assert redis.keys("backup:notify:*:pending") == []
    redis.delete(queue_key)
    notifications.enqueue_care_waiting(redis, config, escalation=False)
    assert notifications.queue(redis).count == 2


@SQLITE
def test_no_channel_no_job(config: Config, redis: Redis) -> None:
    notifications.enqueue_care_waiting(
        redis, replace(config, notify=NotifyConfig()), escalation=False
    )
    assert notifications.queue(redis).count == 0
    assert redis.keys("backup:notify:*") == []


@SQLITE
def test_the_worker_refuses_to_start_without_its_secret(
    runtime: Runtime, webhook: WebhookInbox, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    env = {
        **cli_env,
        "BACKUP_NOTIFY_WEBHOOK_URL": webhook.url,
        "BACKUP_NOTIFY_WEBHOOK_SECRET_FILE": str(tmp_path / "missing-secret"),
    }
    result = CliRunner().invoke(main, ["worker", "--burst"], env=env)
    assert result.exit_code != 0
    assert "missing-secret" in result.output


@SQLITE
def test_send_now_is_synchronous_for_benchmarks(runtime: Runtime, smtp: SmtpInbox) -> None:
    started = time.monotonic()
    notifications.send_now(runtime.config, EMAIL, EVENT_WAITING)
    assert len(smtp.messages) == 1 and time.monotonic() - started < 10


@SQLITE
def test_a_channel_switched_off_since_is_not_retried(runtime: Runtime, redis: Redis) -> None:
    off = replace(runtime.config, notify=replace(runtime.config.notify, webhook=None))
    assert notifications.deliver(redis, off, WEBHOOK, EVENT_WAITING, "0123abcd") == "unconfigured"
