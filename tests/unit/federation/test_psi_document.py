"""What a server checks of a private-set-intersection message it carries (federation.psi):
a real request and response (the real library) pass; anything not exactly one is
refused, before any signature is looked at."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from federation.psi import (
    MAX_DOCUMENT_BYTES,
    PSI_REQUEST,
    PSI_RESPONSE,
    check_document,
    read_signed,
)
from workstation.observatory.dedupe import DedupeError, Scope, answer_request, make_request
from workstation.observatory.release import canonical
from workstation.observatory.release_input import ReleaseRow

SCOPE = Scope(("CD",), "2024-01", "2024-06")


def _row(ident: str, day: int) -> ReleaseRow:
    return ReleaseRow(
        incident_id=ident,
        date=dt.date(2024, 3, day),
        precision="day",
        country="CD",
        region="CD-SK",
        acts=("rape",),
        victim_sex="female",
        age_band="18-29",
        victim_count=1,
        perpetrator="armed_group",
        consent_statistics=True,
    )


@pytest.fixture(scope="module")
def messages() -> tuple[dict[str, Any], dict[str, Any]]:
    request, _state = make_request("org-b", "org-a", SCOPE, [_row("b1", 3), _row("b2", 20)])
    response = answer_request(request, "org-a", [_row("a1", 4)])
    return request, response


def test_a_real_request_and_response_pass(messages: tuple[dict[str, Any], dict[str, Any]]) -> None:
    request, response = messages
    found = check_document(canonical(request))
    assert (found.kind, found.message_id, found.sender, found.recipient) == (
        PSI_REQUEST,
        request["id"],
        "org-b",
        "org-a",
    )
    assert found.items == 4  # two windows per incident known to the day
    assert check_document(canonical(response), PSI_RESPONSE).kind == PSI_RESPONSE
    with pytest.raises(DedupeError, match="not a psi_response"):
        check_document(canonical(request), PSI_RESPONSE)


@pytest.mark.parametrize(
    "change",
    [
        {"note": "extra"},
        {"id": "not-a-uuid"},
        {"items": -1},
        {"items": True},
        {"items": "4"},
        {"from": "org b"},
        {"to": 7},
        {"created": "yesterday"},
        {"scope": {"countries": ["CD"]}},
        {"request": "***"},
        {"schema": "backup.something-else"},
        {"version": 2},
    ],
)
def test_a_request_not_exactly_one_is_refused(
    messages: tuple[dict[str, Any], dict[str, Any]], change: dict[str, Any]
) -> None:
    with pytest.raises(DedupeError):
        check_document(canonical({**messages[0], **change}))


@pytest.mark.parametrize(
    "change", [{"request_sha256": "ab"}, {"request": "x"}, {"setup": 1}, {"response": "**"}]
)
def test_a_response_not_exactly_one_is_refused(
    messages: tuple[dict[str, Any], dict[str, Any]], change: dict[str, Any]
) -> None:
    with pytest.raises(DedupeError):
        check_document(canonical({**messages[1], **change}))


def test_missing_field_loose_json_and_size_refused(
    messages: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    request = dict(messages[0])
    del request["scope"]
    for data in (
        canonical(request),
        json.dumps(messages[0], indent=1).encode(),  # not canonical
        b"\xff not even text",
        b"[]",
        b"x" * (MAX_DOCUMENT_BYTES + 1),
    ):
        with pytest.raises(DedupeError):
            check_document(data)


def test_the_signature_is_checked_after_the_form(
    messages: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    called: list[bytes] = []

    def refuse(data: bytes, signature: bytes, key: str) -> str:
        called.append(data)
        raise ValueError("bad signature")

    with pytest.raises(DedupeError, match="bad signature"):
        read_signed(canonical(messages[0]), b"sig", "KEY", refuse)
    assert called == [canonical(messages[0])]
    called.clear()
    with pytest.raises(DedupeError):
        read_signed(b"{}", b"sig", "KEY", refuse)
    assert called == []  # a malformed message never reaches gpg
    with pytest.raises(DedupeError, match="too large"):
        read_signed(canonical(messages[0]), b"s" * 20_000, "KEY", refuse)
