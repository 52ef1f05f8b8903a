"""Native memory of the app processes: large blocks go back to the kernel when freed.

What a login flood left behind (bench/flood_memory.py): each codename login derives
scrypt(n=2^14, r=8), for which OpenSSL allocates a 16 MiB block with malloc. glibc
serves blocks above its mmap threshold with mmap and returns them on free, but that
threshold is dynamic: the first time such a block is freed, glibc raises the threshold
to its size (up to 32 MiB), and from then on 16 MiB blocks come from the malloc arenas.
With 32 threads per worker glibc keeps up to 8 arenas per core, and an arena keeps a
freed 16 MiB block for the next one: a source app worker grew by tens of MiB after a
flood and never gave it back (the growth is in glibc's thread arenas; Python's own heap
stays flat).

Setting the threshold explicitly (`mallopt(M_MMAP_THRESHOLD)`) turns the dynamic
adjustment off: blocks from `POLICY.malloc_mmap_threshold_bytes` up (4 MiB: scrypt's
16 MiB, argon2id's 64 MiB) are always mapped and unmapped, smaller ones (the 1 MiB
chunks of the upload path included) stay in the arenas as before. It is set in each
gunicorn worker as it starts (web_shared.serving_worker), i.e. wherever the apps are served.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["set_mmap_threshold"]

# <malloc.h>
_M_MMAP_THRESHOLD = -3


def set_mmap_threshold(size: int) -> bool:
    """glibc's mmap threshold, fixed at `size` bytes; False where there is no glibc
    mallopt (another C library) or `size` is not positive (glibc's default kept)."""
    if size <= 0:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, size))
