"""Care notifications that carry no content: "something waits in the care queue".

A new urgent care request (or one left untaken too long) calls `enqueue_care_waiting`,
which queues, for each channel the admin configured, one RQ job that the worker carries
out (vault.jobs.notify_care → `deliver`). The message is fixed text (vault.notify_channels):
no designation, place, need, count or id, because a notification leaves the server in
clear, to an SMTP relay or a webhook receiver outside it.

Coalescing, per channel and kind of event, with two Redis keys (both with a TTL: Redis
evicts volatile keys under memory pressure, and a key without one would never go):
- `…:sent` holds the token of the last delivery for `interval_seconds`: at most one
  message per interval.
- `…:pending` holds the token of the one delivery queued and not yet sent: every request
  arriving meanwhile is covered by it, so a burst of 50 queues one job and sends one
  message.
A request arriving after a message went out, within the interval, queues one delivery for
the end of the interval: nothing waits unannounced, and a flood of requests by one party
is at most one message per channel per interval.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from redis import Redis
from rq import Queue, Retry

from vault.config import Config
from vault.job_queue import job_queue
from vault.notify_channels import (
    EVENT_ESCALATED,
    EVENT_WAITING,
    EVENTS,
    post_webhook,
    read_secret,
    send_email,
)
from vault.notify_config import EMAIL, WEBHOOK, NotifyConfig

__all__ = [
    "EVENT_ESCALATED",
    "EVENT_WAITING",
    "QUEUE_NAME",
    "check_worker_secrets",
    "deliver",
    "enqueue_care_waiting",
    "queue",
    "send_now",
]

log = logging.getLogger(__name__)

# Its own queue, taken first by the worker: a long run of deletions must not hold a
# notification back.
QUEUE_NAME = "backup-notify"
JOB = "vault.jobs.notify_care"
# A relay or receiver that is down is tried again: within the interval a retry finds its
# own claim by token; after it, the retry claims a new interval and sends.
DEFAULT_RETRY = Retry(max=4, interval=[10, 30, 120, 300])
JOB_TIMEOUT_SECONDS = 120
# How long a queued delivery may wait for the worker before another one may be queued.
_PENDING_SLACK_SECONDS = 300
_KEY_PREFIX = "backup:notify"

# Delete a key only if it still holds our token (another delivery may have replaced it).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def queue(redis: Redis) -> Queue:
    return job_queue(QUEUE_NAME, redis)


def _key(channel: str, event: str, part: str) -> str:
    return f"{_KEY_PREFIX}:{channel}:{event}:{part}"


def _pending_ms(notify: NotifyConfig) -> int:
    return (notify.interval_seconds + _PENDING_SLACK_SECONDS) * 1000


def _enqueue(redis: Redis, channel: str, event: str, token: str, delay_ms: int) -> None:
    args = (channel, event, token)
    options = {
        "retry": DEFAULT_RETRY,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        "result_ttl": 3600,
        "failure_ttl": 7 * 86400,
    }
    if delay_ms > 0:
        queue(redis).enqueue_in(dt.timedelta(milliseconds=delay_ms), JOB, *args, **options)
    else:
        queue(redis).enqueue(JOB, *args, **options)


def _schedule(redis: Redis, notify: NotifyConfig, channel: str, event: str) -> bool:
    """Queue one delivery unless one is already pending; True if this call queued it."""
    token = secrets.token_hex(8)
    if not redis.set(_key(channel, event, "pending"), token, nx=True, px=_pending_ms(notify)):
        return False  # the pending delivery covers this request too
    try:
        remaining = redis.pttl(_key(channel, event, "sent"))
        _enqueue(redis, channel, event, token, max(remaining, 0))
    except Exception:
        # No job was queued: a pending mark left behind would silence every request
        # until it expired. Best effort (Redis may be the thing that failed).
        redis.eval(_RELEASE, 1, _key(channel, event, "pending"), token)
        raise
    return True


def enqueue_care_waiting(redis: Redis, config: Config, *, escalation: bool) -> None:
    """Tell the on-duty care team, through every configured channel, that something
    waits in the care queue (`escalation`: an urgent request waits untaken).

    Never raises: the source's request has been stored and answered whatever happens
    here. A failure (Redis down) is logged by its class only.
    """
    event = EVENT_ESCALATED if escalation else EVENT_WAITING
    for channel in config.notify.channels:
        try:
            _schedule(redis, config.notify, channel, event)
        except Exception as exc:  # whatever it is, the caller's request must not fail
            log.warning("care notification (%s) not queued: %s", channel, type(exc).__name__)


def send_now(config: Config, channel: str, event: str) -> None:
    """Send one message through one channel at once, with no coalescing (the job's last
    step; tests and benchmarks call it directly)."""
    notify = config.notify
    if channel == EMAIL and notify.email is not None:
        send_email(notify.email, event)
    elif channel == WEBHOOK and notify.webhook is not None:
        post_webhook(notify.webhook, event)
    else:
        raise ValueError(f"notification channel {channel!r} is not configured")


def deliver(redis: Redis, config: Config, channel: str, event: str, token: str) -> str:
    """Carry out one queued delivery. Returns what happened: "sent"; "deferred" (a
    message went out less than an interval ago: this one is queued again for the end
    of the interval); "covered" (another pending delivery will say it); "unconfigured"
    (the channel was switched off since).

    Raises when the channel fails, so RQ retries; a retry finds its own claim by token.
    """
    if event not in EVENTS:
        raise ValueError("unknown notification event")
    notify = config.notify
    if channel not in notify.channels:
        return "unconfigured"  # switched off since it was queued: nothing to retry
    sent_key = _key(channel, event, "sent")
    pending_key = _key(channel, event, "pending")
    claimed = redis.set(sent_key, token, nx=True, ex=notify.interval_seconds)
    if not claimed and redis.get(sent_key) != token.encode():
        if redis.get(pending_key) == token.encode() or redis.set(
            pending_key, token, nx=True, px=_pending_ms(notify)
        ):
            redis.pexpire(pending_key, _pending_ms(notify))
            _enqueue(redis, channel, event, token, max(redis.pttl(sent_key), 1000))
            return "deferred"
        return "covered"
    # From here on, a new request queues a delivery for the end of this interval.
    redis.eval(_RELEASE, 1, pending_key, token)
    try:
        send_now(config, channel, event)
    except Exception as exc:
        log.warning("care notification through %s failed: %s", channel, type(exc).__name__)
        raise
    return "sent"


def check_worker_secrets(config: Config) -> None:
    """At worker start: the secret files the channels name can be read (ConfigError if
    not), so a missing credential shows at once rather than at the first urgent request."""
    email, webhook = config.notify.email, config.notify.webhook
    if email is not None and email.password_file is not None:
        read_secret(email.password_file)
    if webhook is not None and webhook.secret_file is not None:
        read_secret(webhook.secret_file)
