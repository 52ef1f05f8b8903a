"""web_shared.native_memory against the real glibc: with the threshold fixed, 16 MiB blocks
freed by many threads go back to the kernel; with glibc's dynamic threshold (what the
workers had before) they stay in the thread arenas. Each side runs in a fresh process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support.product import REPO
from web_shared.native_memory import set_mmap_threshold
from web_shared.serving import POLICY

_CHILD = textwrap.dedent(
    """
    import ctypes, sys, threading
    from web_shared.native_memory import set_mmap_threshold

    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    if sys.argv[1] == "fixed":
        assert set_mmap_threshold(int(sys.argv[2]))
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    size = 16 * 1024 * 1024  # scrypt(n=2^14, r=8)'s block
    block = libc.malloc(size)  # the first free raises glibc's dynamic threshold
    ctypes.memset(block, 1, size)
    libc.free(block)
    before = rss_kib()
    barrier = threading.Barrier(8)

    def login():
        barrier.wait()  # all at once, as in a flood: one arena each
        block = libc.malloc(size)
        ctypes.memset(block, 1, size)
        barrier.wait()
        libc.free(block)

    threads = [threading.Thread(target=login) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print((rss_kib() - before) // 1024)
    """
)


def _kept_mib(side: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, side, str(POLICY.malloc_mmap_threshold_bytes)],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip())


def test_freed_large_blocks_return_to_the_kernel_only_with_the_fixed_threshold() -> None:
    assert _kept_mib("dynamic") >= 3 * 16  # several thread arenas keep a block each
    assert _kept_mib("fixed") < 16  # nothing of the eight blocks is kept


def test_nonpositive_keeps_glibc_default() -> None:
    assert set_mmap_threshold(0) is False
    assert POLICY.malloc_mmap_threshold_bytes >= 4 * 1024 * 1024  # above the upload chunks
