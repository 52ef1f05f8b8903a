"""Deliver an envelope to a peer: one HTTP POST to its federation onion service, through
tor's SOCKS (`onion.socks.connect_through`: the name goes to tor, never resolved here),
the answer read with the standard library's HTTP parser, bounded."""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass

from federation.errors import DeliveryError
from onion.errors import OnionError
from onion.socks import SocksError, connect_through

__all__ = ["ENDPOINT", "Answer", "deliver"]

ENDPOINT = "/v1/envelope"
_MAX_ANSWER = 64 * 1024
# tor could not reach the service (yet): the envelope never left, it may be sent again.
# 0xF4/0xF5 (client authorization missing or wrong) too: right after a peer adds us,
# the descriptor that lists our key takes a while to be published. A bad address
# (0xF6) is not retried.
_TRANSIENT = {0x01, 0x04, 0x06, 0xF0, 0xF2, 0xF3, 0xF4, 0xF5, 0xF7}


@dataclass(frozen=True)
class Answer:
    status: int
    accepted: bool
    reason: str | None  # the peer's refusal reason
    object_uuid: str | None


class _SocketConnection(http.client.HTTPConnection):
    """http.client over a socket that is already connected (through tor)."""

    def __init__(self, sock: socket.socket, host: str, timeout: float) -> None:
        super().__init__(host, 80, timeout=timeout)
        self.sock = sock

    def connect(self) -> None:  # the socket is connected already
        return


def _post(socks: tuple[str, int], onion: str, payload: bytes, timeout: float) -> Answer:
    sock = connect_through(socks[0], socks[1], onion, 80, timeout)
    connection = _SocketConnection(sock, onion, timeout)
    try:
        connection.request(
            "POST",
            ENDPOINT,
            body=payload,
            headers={"Content-Type": "application/json", "Connection": "close"},
        )
        response = connection.getresponse()
        data = response.read(_MAX_ANSWER)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"no answer from the peer: {type(exc).__name__}") from exc
    finally:
        connection.close()
    try:
        answer = json.loads(data) if data else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    reason = answer.get("refused")
    obj = answer.get("object")
    return Answer(
        status=status,
        accepted=status == 200 and "accepted" in answer,
        reason=reason if isinstance(reason, str) else None,
        object_uuid=obj if isinstance(obj, str) else None,
    )


def deliver(
    socks: tuple[str, int], onion: str, payload: bytes, *, timeout: float, wait: float = 0.0
) -> Answer:
    """POST `payload` to `onion`; retried for up to `wait` seconds while tor cannot
    reach the service (a descriptor not yet published): then nothing was sent, so a
    retry is never a replay. DeliveryError when it never got an answer."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return _post(socks, onion, payload, timeout)
        except SocksError as exc:
            if exc.code not in _TRANSIENT or time.monotonic() >= deadline:
                raise DeliveryError(f"the peer's service is unreachable: {exc}") from exc
        except (OSError, OnionError) as exc:  # tor itself unreachable, or hung up
            if time.monotonic() >= deadline:
                raise DeliveryError(f"the peer's service is unreachable: {exc}") from exc
        time.sleep(2.0)
