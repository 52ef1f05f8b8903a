"""Talking to a running tor's control socket (cookie authentication).

`reload()` uses a bare control socket, not stem's `Controller`: a Controller subscribes
to SIGNAL events and, on the RELOAD it has just sent, its event thread waits for the
lock that `close()` holds while joining that very thread - a deadlock (stem 1.8).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from stem import SocketError
from stem.connection import AuthenticationFailure, authenticate
from stem.control import Controller
from stem.socket import ControlSocketFile

from onion.errors import OnionError

__all__ = ["connect", "reload"]


def reload(socket_path: Path) -> None:
    """SIGNAL RELOAD: tor rereads its configuration and every authorized_clients/."""
    try:
        sock = ControlSocketFile(str(socket_path))
    except SocketError as exc:
        raise OnionError(f"cannot reach tor's control socket {socket_path}: {exc}") from exc
    try:
        authenticate(sock)
        sock.send("SIGNAL RELOAD")
        reply = sock.recv()
        if not reply.is_ok():
            raise OnionError(f"tor refused to reload: {reply}")
    except (AuthenticationFailure, SocketError) as exc:
        raise OnionError(f"tor's control socket {socket_path}: {exc}") from exc
    finally:
        sock.close()


@contextlib.contextmanager
def connect(socket_path: Path) -> Iterator[Controller]:
    """An authenticated stem Controller (events, GETINFO); closed on exit."""
    try:
        controller = Controller.from_socket_file(str(socket_path))
    except SocketError as exc:
        raise OnionError(f"cannot reach tor's control socket {socket_path}: {exc}") from exc
    try:
        controller.authenticate()
    except AuthenticationFailure as exc:
        controller.close()
        raise OnionError(f"tor refused our control connection: {exc}") from exc
    try:
        yield controller
    finally:
        controller.close()
