"""Who "one client" is, for the per-client budgets of vault.throttle.

Over Tor every connection comes from the local tor daemon. Production's tor sends a
PROXY protocol line for each connection (`HiddenServiceExportCircuitID haproxy`), from
which gunicorn sets REMOTE_ADDR to an address unique to the Tor circuit
(fc00:dead:beef:4dad::<circuit id>): one client is one circuit. Without that (e.g.
development without tor, or a run without PROXY protocol) every client shares
127.0.0.1 and so one budget: a flood there spends everyone's, which is fine on a
developer's machine and the reason production must keep PROXY protocol on.

The key is a keyed hash of the address (the app's secret key), so neither Redis nor a
copy of it learns even a circuit number.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, request

__all__ = ["client_key"]

_NO_ADDRESS = "unknown"  # a unix socket without PROXY protocol: one shared client


def client_key() -> str:
    """A stable, opaque key for the client making the current request."""
    address = request.remote_addr or _NO_ADDRESS
    secret = current_app.secret_key
    if not isinstance(secret, bytes | str) or not secret:
        raise RuntimeError("the app needs a secret key to name clients")
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, b"client\0" + address.encode(), hashlib.sha256).hexdigest()
