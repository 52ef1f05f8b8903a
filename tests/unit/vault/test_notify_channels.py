"""What a care notification says, byte for byte, and how the webhook is signed."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from vault.errors import ConfigError
from vault.notify_channels import (
    BODIES,
    EVENT_ESCALATED,
    EVENT_WAITING,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    build_email,
    read_secret,
    sign,
    webhook_body,
    webhook_headers,
)
from vault.notify_config import EmailChannel, WebhookChannel

CHANNEL = EmailChannel(
    host="relay.example.org",
    sender="backup@example.org",
    recipients=("care-a@example.org", "care-b@example.org"),
)
NOON = 1_764_936_000.0  # 2025-12-05 12:00:00 UTC

WAITING_MAIL = (
    b"From: backup@example.org\n"
    b"To: care-a@example.org, care-b@example.org\n"
    b"Subject: BackUp: something is waiting in the care queue / une demande attend\n"
    b"Date: Fri, 05 Dec 2025 12:00:00 +0000\n"
    b'Content-Type: text/plain; charset="utf-8"\n'
    b"Content-Transfer-Encoding: 7bit\n"
    b"MIME-Version: 1.0\n"
    b"\n"
    b"Something is waiting in the BackUp care queue. Log in to see it.\n"
    b"\n"
    b"Une demande attend dans la file d'aide de BackUp. Connectez-vous pour la voir.\n"
)


class TestEmail:
    def test_the_whole_message_is_fixed_text(self) -> None:
        """Every header and every byte of the body: nothing else can be in it."""
        assert build_email(CHANNEL, EVENT_WAITING, now=NOON).as_bytes() == WAITING_MAIL

    def test_escalation_says_an_urgent_request_waits_untaken(self) -> None:
        raw = build_email(CHANNEL, EVENT_ESCALATED, now=NOON).as_bytes()
        assert raw.endswith(BODIES[EVENT_ESCALATED].encode())
        assert b"still waiting" in raw and b"Message-ID" not in raw

    def test_unknown_event_is_refused(self) -> None:
        with pytest.raises(ValueError):
            build_email(CHANNEL, "care_waiting for sober moth", now=NOON)


class TestWebhook:
    def test_body_is_the_event_only(self) -> None:
        assert webhook_body(EVENT_WAITING) == b'{"event":"care_waiting"}'
        assert json.loads(webhook_body(EVENT_ESCALATED)) == {"event": "care_escalated"}

    def test_signature_is_hmac_sha256_of_timestamp_and_body(self, tmp_path: Path) -> None:
        secret_file = tmp_path / "secret"
        secret_file.write_bytes(b"shared-secret-of-the-receiver\n")
        body = webhook_body(EVENT_WAITING)
        headers = webhook_headers(WebhookChannel("https://h.example.org/", secret_file), body, NOON)
        assert headers[TIMESTAMP_HEADER] == "1764936000"
        expected = hmac.new(
            b"shared-secret-of-the-receiver", b"1764936000." + body, hashlib.sha256
        ).hexdigest()
        assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
        assert sign(b"another secret", "1764936000", body) != headers[SIGNATURE_HEADER]

    def test_no_secret_no_signature(self) -> None:
        headers = webhook_headers(WebhookChannel("https://h.example.org/"), b"{}", NOON)
        assert set(headers) == {"Content-Type", "User-Agent"}


class TestSecretFile:
    def test_missing_or_empty_is_a_config_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read"):
            read_secret(tmp_path / "absent")
        (tmp_path / "empty").write_text("\n")
        with pytest.raises(ConfigError, match="empty"):
            read_secret(tmp_path / "empty")
