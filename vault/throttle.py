"""Fixed-window attempt counters in Redis, per key and for the whole service."""

from __future__ import annotations

import hashlib

from redis import Redis

from vault.config import Throttle
from vault.errors import LoginThrottledError


class LoginThrottle:
    """Counts attempts; refuses once a key or the whole service exceeds its budget.

    Keys are hashed before they reach Redis, so a username or a codename derivation is
    never written there in the clear.
    """

    def __init__(self, redis: Redis, name: str, limits: Throttle) -> None:
        self.redis = redis
        self.name = name
        self.limits = limits

    def _key(self, key: str) -> str:
        digest = hashlib.sha256(f"{self.name}:{key}".encode()).hexdigest()
        return f"throttle:{self.name}:{digest}"

    def hit(self, key: str) -> None:
        """Record one attempt; raise LoginThrottledError when over budget."""
        window = self.limits.window_seconds
        pipe = self.redis.pipeline()
        per_key = self._key(key)
        overall = f"throttle:{self.name}:*all*"
        pipe.incr(per_key)
        pipe.expire(per_key, window, nx=True)
        pipe.incr(overall)
        pipe.expire(overall, window, nx=True)
        key_count, _, all_count, _ = pipe.execute()
        if int(key_count) > self.limits.per_key or int(all_count) > self.limits.globally:
            raise LoginThrottledError("too many attempts")

    def reset(self, key: str) -> None:
        self.redis.delete(self._key(key))
