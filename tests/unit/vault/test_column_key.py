"""The instance's column key (vault.column_key): made once, private, never half read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vault.column_key import COLUMN_KEY_FILE, TOTP_SECRET, ColumnKey, SealedColumnError


class TestColumnKey:
    def test_processes_starting_at_once_share_one_key(self, tmp_path: Path) -> None:
        """Many first uses at once: one key is made, every caller gets it whole."""
        path = tmp_path / "instance" / COLUMN_KEY_FILE
        with ThreadPoolExecutor(8) as pool:
            keys = list(pool.map(lambda _: ColumnKey.load_or_generate(path), range(32)))
        sealed = keys[0].seal("JBSWY3DPEHPK3PXP", TOTP_SECRET, "u" * 36)
        assert {key.open(sealed, TOTP_SECRET, "u" * 36) for key in keys} == {"JBSWY3DPEHPK3PXP"}
        assert [p.name for p in path.parent.iterdir()] == [COLUMN_KEY_FILE]  # no leftovers
        assert path.stat().st_mode & 0o777 == 0o600

    def test_sealing_twice_differs_and_altered_text_is_refused(self) -> None:
        """A fresh nonce each time; one flipped character and it does not open."""
        key = ColumnKey(b"\x01" * 32)
        first = key.seal("secret value", TOTP_SECRET, "u" * 36)
        assert first != key.seal("secret value", TOTP_SECRET, "u" * 36)
        assert "secret value" not in first
        # A character in the middle: every one of its bits is data (the last ones before
        # the padding may carry unused bits, and flipping those would change nothing).
        middle = len(first) // 2
        flipped = first[:middle] + ("A" if first[middle] != "A" else "B") + first[middle + 1 :]
        with pytest.raises(SealedColumnError):
            key.open(flipped, TOTP_SECRET, "u" * 36)
        with pytest.raises(SealedColumnError):
            key.open("JBSWY3DPEHPK3PXP", TOTP_SECRET, "u" * 36)  # a clear value left over

    def test_never_printed(self) -> None:
        assert repr(ColumnKey(b"\x02" * 32)) == "ColumnKey(<hidden>)"
