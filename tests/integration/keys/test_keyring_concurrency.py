"""Seals, openings and key reads while reply keys are made and deleted in the same
GnuPG home, from threads and from another process, with real gpg.

gpg replaces its keyring by renaming (pubring.kbx -> pubring.kbx~, then the new file
into place): a reader that opened the keyring in between found no file, and a valid
submission was refused ("keydb_search failed: No such file or directory"). Sealing
and the other request-time reads must never depend on a file a writer replaces.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from keys.gpg import GpgKeyring

PASSPHRASE = "a derived passphrase of a reply key"
_KEYS_PER_WRITER = 6
_SEALERS = 4


def _make_keys(home: str, count: int) -> list[str]:
    """Another process's keyring on the same home: reply keys made, one in two deleted."""
    ring = GpgKeyring(Path(home))
    made = []
    for index in range(count):
        fingerprint = ring.generate_reply_key("another process", PASSPHRASE)
        if index % 2:
            ring.delete_key(fingerprint)
        else:
            made.append(fingerprint)
    return made


def test_seals_never_fail_while_keys_are_made_and_deleted(keyring: GpgKeyring) -> None:
    recipient = keyring.generate_reply_key("the submission key stands in", PASSPHRASE)
    reader = keyring.generate_reply_key("a source reading its replies", PASSPHRASE)
    reply = keyring.seal_bytes(b"a reply", [reader])
    done = threading.Event()
    failures: list[BaseException] = []
    counts = [0] * _SEALERS

    def seal(slot: int) -> None:
        output_dir = keyring.home.parent / f"out-{slot}"
        output_dir.mkdir()
        while not done.is_set() or counts[slot] < 3:
            try:
                sealed = keyring.seal_bytes(b"an alert", [recipient, reader])
                assert sealed
                stream = keyring.seal_stream([recipient], output_dir / f"{counts[slot]}.gpg")
                stream.write(b"x" * 4096)
                stream.close()
                assert keyring.open_bytes(reply, PASSPHRASE) == b"a reply"
                assert keyring.has_public_key(recipient)
                assert keyring.has_secret_key(reader)
                assert keyring.key_ids(recipient)
                assert "PUBLIC KEY" in keyring.export_public(recipient)
            except BaseException as exc:
                failures.append(exc)
                return
            counts[slot] += 1

    sealers = [threading.Thread(target=seal, args=(slot,)) for slot in range(_SEALERS)]
    for thread in sealers:
        thread.start()
    made: list[str] = []
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            other = pool.apply_async(_make_keys, (str(keyring.home), _KEYS_PER_WRITER))
            made += _make_keys(str(keyring.home), _KEYS_PER_WRITER)
            made += other.get(timeout=600)
    finally:
        done.set()
        for thread in sealers:
            thread.join(timeout=600)
    assert failures == [], failures[:3]
    assert all(count >= 3 for count in counts), counts
    # What the writers made is usable by this process, what they deleted is gone.
    assert len(made) == _KEYS_PER_WRITER
    for fingerprint in made:
        assert keyring.has_public_key(fingerprint)
        assert keyring.has_secret_key(fingerprint)
        assert keyring.open_bytes(keyring.seal_bytes(b"ok", [fingerprint]), PASSPHRASE) == b"ok"
