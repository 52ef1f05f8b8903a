"""The `readers` body a peer sends, and whom a peer's message is sealed to (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from vault.services.case_messages import MessageRefusedError, sealed_recipients
from vault.services.peer_readers import (
    MAX_KEY_CHARS,
    MAX_READERS,
    KeyFacts,
    ReadersRefusedError,
    check_key,
    parse_body,
)

FPR = "A" * 40
KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"


def _body(**changes: Any) -> dict[str, Any]:
    return {"version": 7, "keys": [{"fingerprint": FPR, "key": KEY}], **changes}


def test_a_well_formed_body_is_read() -> None:
    assert parse_body(_body()) == (7, [(FPR, KEY)])
    assert parse_body(_body(keys=[])) == (7, [])
    assert parse_body(_body(keys=[{"fingerprint": "B" * 64, "key": KEY}]))[1][0][0] == "B" * 64


@pytest.mark.parametrize(
    "body",
    [
        {"version": 7},
        {**_body(), "extra": 1},
        _body(version=0),
        _body(version=-3),
        _body(version=True),
        _body(version="7"),
        _body(version=2**63),
        _body(keys={"fingerprint": FPR, "key": KEY}),
        _body(keys=[{"fingerprint": FPR, "key": KEY}] * 2),
        _body(keys=[{"fingerprint": FPR}]),
        _body(keys=[{"fingerprint": FPR, "key": KEY, "name": "x"}]),
        _body(keys=[{"fingerprint": FPR.lower(), "key": KEY}]),
        _body(keys=[{"fingerprint": "A" * 39, "key": KEY}]),
        _body(keys=[{"fingerprint": FPR, "key": 5}]),
        _body(keys=[{"fingerprint": FPR, "key": "not a key"}]),
        _body(keys=[{"fingerprint": FPR, "key": KEY + KEY}]),
        _body(keys=[{"fingerprint": FPR, "key": KEY.replace("PUBLIC", "PRIVATE")}]),
        _body(keys=[{"fingerprint": FPR, "key": KEY + "x" * MAX_KEY_CHARS}]),
        _body(keys=[{"fingerprint": f"{i:040X}", "key": KEY} for i in range(MAX_READERS + 1)]),
        _body(keys=["x"]),
    ],
)
def test_anything_else_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ReadersRefusedError):
        parse_body(body)


def _facts(**changes: Any) -> KeyFacts:
    fields: dict[str, Any] = {
        "fingerprint": FPR,
        "secret": False,
        "key_ids": ("1" * 16, "2" * 16),
        "encryption_ids": ("2" * 16,),
        **changes,
    }
    return KeyFacts(**fields)


def test_a_key_must_be_the_one_named_public_and_able_to_encrypt() -> None:
    check_key(FPR, [_facts()])
    for facts in (
        [],
        [_facts(), _facts(fingerprint="B" * 40)],
        [_facts(secret=True)],
        [_facts(fingerprint="B" * 40)],
        [_facts(encryption_ids=())],
    ):
        with pytest.raises(ReadersRefusedError):
            check_key(FPR, facts)


def test_a_message_may_name_our_account_keys_and_one_more() -> None:
    accounts = {"1" * 16: "F1" * 20, "2" * 16: "F2" * 20}
    submission = "5" * 40
    assert sealed_recipients({"1" * 16, "9" * 16}, accounts, submission) == sorted(
        ["F1" * 20, submission]
    )
    assert sealed_recipients({"9" * 16}, accounts, submission) == [submission]
    with pytest.raises(MessageRefusedError):
        sealed_recipients({"8" * 16, "9" * 16, "1" * 16}, accounts, submission)
