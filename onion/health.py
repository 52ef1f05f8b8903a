"""Is each onion service published, and does it answer through Tor?

Published: the tor we control fetches the service's descriptor from the onion-service
directories (HSFETCH), as any visitor's tor would. Answers: one HTTP request through a
Tor SOCKS port reaches the app. Neither check trusts the service tor's own view of
itself: both go through the network.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass

from stem import ControllerError, HSDescAction
from stem.control import Controller, EventType
from stem.response.events import HSDescEvent

from onion.errors import OnionError
from onion.socks import SocksError, fetch_status

__all__ = ["CLIENT_AUTH_MISSING", "ServiceHealth", "check_answers", "check_published"]

# Descriptor fetch failures that mean "not on the directories"; other failures (a
# descriptor we cannot decrypt without client authorization) prove it was published.
CLIENT_AUTH_MISSING = 0xF4
_NOT_PUBLISHED = frozenset({"NOT_FOUND", "QUERY_NO_HSDIR", "QUERY_RATE_LIMITED"})


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    address: str
    published: bool
    published_detail: str
    answers: bool | None = None  # None: not checked
    answers_detail: str = "not checked"

    @property
    def healthy(self) -> bool:
        return self.published and self.answers is not False


def check_published(
    controller: Controller, address: str, timeout: float = 60.0
) -> tuple[bool, str]:
    """Fetch `address`'s descriptor from the directories; (published, detail)."""
    onion = address.removesuffix(".onion")
    events: queue.Queue[HSDescEvent] = queue.Queue()

    def on_event(event: HSDescEvent) -> None:
        if event.address == onion:
            events.put(event)

    controller.add_event_listener(on_event, EventType.HS_DESC)
    try:
        try:
            controller.msg(f"HSFETCH {onion}")
        except ControllerError as exc:
            raise OnionError(f"tor refused HSFETCH: {exc}") from exc
        deadline = time.monotonic() + timeout
        reasons: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = events.get(timeout=left)
            except queue.Empty:
                break
            if event.action == HSDescAction.RECEIVED:
                return True, "descriptor fetched from the onion-service directories"
            if event.action == HSDescAction.FAILED:
                reason = str(event.reason or "UNKNOWN")
                if reason not in _NOT_PUBLISHED:
                    return True, f"descriptor on the directories (not readable here: {reason})"
                reasons.append(reason)
        detail = ", ".join(sorted(set(reasons))) or f"no answer in {timeout:.0f}s"
        return False, f"descriptor not found ({detail})"
    finally:
        controller.remove_event_listener(on_event)


def check_answers(
    socks: tuple[str, int],
    address: str,
    path: str = "/",
    timeout: float = 60.0,
    *,
    client_auth: bool = False,
) -> tuple[bool | None, str]:
    """One HTTP request to the service through Tor's SOCKS port; (answered, detail).

    For a service behind client authorization (`client_auth`), tor refusing us for want
    of a key (0xF4) is the expected answer: answered is then None (not provable from
    here) rather than False.
    """
    try:
        fetch = fetch_status(socks[0], socks[1], address, path, timeout=timeout)
    except SocksError as exc:
        if client_auth and exc.code == CLIENT_AUTH_MISSING:
            return None, "refused without a client key (0xF4), as it must be"
        return False, str(exc)
    except (OnionError, OSError) as exc:
        return False, f"no answer: {exc}"
    # Any HTTP answer proves the path through Tor to the app works; a 5xx does not.
    if fetch.status >= 500:
        return False, f"the app answered {fetch.status_line}"
    return True, f"HTTP {fetch.status}"
