"""A streaming multipart/form-data parser that hands file data over without copying it.

Werkzeug's parser copies every byte of a file part four times with the GIL held (into
its buffer, a slice for the partial-boundary check, a slice and a `bytes` of it for the
event) and reads at most half the form-field limit at a time. Here the body is read
straight into one buffer (`readinto`: from the socket, web_shared.direct_body), the
delimiter is looked for in place, and a file's container is given `memoryview`s of
that buffer, about 1 MiB each.

The contract a container must keep: **a view is valid only during the `write` call**
(the buffer is refilled after it returns); a container that keeps data must copy it.

Strict where the RFC is (RFC 7578, RFC 2046): lines end in CRLF, the body ends with the
closing delimiter. Anything else is a `MalformedMultipartError` (a ValueError: the form
parser's callers answer it as a bad request), never a silently shorter form, so a file
cut off before its closing delimiter is never taken for complete. Bounds: part headers
(`MAX_HEADER_BYTES`), the preamble, each text field and the number of parts
(`RequestEntityTooLarge`, as Werkzeug's).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Any

from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header

# The read buffer; a file part's data is handed over in pieces of up to this size.
BUFFER_BYTES = 1024 * 1024
# A refill goes on until at least this much is buffered (or the body ends): a few large
# writes to the container rather than one per TCP segment batch.
FILL_BYTES = 512 * 1024
# One part's header block (browsers send two or three short lines).
MAX_HEADER_BYTES = 16 * 1024
MAX_PREAMBLE_BYTES = 16 * 1024
# RFC 2046 says 1 to 70 characters; Werkzeug's own test client sometimes makes longer
# ones. A bound all the same (the delimiter is looked for in every buffer).
_MAX_BOUNDARY = 200
_CRLF = b"\r\n"


class MalformedMultipartError(ValueError):
    """The body is not multipart/form-data we can read; the message says where."""


StreamFactory = Callable[..., IO[bytes]]


class StreamingMultipartParser:
    """Parses a multipart body into (form, files) like Werkzeug's `MultiPartParser`."""

    def __init__(
        self,
        stream_factory: StreamFactory,
        max_form_memory_size: int | None = None,
        max_form_parts: int | None = None,
        cls: type[MultiDict[str, Any]] = MultiDict,
        buffer_bytes: int = BUFFER_BYTES,
        fill_bytes: int = FILL_BYTES,
    ) -> None:
        self.stream_factory = stream_factory
        self.max_form_memory_size = max_form_memory_size
        self.max_form_parts = max_form_parts
        self.cls = cls
        self.buffer_bytes = max(buffer_bytes, 2 * MAX_HEADER_BYTES)
        self.fill_bytes = max(1, min(fill_bytes, self.buffer_bytes // 2))

    def parse(
        self, stream: io.RawIOBase | io.BufferedIOBase, boundary: bytes, content_length: int | None
    ) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        if not 1 <= len(boundary) <= _MAX_BOUNDARY or _CRLF[:1] in boundary:
            raise MalformedMultipartError("invalid boundary")
        return _Parse(self, stream, boundary, content_length).run()


class _Parse:
    """One body: a buffer, the part being read, the fields and files so far."""

    def __init__(
        self,
        options: StreamingMultipartParser,
        stream: io.RawIOBase | io.BufferedIOBase,
        boundary: bytes,
        content_length: int | None,
    ) -> None:
        self.options = options
        self.stream = stream
        self.content_length = content_length
        # Every delimiter is CRLF "--" boundary; the first one (at the very start of the
        # body) has no CRLF before it, so the buffer starts with one.
        self.delimiter = _CRLF + b"--" + boundary
        size = options.buffer_bytes
        if content_length is not None:
            # A short form gets a buffer its size, not 1 MiB: a flood of small posts to
            # 64 threads must not hold 64 MiB.
            size = min(size, max(2 * MAX_HEADER_BYTES, content_length + len(_CRLF)))
        self.buffer = bytearray(size)
        self.view = memoryview(self.buffer)
        self.buffer[:2] = _CRLF
        self.start = 0  # unread data is buffer[start:end]
        self.end = 2
        self.eof = False
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, FileStorage]] = []
        self.parts = 0

    # -- the buffer -------------------------------------------------------------------
    def fill(self) -> None:
        """Keep the unread data, moved to the front, and read more after it."""
        if self.eof:
            raise MalformedMultipartError("the body ended before the closing boundary")
        kept = self.end - self.start
        if self.start:
            self.buffer[:kept] = self.view[self.start : self.end]
            self.start, self.end = 0, kept
        capacity = len(self.buffer)
        target = min(capacity, kept + self.options.fill_bytes)
        while self.end < target:
            read = self.stream.readinto(self.view[self.end : capacity])
            if not read:
                self.eof = True
                break
            self.end += read

    def find(self, needle: bytes) -> int:
        return self.buffer.find(needle, self.start, self.end)

    # -- the body ---------------------------------------------------------------------
    def run(self) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        self.skip_preamble()
        while self.after_delimiter():
            self.read_part()
        cls = self.options.cls
        return cls(self.fields), cls(self.files)

    def skip_preamble(self) -> None:
        while (found := self.find(self.delimiter)) < 0:
            if self.end - self.start > MAX_PREAMBLE_BYTES:
                raise MalformedMultipartError("no boundary at the start of the body")
            self.fill()
        self.start = found + len(self.delimiter)

    def after_delimiter(self) -> bool:
        """After a delimiter: True when a part follows, False after the closing one."""
        while self.end - self.start < 2:
            self.fill()
        if self.buffer[self.start : self.start + 2] == b"--":
            return False  # the closing delimiter; the epilogue is ignored
        # Transport padding (spaces, tabs) may follow a delimiter, then CRLF. The CRLF
        # stays: the header block is searched from it (an empty block is CRLF CRLF).
        while (line_end := self.find(_CRLF)) < 0:
            if self.end - self.start > _MAX_BOUNDARY:
                raise MalformedMultipartError("no line break after a boundary")
            self.fill()
        if self.buffer[self.start : line_end].strip(b" \t"):
            raise MalformedMultipartError("unexpected data after a boundary")
        self.start = line_end
        return True

    def read_headers(self) -> Headers:
        while (blank := self.find(b"\r\n\r\n")) < 0:
            if self.end - self.start > MAX_HEADER_BYTES:
                raise RequestEntityTooLarge("part headers too large")
            self.fill()
        if blank - self.start > MAX_HEADER_BYTES:
            raise RequestEntityTooLarge("part headers too large")
        block = bytes(self.view[self.start + 2 : blank])
        # The blank line's second CRLF starts the body, or, in a part with no body
        # (RFC 2046: headers only), is the next delimiter's.
        self.start = blank + 2
        while self.end - self.start < len(self.delimiter):
            self.fill()
        if not self.buffer.startswith(self.delimiter, self.start):
            self.start += 2
        headers = Headers()
        for line in block.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ").split(_CRLF):
            if not line:
                continue
            name, colon, value = line.decode("utf-8", "replace").partition(":")
            if not colon or not name.strip():
                raise MalformedMultipartError("a part header without a name")
            headers.add(name.strip(" \t"), value.strip(" \t"))
        return headers

    def read_part(self) -> None:
        self.parts += 1
        limit = self.options.max_form_parts
        if limit is not None and self.parts > limit:
            raise RequestEntityTooLarge()
        headers = self.read_headers()
        disposition = headers.get("content-disposition")
        if disposition is None:
            raise MalformedMultipartError("a part without Content-Disposition")
        _, params = parse_options_header(disposition)
        name = params.get("name", "")
        filename = params.get("filename")
        if filename is None:
            value = self.read_field()
            self.fields.append((name, value.decode(_charset(headers), "replace")))
            return
        container = self.options.stream_factory(
            total_content_length=self.content_length,
            filename=filename,
            content_type=headers.get("content-type"),
            content_length=0,
        )
        # Registered before its data is read: a caller that aborts unfinished
        # containers (a failed parse) finds this one too through its factory.
        self.stream_data(container.write)
        container.seek(0)
        self.files.append((name, FileStorage(container, filename, name, headers=headers)))

    def read_field(self) -> bytes:
        limit = self.options.max_form_memory_size
        pieces: list[bytes] = []
        size = 0

        def keep(data: memoryview) -> None:
            nonlocal size
            size += len(data)
            if limit is not None and size > limit:
                raise RequestEntityTooLarge()
            pieces.append(bytes(data))

        self.stream_data(keep)
        return b"".join(pieces)

    def stream_data(self, write: Callable[[memoryview], object]) -> None:
        """Hand the part's data to `write` up to the next delimiter, as views."""
        delimiter = self.delimiter
        # Data this far from the end cannot be the start of a delimiter.
        keep = len(delimiter) - 1
        while True:
            found = self.find(delimiter)
            if found >= 0:
                if found > self.start:
                    write(self.view[self.start : found])
                self.start = found + len(delimiter)
                return
            safe = self.end - keep
            if safe > self.start:
                write(self.view[self.start : safe])
                self.start = safe
            self.fill()


def _charset(headers: Headers) -> str:
    """A text field's charset, from a short safe list (as Werkzeug), else UTF-8."""
    content_type = headers.get("content-type")
    if content_type:
        charset = parse_options_header(content_type)[1].get("charset", "").lower()
        if charset in {"ascii", "us-ascii", "utf-8", "iso-8859-1"}:
            return charset
    return "utf-8"
