"""The case transfer package, pure logic: the document's shape and canonical form, and
every item checked against it."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest

from keys.receipts import canonical
from vault.transfer_package import (
    TransferError,
    body_of,
    check_items,
    package_document,
    parse_body,
    parse_document,
)

ITEMS = [b"sealed message", b"sealed file"]
MANIFESTS = [b"sealed manifest 1", None]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _document(**change: object) -> dict[str, object]:
    items = [
        {
            "kind": kind,
            "source": 1,
            "sha256": _sha(data),
            "size": len(data),
            "manifest_sha256": None if manifest is None else _sha(manifest),
            "origin": {"receipt": _sha(b"r%d" % n), "sha256": _sha(b"o%d" % n)},
        }
        for n, (kind, data, manifest) in enumerate(
            zip(("message", "file"), ITEMS, MANIFESTS, strict=True)
        )
    ]
    document = package_document(
        transfer=str(uuid.uuid4()),
        sender="A" * 40,
        recipient="B" * 40,
        items=items,
        created=dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC),
    )
    document.update(change)
    return document


def test_a_whole_package_checks() -> None:
    document = _document()
    data = canonical(document)
    body = parse_body(body_of(data, b"sig", ITEMS, MANIFESTS))
    assert parse_document(body.document) == document
    check_items(document, body)


@pytest.mark.parametrize(
    "change",
    [
        {"consent": "statistics"},
        {"to": "not a fingerprint"},
        {"transfer": "1234"},
        {"items": []},
        {"version": 2},
    ],
)
def test_a_package_that_is_not_one_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(TransferError):
        parse_document(canonical(_document(**change)))


def test_a_package_not_in_canonical_form_is_refused() -> None:
    data = canonical(_document()).replace(b",", b", ", 1)
    with pytest.raises(TransferError, match="canonical"):
        parse_document(data)


def test_an_item_listed_twice_is_refused() -> None:
    document = _document()
    items = document["items"]
    assert isinstance(items, list)
    with pytest.raises(TransferError, match="twice"):
        parse_document(canonical({**document, "items": [items[0], items[0]]}))


@pytest.mark.parametrize(
    ("items", "manifests", "what"),
    [
        ([b"sealed messagE", ITEMS[1]], MANIFESTS, "item 1: its hash"),
        ([ITEMS[0]], MANIFESTS[:1], "not those"),
        (ITEMS, [b"other manifest", None], "item 1: its manifest"),
        (ITEMS, [MANIFESTS[0], b"added"], "item 2: its manifest"),
    ],
)
def test_a_changed_item_is_refused(
    items: list[bytes], manifests: list[bytes | None], what: str
) -> None:
    document = _document()
    body = parse_body(body_of(canonical(document), b"sig", items, manifests))
    with pytest.raises(TransferError, match=what):
        check_items(document, body)


def test_a_body_with_missing_parts_is_refused() -> None:
    with pytest.raises(TransferError):
        parse_body({"document": "", "signature": ""})
    with pytest.raises(TransferError, match="base64"):
        parse_body({"document": "***", "signature": "", "items": [], "manifests": []})
