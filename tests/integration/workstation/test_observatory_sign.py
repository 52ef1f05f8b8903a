"""Signed releases with real gpg: verified with the public key only; a changed count, a
signature by another key, a damaged signature or a re-written document are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import GeneratedKey, generate_submission_key
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.unit.workstation.test_observatory_release import SPEC, random_rows
from workstation.observatory.release import ReleaseError, build_release, canonical
from workstation.observatory.release_sign import SignatureError, sign_release, verify_release

Key = tuple[GeneratedKey, Path]


@pytest.fixture(scope="module")
def signed(submission_key: Key) -> tuple[dict, bytes, bytes]:
    key, home = submission_key
    document = build_release(random_rows(300, seed=21), SPEC).document
    data, signature = sign_release(document, home, key.fingerprint, SUBMISSION_PASSPHRASE)
    return document, data, signature


def test_a_release_verifies_with_the_public_key_only(
    submission_key: Key, signed: tuple[dict, bytes, bytes]
) -> None:
    key, _ = submission_key
    document, data, signature = signed
    assert b"BEGIN PGP SIGNATURE" in signature
    assert data == canonical(document)
    assert verify_release(data, signature, key.public_armored) == document


def test_a_single_changed_count_is_refused(
    submission_key: Key, signed: tuple[dict, bytes, bytes]
) -> None:
    key, _ = submission_key
    document, _, signature = signed
    forged = json.loads(json.dumps(document))
    entry = next(e for e in forged["entries"] if e["value"])
    entry["value"] += 1
    with pytest.raises(SignatureError):
        verify_release(canonical(forged), signature, key.public_armored)
    # So is a changed statement (k), even when the table is untouched.
    forged = json.loads(json.dumps(document))
    forged["method"]["k"] = 3
    with pytest.raises(SignatureError):
        verify_release(canonical(forged), signature, key.public_armored)


def test_a_damaged_or_missing_signature_is_refused(
    submission_key: Key, signed: tuple[dict, bytes, bytes]
) -> None:
    key, _ = submission_key
    _, data, signature = signed
    lines = signature.decode().splitlines()
    body = next(i for i, line in enumerate(lines) if line and not line.startswith("-") and i > 1)
    lines[body] = lines[body][:10] + ("A" if lines[body][10] != "A" else "B") + lines[body][11:]
    with pytest.raises(SignatureError):
        verify_release(data, "\n".join(lines).encode(), key.public_armored)
    with pytest.raises(SignatureError):
        verify_release(data, b"", key.public_armored)


def test_a_signature_by_another_key_is_refused(
    submission_key: Key, signed: tuple[dict, bytes, bytes], tmp_path: Path
) -> None:
    key, _ = submission_key
    document, _, _ = signed
    home = tmp_path / "g"
    other = generate_submission_key(home, "another passphrase", name="Not the workstation")
    try:
        data, signature = sign_release(document, home, other.fingerprint, "another passphrase")
        # Good by its own key, refused by the pinned one.
        assert verify_release(data, signature, other.public_armored) == document
        with pytest.raises(SignatureError):
            verify_release(data, signature, key.public_armored)
    finally:
        kill_agent(home)


def test_a_rewritten_document_is_refused_even_if_signed(
    submission_key: Key, signed: tuple[dict, bytes, bytes]
) -> None:
    """The same release written another way (spaces, order) is not the signed bytes; and
    if the key signed such bytes, verify still refuses a non-canonical document."""
    key, home = submission_key
    document, _, _ = signed
    pretty = json.dumps(document, indent=1).encode()
    result = GpgKeyring(home, server=False).gpg.sign(
        pretty,
        keyid=key.fingerprint,
        passphrase=SUBMISSION_PASSPHRASE,
        detach=True,
        binary=False,
    )
    with pytest.raises(ReleaseError, match="canonical"):
        verify_release(pretty, bytes(result.data), key.public_armored)


def test_signing_checks_the_document_first(submission_key: Key) -> None:
    key, home = submission_key
    document = build_release(random_rows(50, seed=22), SPEC).document
    document["entries"][0]["value"] = 1  # a small count
    with pytest.raises(ReleaseError):
        sign_release(document, home, key.fingerprint, SUBMISSION_PASSPHRASE)
