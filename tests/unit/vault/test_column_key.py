"""The instance's column key (vault.column_key): made once, private, never half read."""

from __future__ import annotations

import os
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


def _as_a_reader_who_cannot_write(directory: Path, key_file: Path, load: str) -> int:
    """Run `load` ("column" or "receipt") on `key_file` in a child process that may read
    the key but not write `directory` (what a deployment gives the service users): as
    nobody when the tests run as root, else with the directory made read-only. The
    child's exit status: 0 when the key loaded."""
    from keys.receipts import SigningKey

    if os.geteuid() == 0:
        os.chown(key_file, 65534, 65534)  # nobody's: its reader
    else:
        directory.chmod(0o500)
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            # Relative to the directory: nobody need not search the test's own parents.
            os.chdir(directory)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            if load == "column":
                ColumnKey.load_or_generate(Path(key_file.name))
            else:
                SigningKey.load_or_generate(Path(key_file.name))
            status = 0
        finally:
            os._exit(status)
    _, waited = os.waitpid(pid, 0)
    directory.chmod(0o700)
    return os.waitstatus_to_exitcode(waited)


@pytest.mark.parametrize("load", ["column", "receipt"])
def test_a_key_made_in_advance_loads_where_its_reader_cannot_write(
    tmp_path: Path, load: str
) -> None:
    """A deployment makes the keys at deploy time, in a directory the services only
    enter: loading one must not try to make one first (docs/deploy.md)."""
    from keys.receipts import SigningKey

    directory = tmp_path / "instance"
    directory.mkdir(mode=0o755)
    key_file = directory / ("column.key" if load == "column" else "receipt_key.pem")
    if load == "column":
        ColumnKey.generate(key_file)
    else:
        SigningKey.generate(key_file)
    assert _as_a_reader_who_cannot_write(directory, key_file, load) == 0
    assert sorted(p.name for p in directory.iterdir()) == [key_file.name]  # nothing made
