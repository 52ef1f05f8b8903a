"""A served app's TMPDIR in tests.

Short, and not under the test's tmp_path: the source app makes throwaway GnuPG homes
in it (keys.gpg), whose agent's socket path must fit in 107 bytes, and a tmp_path under
pytest's base directory can be as long as that alone.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def server_tmpdir() -> Iterator[Path]:
    """A fresh directory in the system's temp directory, removed when the block ends."""
    path = Path(tempfile.mkdtemp(prefix="bk-srv-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
