"""The request body read straight into the reader's buffer: the same bytes as gunicorn's
own reads, what came with the head first, never past the body's length (the next
request on the connection is left alone), and a read failure marks the body failed."""

from __future__ import annotations

import os
import socket
import threading

import pytest
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import SocketUnreader

from web_shared.direct_body import DirectBody, direct_body


class _Unreader(SocketUnreader):
    """A socket reader with `recv_into`, as the guarded worker's."""

    def recv_into(self, buffer: memoryview) -> int:
        return self.sock.recv_into(buffer)


def _body(held: bytes, sent: bytes, length: int) -> tuple[DirectBody, socket.socket]:
    ours, theirs = socket.socketpair()

    def send() -> None:
        theirs.sendall(sent)
        theirs.shutdown(socket.SHUT_WR)

    threading.Thread(target=send, daemon=True).start()
    unreader = _Unreader(ours)
    unreader.unread(held)
    body = direct_body(Body(LengthReader(unreader, length)))
    assert isinstance(body, DirectBody)
    return body, ours


def test_readinto_gives_the_body_then_stops_at_its_length() -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    held, rest = payload[:1000], payload[1000:]
    body, sock = _body(held, rest + b"GET /next HTTP/1.1\r\n", len(payload))
    got = bytearray()
    buffer = bytearray(256 * 1024)
    while received := body.readinto(buffer):
        got += buffer[:received]
    assert bytes(got) == payload
    # The next request's bytes are still on the socket, unread.
    assert sock.recv(100) == b"GET /next HTTP/1.1\r\n"
    sock.close()


def test_read_and_readinto_mixed_keep_the_order() -> None:
    payload = os.urandom(200_000)
    body, sock = _body(payload[:10], payload[10:], len(payload))
    first = body.read(50_000)
    buffer = bytearray(100_000)
    received = body.readinto(buffer)
    rest = body.read()
    assert first + bytes(buffer[:received]) + rest == payload
    sock.close()


def test_a_failed_receive_marks_the_body_failed() -> None:
    class Failing(_Unreader):
        def recv_into(self, buffer: memoryview) -> int:
            raise TimeoutError

    ours, theirs = socket.socketpair()
    body = direct_body(Body(LengthReader(Failing(ours), 10)))
    with pytest.raises(TimeoutError):
        body.readinto(bytearray(10))
    assert body.failed
    ours.close()
    theirs.close()


def test_other_bodies_are_left_as_they_are() -> None:
    ours, theirs = socket.socketpair()
    plain = Body(LengthReader(SocketUnreader(ours), 10))  # no recv_into
    assert direct_body(plain) is plain
    chunked = Body(ChunkedReader(None, _Unreader(ours)))
    assert direct_body(chunked) is chunked
    ours.close()
    theirs.close()
