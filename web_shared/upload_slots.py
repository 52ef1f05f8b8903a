"""A cap on the uploads one worker process streams at once, so pages always get a thread.

An upload through Tor holds a thread for minutes. Without a cap, a few slow uploads (or
an attacker posting slowly from several circuits) would take every thread of a worker
and pages would wait. Beyond the cap an upload is refused at once with a 503 and
`Retry-After`, before a byte of its body is read; each app renders `UploadsBusy` as its
own translated page. The numbers come from `web_shared.serving` (the serving policy).
"""

from __future__ import annotations

import threading

from flask import Flask, Response, g, request
from werkzeug.exceptions import ServiceUnavailable

from web_shared.serving import POLICY, ServingPolicy

__all__ = ["UploadsBusy", "install", "is_upload"]

_HELD = "_upload_slot_held"
_REFUSED = "_upload_slot_refused"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class UploadsBusy(ServiceUnavailable):
    """Every upload slot of this worker is taken; try again in a minute."""

    description = "uploads busy"


def is_upload(method: str, content_length: int | None, threshold: int) -> bool:
    """A request whose body takes a while: large, or of unknown length (chunked)."""
    if method not in _BODY_METHODS:
        return False
    return content_length is None or content_length > threshold


def install(app: Flask, policy: ServingPolicy = POLICY) -> None:
    """Register the cap. Call before anything that reads a body (CSRF, NUL check):
    `before_request` functions run in the order they were registered."""
    slots = threading.BoundedSemaphore(policy.upload_slots)

    def take_slot() -> None:
        if not is_upload(request.method, request.content_length, policy.upload_threshold_bytes):
            return
        if not slots.acquire(blocking=False):
            setattr(g, _REFUSED, True)
            raise UploadsBusy()
        setattr(g, _HELD, True)

    def release_slot(_exc: BaseException | None = None) -> None:
        if g.pop(_HELD, False):
            slots.release()

    def retry_after(response: Response) -> Response:
        if g.get(_REFUSED):
            response.headers["Retry-After"] = str(policy.upload_retry_after_seconds)
        return response

    app.before_request(take_slot)
    app.after_request(retry_after)
    app.teardown_request(release_slot)
