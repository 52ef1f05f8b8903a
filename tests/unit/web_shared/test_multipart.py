"""The streaming multipart parser on hostile and awkward bodies.

Bodies are made by Werkzeug's own encoder (as the test client sends them) or by hand,
and read back through streams that return few bytes per read, with the parser set to
parse after every read, so every delimiter, CRLF and header block is split across reads
at every offset somewhere in these tests.
"""

from __future__ import annotations

import io
import os
import random
import tracemalloc
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser
from werkzeug.test import EnvironBuilder

from web_shared.multipart import (
    MAX_HEADER_BYTES,
    MalformedMultipartError,
    StreamingMultipartParser,
)

BOUNDARY = b"----formboundaryX7y"


class Dribble(io.RawIOBase):
    """A body handed over at most `step` bytes per read (random sizes with step 0)."""

    def __init__(self, body: bytes, step: int, seed: int = 0) -> None:
        self._body = body
        self._pos = 0
        self._step = step
        self._rng = random.Random(seed)  # read sizes, not secrets

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        step = self._step or self._rng.randint(1, 300)
        size = min(len(view), step, len(self._body) - self._pos)
        view[:size] = self._body[self._pos : self._pos + size]
        self._pos += size
        return size


class Container:
    """A file container that keeps copies of what it is given, and what type it was."""

    def __init__(self, filename: str | None) -> None:
        self.filename = filename
        self.data = bytearray()
        self.kinds: set[type] = set()
        self.rewound = False

    def write(self, data: Any) -> int:
        self.kinds.add(type(data))
        self.data += data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.rewound = True
        return 0


class Factory:
    def __init__(self) -> None:
        self.made: list[Container] = []

    def __call__(self, **kwargs: Any) -> Any:
        container = Container(kwargs["filename"])
        self.made.append(container)
        return container


def _parse(
    body: bytes, boundary: bytes = BOUNDARY, step: int = 0, **options: Any
) -> tuple[MultiDict[str, str], MultiDict[str, Any], Factory]:
    factory = Factory()
    options.setdefault("fill_bytes", 1)  # parse after each read, however short
    parser = StreamingMultipartParser(factory, **options)
    form, files = parser.parse(Dribble(body, step), boundary, len(body))
    return form, files, factory


def _part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"Content-Disposition: {disposition}\r\n".encode()
    return b"--" + BOUNDARY + b"\r\n" + head + b"\r\n" + data + b"\r\n"


def _end() -> bytes:
    return b"--" + BOUNDARY + b"--\r\n"


# Data that looks like the start of a delimiter, again and again, without being one.
TRICKY = (
    b"\r\n--" + BOUNDARY[:-1] + b"\r\n\r\n-" + b"\r\n--" + BOUNDARY[:5] + os.urandom(3000)
) * 3 + b"\r"


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 0, 1 << 20])
@pytest.mark.parametrize("buffer_bytes", [1, 40_000, 1 << 20])
def test_fields_and_files_arrive_whole_whatever_the_read_sizes(
    step: int, buffer_bytes: int
) -> None:
    photo = os.urandom(200_000) + TRICKY
    body = (
        _part("csrf_token", b"tok")
        + _part("msg", "témoignage\r\nligne".encode())
        + _part("fh", photo, "photo.jpg")
        + _part("fh", TRICKY, "notes.txt")
        + _end()
    )
    form, files, factory = _parse(body, step=step, buffer_bytes=buffer_bytes)
    assert form.to_dict(flat=False) == {"csrf_token": ["tok"], "msg": ["témoignage\r\nligne"]}
    assert [f.filename for f in files.getlist("fh")] == ["photo.jpg", "notes.txt"]
    assert [bytes(c.data) for c in factory.made] == [photo, TRICKY]
    assert all(c.rewound for c in factory.made)
    # The file data is handed over as views of the read buffer, never copied first.
    assert factory.made[0].kinds == {memoryview}


def test_same_result_as_werkzeug_on_what_its_test_client_sends() -> None:
    files = {
        "fh": (io.BytesIO(os.urandom(70_000)), "a.bin"),
        "empty": (io.BytesIO(b""), ""),
        "named_empty": (io.BytesIO(b""), "nothing.txt"),
    }
    environ = EnvironBuilder(
        method="POST",
        data={"msg": "hello\nworld", "csrf_token": "t", **files},
        content_type="multipart/form-data",
    ).get_environ()
    body = environ["wsgi.input"].read()
    boundary = environ["CONTENT_TYPE"].split("boundary=")[1].strip('"').encode()
    form, parsed, factory = _parse(body, boundary, step=0)
    theirs_form, theirs_files = MultiPartParser().parse(io.BytesIO(body), boundary, len(body))
    assert form == theirs_form
    assert [(k, f.filename) for k, f in parsed.items(multi=True)] == [
        (k, f.filename) for k, f in theirs_files.items(multi=True)
    ]
    assert [bytes(c.data) for c in factory.made] == [f.stream.read() for f in theirs_files.values()]


def test_a_missing_closing_boundary_is_an_error_not_a_shorter_file() -> None:
    body = _part("csrf_token", b"tok") + _part("fh", os.urandom(50_000), "cut.bin")
    with pytest.raises(MalformedMultipartError, match="before the closing boundary"):
        _parse(body, step=0)


def test_a_body_cut_inside_the_file_is_an_error() -> None:
    body = _part("csrf_token", b"tok") + b"--" + BOUNDARY + b"\r\n"
    body += b'Content-Disposition: form-data; name="fh"; filename="x"\r\n\r\n' + os.urandom(9000)
    with pytest.raises(MalformedMultipartError):
        _parse(body, step=0)


def test_huge_part_headers_are_refused_without_being_held() -> None:
    header = b"X-Padding: " + b"a" * (MAX_HEADER_BYTES + 10) + b"\r\n"
    body = b"--" + BOUNDARY + b"\r\n" + header + b"Content-Disposition: form-data; name=x"
    body += b"\r\n\r\nv\r\n" + _end()
    with pytest.raises(RequestEntityTooLarge):
        _parse(body, step=0)
    # Endless headers (no blank line ever) stop at the same bound.
    endless = b"--" + BOUNDARY + b"\r\n" + b"X-A: b\r\n" * 100_000
    with pytest.raises(RequestEntityTooLarge):
        _parse(endless, step=0)


def test_no_boundary_anywhere() -> None:
    with pytest.raises(MalformedMultipartError, match="no boundary"):
        _parse(os.urandom(100_000), step=0)
    with pytest.raises(MalformedMultipartError):
        _parse(b"", step=0)


@pytest.mark.parametrize(
    "bad",
    [
        b"--" + BOUNDARY + b"junk\r\n",  # something after the boundary on its line
        b"--" + BOUNDARY + b"\r\nno colon here\r\n\r\nv\r\n" + _end(),
        b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nv\r\n" + _end(),
    ],
)
def test_malformed_parts(bad: bytes) -> None:
    with pytest.raises(MalformedMultipartError):
        _parse(bad, step=0)


def test_invalid_boundaries() -> None:
    for boundary in (b"", b"x" * 201, b"a\rb"):
        with pytest.raises(MalformedMultipartError):
            _parse(_part("a", b"b") + _end(), boundary)
    # Longer than RFC 2046's 70, as Werkzeug's test client sometimes makes them.
    long = b"L" * 90
    body = (_part("a", b"b") + _end()).replace(BOUNDARY, long)
    assert _parse(body, long)[0]["a"] == "b"


def test_bounds_on_fields_and_parts() -> None:
    with pytest.raises(RequestEntityTooLarge):
        _parse(_part("msg", b"x" * 5000) + _end(), max_form_memory_size=4096)
    many = b"".join(_part(f"f{i}", b"v") for i in range(20)) + _end()
    with pytest.raises(RequestEntityTooLarge):
        _parse(many, max_form_parts=10)
    form, _, _ = _parse(many, max_form_parts=20)
    assert len(form) == 20


def test_padding_after_a_boundary_and_an_epilogue_are_accepted() -> None:
    body = b"preamble text\r\n--" + BOUNDARY + b" \t\r\n"
    body += b'Content-Disposition: form-data; name="a"\r\n\r\nb\r\n'
    body += _end() + b"epilogue, ignored"
    form, _, _ = _parse(body, step=1)
    assert form["a"] == "b"


def test_a_short_form_gets_a_buffer_its_size_not_a_mebibyte() -> None:
    """A flood of small posts to the source app's 64 threads must not hold 64 MiB."""
    body = _part("csrf_token", b"tok") + _part("msg", b"a short message") + _end()
    tracemalloc.start()
    try:
        form, _files, _factory = _parse(body)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert form["msg"] == "a short message"
    assert peak < 128 * 1024, peak
