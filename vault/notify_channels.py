"""The two ways a care notification leaves the server: an e-mail through the
organisation's SMTP relay and an HTTP POST to a webhook. Both carry fixed text only.

What is sent is built from the kind of event and the channel's settings, nothing else:
no function here takes a request, a source or a count, so none can put one in a message.
No Message-ID is added (Python would build it from this machine's name); EHLO says the
configured name; the Date is in UTC, so the server's time zone is not told either.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

from vault.errors import ConfigError
from vault.notify_config import EmailChannel, WebhookChannel

EVENT_WAITING = "care_waiting"
EVENT_ESCALATED = "care_escalated"
EVENTS = (EVENT_WAITING, EVENT_ESCALATED)

# English, then French; plain ASCII, so the message travels as 7-bit text, unencoded.
SUBJECTS = {
    EVENT_WAITING: "BackUp: something is waiting in the care queue / une demande attend",
    EVENT_ESCALATED: "BackUp: an urgent request is still waiting / une demande urgente attend",
}
BODIES = {
    EVENT_WAITING: (
        "Something is waiting in the BackUp care queue. Log in to see it.\n"
        "\n"
        "Une demande attend dans la file d'aide de BackUp. Connectez-vous pour la voir.\n"
    ),
    EVENT_ESCALATED: (
        "An urgent request in the BackUp care queue is still waiting for someone to take"
        " it. Log in to take it.\n"
        "\n"
        "Une demande urgente attend toujours dans la file d'aide de BackUp que quelqu'un"
        " la prenne en charge. Connectez-vous pour la prendre.\n"
    ),
}

SIGNATURE_HEADER = "X-BackUp-Signature"
TIMESTAMP_HEADER = "X-BackUp-Timestamp"
_MAX_RESPONSE_BYTES = 4096


class NotifyDeliveryError(Exception):
    """A channel refused or could not take the message (the job is retried)."""


def read_secret(path: Path) -> bytes:
    """A secret file's content without its trailing newline; empty is refused."""
    try:
        value = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigError(f"cannot read the secret file {path}") from exc
    if not value:
        raise ConfigError(f"the secret file {path} is empty")
    return value


def _check_event(event: str) -> None:
    if event not in EVENTS:
        raise ValueError("unknown notification event")


def build_email(channel: EmailChannel, event: str, now: float | None = None) -> EmailMessage:
    _check_event(event)
    message = EmailMessage()
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.recipients)
    message["Subject"] = SUBJECTS[event]
    message["Date"] = formatdate(now, usegmt=True)
    message.set_content(BODIES[event], cte="7bit")
    return message


def send_email(channel: EmailChannel, event: str) -> None:
    message = build_email(channel, event)
    with smtplib.SMTP(
        channel.host,
        channel.port,
        local_hostname=channel.helo_name,
        timeout=channel.timeout_seconds,
    ) as client:
        if channel.starttls:
            # Never falls back to clear text: a relay without STARTTLS fails the job.
            client.starttls(context=ssl.create_default_context())
        if channel.username is not None and channel.password_file is not None:
            password = read_secret(channel.password_file).decode()
            client.login(channel.username, password)
        refused = client.send_message(
            message, from_addr=channel.sender, to_addrs=list(channel.recipients)
        )
    if refused:
        raise NotifyDeliveryError(f"the relay refused {len(refused)} recipient(s)")


def webhook_body(event: str) -> bytes:
    _check_event(event)
    return json.dumps({"event": event}, separators=(",", ":")).encode()


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of `timestamp.body`: the receiver checks both the sender and the age
    (a replayed POST carries an old timestamp)."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_headers(
    channel: WebhookChannel, body: bytes, now: float | None = None
) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "BackUp"}
    if channel.secret_file is not None:
        timestamp = str(int(time.time() if now is None else now))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(read_secret(channel.secret_file), timestamp, body)
    return headers


def post_webhook(channel: WebhookChannel, event: str) -> None:
    body = webhook_body(event)
    headers = webhook_headers(channel, body)
    parts = urlsplit(channel.url)
    host = parts.hostname or ""
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            host,
            parts.port,
            timeout=channel.timeout_seconds,
            context=ssl.create_default_context(),
        )
    else:  # checked at configuration: loopback or an explicit development flag
        connection = http.client.HTTPConnection(host, parts.port, timeout=channel.timeout_seconds)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(_MAX_RESPONSE_BYTES)
        status = response.status
    finally:
        connection.close()
    # Redirects are not followed: the admin configured one receiver.
    if not 200 <= status < 300:
        raise NotifyDeliveryError(f"the webhook answered HTTP {status}")
