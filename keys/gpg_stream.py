"""Streaming encryption through a gpg process: an upload in, its ciphertext to a file.

The multipart parser pushes an upload to us, so we feed gpg's stdin ourselves, in large
writes (writev); a thread takes the ciphertext from gpg's stdout, hashes it (the custody
chain's SHA-256 of the sealed file) and writes it to the store's file.

Both pipes are shaped by how gpg does its I/O: it reads and writes 8 KiB at a time.

- In: Linux wakes a writer blocked on a full pipe each time a read frees room, so a
  blocking writer pays two context switches per 8 KiB that gpg takes. Ours writes
  without blocking and, when the pipe is full, pauses a millisecond: gpg drains a few
  hundred KB meanwhile, from a 1 MiB pipe that stays far from empty.
- Out: gpg's 8 KiB writes go to a pipe, not to the file system (on a virtual machine a
  small file write costs several times a pipe write); the thread hashes what it reads
  as it comes, gathers it into a page-aligned 1 MiB buffer and writes each full buffer
  around the page cache (keys.direct_file), without reading the file back.
  A reader waiting on an empty pipe would be woken for each 8 KiB, so after a short
  read the thread pauses a millisecond and lets gpg's writes gather. At Tor speeds
  that is at most a thousand reads a second, each blocking until gpg writes.
- That thread runs at the same priority as gpg. It ran at nice 10 while it wrote
  through the page cache (then its heaviest work): since it writes around it, it keeps
  up with gpg at the same priority, and gpg no longer waits on a full output pipe for a
  thread that waits for a core (docs/benchmarks.md, "Upload throughput").
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import subprocess  # nosec B404
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from keys.direct_file import DirectFile, aligned_buffer
from keys.errors import SealError

CHUNK = 1024 * 1024
_IOV_MAX = 512  # below Linux's 1024 buffers per writev(2)
_F_SETPIPE_SZ = 1031  # Linux fcntl: fewer, larger pipe transfers to and from gpg
# How long a writer facing a full pipe lets gpg drain it before trying again, and the
# reader of a nearly empty one lets gpg fill it.
_FULL_PIPE_PAUSE = 0.001
_SHORT_READ = CHUNK // 4


def shred_file(path: Path) -> None:
    """Overwrite a partial output with random bytes, then remove it. In place: this takes
    no new blocks, so it also works when the disk is full (an aborted upload)."""
    try:
        size = path.stat().st_size
        with open(path, "r+b", buffering=0) as handle:
            for start in range(0, size, CHUNK):
                handle.write(secrets.token_bytes(min(CHUNK, size - start)))
            os.fsync(handle.fileno())
    except FileNotFoundError:
        return
    finally:
        path.unlink(missing_ok=True)


def _widen_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is None:
            continue
        try:
            fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, CHUNK)
        except OSError:
            pass  # above /proc/sys/fs/pipe-max-size: keep the default


class GpgStream:
    """Ciphertext of what is written goes to `output`; SHA-256 and size of it are kept.

    `output` is created here, exclusively; on any failure (or `abort`) what was written
    to it is shredded.
    """

    def __init__(self, argv: list[str], output: Path) -> None:
        self._output = output
        self._sink = DirectFile(output)
        try:
            self._proc = subprocess.Popen(  # nosec B603
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
            )
        except BaseException:
            self._sink.close()
            output.unlink(missing_ok=True)
            raise
        _widen_pipes(self._proc)
        if self._proc.stdin is not None:
            os.set_blocking(self._proc.stdin.fileno(), False)
        self._digest = hashlib.sha256()
        self.size = 0
        self._drain_error: BaseException | None = None
        self._drain = threading.Thread(target=self._take_output, daemon=True)
        self._drain.start()
        self._closed = False

    def _take_output(self) -> None:
        """Hash and store gpg's output until it closes its stdout (it exited)."""
        stdout = self._proc.stdout
        # One buffer, filled again and again: a fresh 1 MiB `bytes` per read is fresh
        # pages from the kernel, zeroed, for every MiB of ciphertext. Page-aligned and
        # written only when full, so that the file takes it directly.
        buffer = aligned_buffer(CHUNK)
        view = memoryview(buffer)
        try:
            if stdout is None:  # Popen was given PIPE: cannot happen
                raise SealError("gpg has no output pipe")
            fd, filled = stdout.fileno(), 0
            while read := os.readv(fd, [view[filled:]]):
                self._digest.update(view[filled : filled + read])
                filled += read
                self.size += read
                if filled == CHUNK:
                    self._sink.write(view)
                    filled = 0
                elif read < _SHORT_READ:
                    time.sleep(_FULL_PIPE_PAUSE)  # see the module's docstring
            self._sink.write(view[:filled])
        except BaseException as exc:  # surfaced by close()
            self._drain_error = exc
            # gpg would wait forever on a pipe nobody empties, and the writer with it.
            self._proc.kill()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def write(self, data: bytes) -> int:
        return self.write_parts([data])

    def write_parts(self, parts: Sequence[bytes | memoryview]) -> int:
        """Write buffers in order with writev(2): framing and data without a join."""
        stdin = self._proc.stdin
        if stdin is None:
            raise SealError("gpg has no input pipe")
        total = sum(len(part) for part in parts)
        pending = [part for part in parts if len(part)]
        try:
            fd = stdin.fileno()
            while pending:
                try:
                    written = os.writev(fd, pending[:_IOV_MAX])
                except BlockingIOError:
                    time.sleep(_FULL_PIPE_PAUSE)  # see the module's docstring
                    continue
                while pending and written >= len(pending[0]):
                    written -= len(pending[0])
                    pending.pop(0)
                if written:
                    pending[0] = memoryview(pending[0])[written:]
        except (BrokenPipeError, ValueError) as exc:
            raise SealError("gpg stopped accepting data") from exc
        return total

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        except BrokenPipeError:
            pass
        stderr = self._proc.stderr.read() if self._proc.stderr else b""
        code = self._proc.wait()
        self._drain.join()
        try:
            self._sink.sync()
        except OSError as exc:
            self._drain_error = self._drain_error or exc
        finally:
            self._sink.close()
        if code != 0 or self._drain_error is not None:
            shred_file(self._output)
            raise SealError(
                f"gpg failed ({code}): {stderr.decode(errors='replace')[:200]}"
            ) from self._drain_error

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._closed = True
        try:
            if self._proc.stdin:
                self._proc.stdin.close()
        except BrokenPipeError:
            pass
        self._proc.wait()
        self._drain.join()
        self._sink.close()
        shred_file(self._output)
