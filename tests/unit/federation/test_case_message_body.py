"""The `case_message` body a peer sends, checked strictly (pure logic)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from vault.services.case_messages import (
    MAX_CIPHERTEXT_BYTES,
    MessageRefusedError,
    parse_body,
)

# The start of an OpenPGP message: one public-key encrypted session key packet (old
# format, tag 1, version 3, key id 0x0123456789ABCDEF, RSA), then encrypted data.
_PKESK = bytes([0x84, 12, 3]) + bytes.fromhex("0123456789ABCDEF") + bytes([1, 0, 0])
CIPHERTEXT = _PKESK + bytes([0xD2, 4, 1, 2, 3, 4])


def _body(**changes: Any) -> dict[str, Any]:
    return {
        "transfer": "6f1c2b0e-3a4d-4e5f-8a9b-0c1d2e3f4a5b",
        "message": "ab" * 16,
        "ciphertext": base64.b64encode(CIPHERTEXT).decode(),
        "created": "2026-12-06T10:00:00Z",
        **changes,
    }


def test_a_well_formed_body_is_read() -> None:
    parsed = parse_body(_body())
    assert parsed.transfer == "6f1c2b0e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
    assert parsed.message == "ab" * 16
    assert parsed.ciphertext == CIPHERTEXT
    assert parsed.created == "2026-12-06T10:00:00Z"


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in _body().items() if k != "created"},
        _body(extra="x"),
        _body(transfer="not-a-uuid"),
        _body(transfer="6F1C2B0E-3A4D-4E5F-8A9B-0C1D2E3F4A5B"),
        _body(message="ab" * 15),
        _body(message="AB" * 16),
        _body(message=12),
        _body(created="2026-12-06 10:00:00"),
        _body(created="2026-13-06T10:00:00Z"),
        _body(ciphertext="not base64!"),
        _body(ciphertext=""),
        # Plaintext is never kept as if it were sealed.
        _body(ciphertext=base64.b64encode(b"the survivor's words").decode()),
        _body(ciphertext=base64.b64encode(_PKESK[:5]).decode()),  # cut short
        _body(ciphertext=base64.b64encode(b"\x84" + b"\x00" * MAX_CIPHERTEXT_BYTES).decode()),
    ],
)
def test_anything_else_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(MessageRefusedError):
        parse_body(body)
