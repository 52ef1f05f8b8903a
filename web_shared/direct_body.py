"""A request body of known length read straight from the socket into the reader's
buffer (`readinto`), for gunicorn 27's `http/body.py` (pinned in pyproject).

gunicorn's `Body.read` goes through three buffers (the socket reader's, the length
reader's, the body's), each a `BytesIO` written, read back whole and sliced: about six
copies of every byte before the application sees it, with the GIL held. An upload is
a gigabyte of them. Werkzeug's `LimitedStream` calls `readinto` when the stream has
it; here it empties what gunicorn already holds (the bytes read with the request's
head), then `recv_into`s the caller's buffer under the request's read deadline
(`_GuardedUnreader.recv_into`, web_shared.serving_worker). Reads with `read` behave as
before, and both can be mixed.
"""

from __future__ import annotations

import io
from typing import Any, Protocol

from gunicorn.http.body import Body, LengthReader


class _Receiving(Protocol):
    buf: io.BytesIO

    def recv_into(self, buffer: memoryview) -> int: ...


class DirectBody(Body):
    """gunicorn's body with `readinto` for a body of known length."""

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.buf.tell():
            # Bytes `read` left over: hand those first, as `read` would.
            data = self.read(len(view))
            view[: len(data)] = data
            return len(data)
        reader: LengthReader = self.reader
        want = min(len(view), reader.length)
        if want <= 0:
            return 0
        unreader: _Receiving = reader.unreader
        held = unreader.buf.getvalue()
        if held:
            # What came with the request's head (or was pushed back): first, in order.
            taken = held[:want]
            unreader.buf = io.BytesIO()
            unreader.buf.write(held[want:])
            received = len(taken)
            view[:received] = taken
        else:
            try:
                received = unreader.recv_into(view[:want])
            except Exception:
                self.failed = True  # as gunicorn's read: the connection is not reused
                raise
        reader.length -= received
        return received


def direct_body(body: Any) -> Any:
    """`body` with `readinto` when it is a fresh body of known length read from a
    guarded socket reader; anything else (chunked, no length) as it was."""
    reader = getattr(body, "reader", None)
    if (
        type(body) is not Body
        or not isinstance(reader, LengthReader)
        or not hasattr(reader.unreader, "recv_into")
        or body.buf.tell()
    ):
        return body
    return DirectBody(reader)
