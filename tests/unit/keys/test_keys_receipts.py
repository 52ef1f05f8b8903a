"""Pure logic of signed, hash-chained records: every kind of tampering is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.errors import KeyOperationError
from keys.receipts import (
    GENESIS,
    KEY_ROTATION,
    ChainError,
    ReceiptKeyFile,
    SignedRecord,
    SigningKey,
    VerifyKey,
    verify_chain,
)


def _chain(key: SigningKey, n: int) -> list[SignedRecord]:
    records: list[SignedRecord] = []
    prev = GENESIS
    for seq in range(n):
        record = SignedRecord.sign(key, {"seq": seq, "prev": prev, "key": key.fingerprint})
        records.append(record)
        prev = record.hash
    return records


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return SigningKey.generate(tmp_path / "k.pem")


class TestVerifyChain:
    def test_intact_chain_verifies(self, key: SigningKey) -> None:
        """A whole chain and any contiguous segment of it verify."""
        records = _chain(key, 5)
        verify_chain(records, [key.verify_key], "log", start_prev=GENESIS)
        verify_chain(records[2:4], [key.verify_key], "log")

    def test_edit_is_named(self, key: SigningKey) -> None:
        """Changing a field of a body breaks its signature."""
        records = _chain(key, 3)
        records[1] = SignedRecord({**records[1].body, "prev": GENESIS}, records[1].signature)
        with pytest.raises(ChainError, match=r"record #2 \(seq 1\): bad signature"):
            verify_chain(records, [key.verify_key], "log")

    def test_gap_is_named(self, key: SigningKey) -> None:
        """Dropping a record leaves a gap in the sequence."""
        records = _chain(key, 4)
        del records[2]
        with pytest.raises(ChainError, match="expected seq 2: a record is missing"):
            verify_chain(records, [key.verify_key], "log")

    def test_reorder_is_named(self, key: SigningKey) -> None:
        """Swapping two records breaks the sequence."""
        records = _chain(key, 4)
        records[1], records[2] = records[2], records[1]
        with pytest.raises(ChainError, match="out of order"):
            verify_chain(records, [key.verify_key], "log")

    def test_wrong_key_is_named(self, key: SigningKey, tmp_path: Path) -> None:
        """A record signed by a key the verifier does not trust is refused."""
        other = SigningKey.generate(tmp_path / "other.pem")
        with pytest.raises(ChainError, match="unknown key"):
            verify_chain(_chain(key, 2), [other.verify_key], "log")

    def test_forged_signature_with_claimed_fingerprint(
        self, key: SigningKey, tmp_path: Path
    ) -> None:
        """Another key claiming the trusted fingerprint fails the signature check."""
        other = SigningKey.generate(tmp_path / "other.pem")
        forged = SignedRecord.sign(other, {"seq": 0, "prev": GENESIS, "key": key.fingerprint})
        with pytest.raises(ChainError, match="bad signature"):
            verify_chain([forged], [key.verify_key], "log", start_prev=GENESIS)

    def test_truncated_start_is_named(self, key: SigningKey) -> None:
        """A whole chain must start at the genesis link."""
        with pytest.raises(ChainError, match="does not start the chain"):
            verify_chain(_chain(key, 3)[1:], [key.verify_key], "log", start_prev=GENESIS)


class TestKeys:
    def test_public_key_round_trips_through_pem(self, key: SigningKey) -> None:
        """The exported public key has the same fingerprint."""
        again = VerifyKey.from_pem(key.verify_key.pem())
        assert again.fingerprint == key.fingerprint
        assert len(key.fingerprint) == 64

    def test_passphrase_protected_key(self, tmp_path: Path) -> None:
        """A workstation key needs its passphrase to load."""
        path = tmp_path / "ws.pem"
        made = SigningKey.generate(path, b"long passphrase here")
        assert SigningKey.load(path, b"long passphrase here").fingerprint == made.fingerprint
        with pytest.raises(Exception, match="cannot load"):
            SigningKey.load(path, b"wrong")


class TestRotation:
    def _rotated(
        self, old: SigningKey, new: SigningKey, claimed: SigningKey | None = None
    ) -> list[SignedRecord]:
        first = SignedRecord.sign(old, {"seq": 0, "prev": GENESIS, "key": old.fingerprint})
        handover = SignedRecord.sign(
            old,
            {
                "seq": 1,
                "prev": first.hash,
                "key": old.fingerprint,
                "kind": KEY_ROTATION,
                "new_key": (claimed or new).fingerprint,
                "new_key_pem": new.verify_key.pem(),
            },
        )
        after = SignedRecord.sign(new, {"seq": 2, "prev": handover.hash, "key": new.fingerprint})
        return [first, handover, after]

    def test_handover_trusts_the_new_key(self, key: SigningKey, tmp_path: Path) -> None:
        """Pinning the old key is enough to verify across a rotation."""
        new = SigningKey.generate(tmp_path / "new.pem")
        verify_chain(self._rotated(key, new), [key.verify_key], "log", start_prev=GENESIS)

    def test_handover_must_carry_the_key_it_names(self, key: SigningKey, tmp_path: Path) -> None:
        """A rotation naming one key but carrying another is refused."""
        new = SigningKey.generate(tmp_path / "new.pem")
        other = SigningKey.generate(tmp_path / "other.pem")
        with pytest.raises(ChainError, match="names a key it does not carry"):
            verify_chain(self._rotated(key, new, other), [key.verify_key], "log")

    def test_retired_key_cannot_sign_after_handover(self, key: SigningKey, tmp_path: Path) -> None:
        """After the handover, a record signed by the old key is refused."""
        new = SigningKey.generate(tmp_path / "new.pem")
        records = self._rotated(key, new)
        records[2] = SignedRecord.sign(
            key, {"seq": 2, "prev": records[1].hash, "key": key.fingerprint}
        )
        with pytest.raises(ChainError, match="after it was rotated out"):
            verify_chain(records, [key.verify_key, new.verify_key], "log")


class TestKeyFileModes:
    """A deployment gives the receipt key to the group of the processes that sign
    receipts (0640); anything looser is refused."""

    def test_group_readable_loads(self, key: SigningKey, tmp_path: Path) -> None:
        path = tmp_path / "k.pem"
        path.chmod(0o640)
        assert SigningKey.load(path).fingerprint == key.fingerprint

    @pytest.mark.parametrize(
        ("mode", "said"),
        [
            (0o644, "readable by others"),
            (0o604, "readable by others"),
            (0o660, "writable by its group"),
        ],
    )
    def test_looser_is_refused(self, key: SigningKey, tmp_path: Path, mode: int, said: str) -> None:
        path = tmp_path / "k.pem"
        path.chmod(mode)
        with pytest.raises(KeyOperationError, match=said):
            SigningKey.load(path)


class TestReceiptKeyFile:
    def test_nothing_is_read_or_made_before_the_first_signature(self, tmp_path: Path) -> None:
        """The worker builds a runtime but never signs: it never touches the file (a
        deployment keeps it from the worker's user)."""
        path = tmp_path / "missing" / "receipt_key.pem"
        lazy = ReceiptKeyFile(path)
        assert not path.parent.exists()
        record = lazy.sign_record({"seq": 0, "prev": GENESIS})
        assert path.stat().st_mode & 0o777 == 0o600
        record.verify(SigningKey.load(path).verify_key, "log")
        assert lazy.fingerprint == SigningKey.load(path).fingerprint

    def test_an_unreadable_key_fails_at_first_use_only(self, tmp_path: Path) -> None:
        path = tmp_path / "receipt_key.pem"
        SigningKey.generate(path)
        path.chmod(0o644)
        lazy = ReceiptKeyFile(path)  # no error yet
        with pytest.raises(KeyOperationError):
            lazy.sign(b"data")
