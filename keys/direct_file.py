"""A file written around the page cache (O_DIRECT) where its file system allows it.

A sealed upload is written once and read much later (by the workstation's export, or a
replica), so caching it gains nothing. Written through the page cache, each GiB costs
the writer a copy into freshly allocated cache pages and the final fsync a writeback of
all of them: on the 2-core test machine about 1.3 CPU-s per GiB, against about 0.2 s
written directly (`dd oflag=direct`), and the cache pages it would fill are other
requests' (see docs/benchmarks.md). Durability is the same: `sync` still fsyncs the
file (its size and extents, and the disk's own cache).

O_DIRECT wants the buffer, the offset and the length aligned to the device's blocks.
The caller writes whole `ALIGNED` multiples from a page-aligned buffer (an anonymous
mmap); the unaligned tail of the file, and everything after a short write (a full disk
can leave an offset that is no longer aligned), go through the page cache instead, as
does everything on a file system that refuses O_DIRECT (ramfs, some FUSE ones).
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from pathlib import Path

# Alignment that satisfies every block device in use (512-byte and 4Kn disks).
ALIGNED = 4096


def aligned_buffer(size: int) -> mmap.mmap:
    """A writable buffer whose start is page-aligned (as O_DIRECT needs), `size` bytes."""
    if size % ALIGNED:
        raise ValueError("the buffer's size must be a multiple of the alignment")
    return mmap.mmap(-1, size)


class DirectFile:
    """A new file at `path` (created exclusively, as `open(path, "xb")` would)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        self.direct = False
        try:
            flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
            fcntl.fcntl(self.fd, fcntl.F_SETFL, flags | os.O_DIRECT)
            self.direct = True
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: this file system has no direct I/O
                os.close(self.fd)
                raise

    def _buffered(self) -> None:
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        self.direct = False

    def write(self, data: memoryview) -> None:
        """Write all of `data`; directly for its aligned part if `data` starts aligned in
        memory (a slice from the start of an `aligned_buffer`) and the file is aligned."""
        done = 0
        if self.direct:
            whole = len(data) - len(data) % ALIGNED
            while done < whole:
                try:
                    written = os.write(self.fd, data[done:whole])
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    self._buffered()  # the device wants a coarser alignment than ours
                    break
                done += written
                if written % ALIGNED:
                    self._buffered()  # the file's end is no longer aligned
                    break
            if done < len(data) and self.direct:
                self._buffered()  # the tail: only the page cache takes unaligned lengths
        while done < len(data):
            done += os.write(self.fd, data[done:])

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
