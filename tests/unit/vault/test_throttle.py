"""Login throttling against a real Redis."""

from __future__ import annotations

import pytest
from redis import Redis

from vault.config import Throttle
from vault.errors import LoginThrottledError
from vault.throttle import LoginThrottle


def test_per_key_budget(redis: Redis) -> None:
    throttle = LoginThrottle(redis, "t", Throttle(per_key=3, globally=100, window_seconds=60))
    for _ in range(3):
        throttle.hit("alice")
    with pytest.raises(LoginThrottledError):
        throttle.hit("alice")
    throttle.hit("bob")  # other keys are unaffected


def test_global_budget(redis: Redis) -> None:
    throttle = LoginThrottle(redis, "t", Throttle(per_key=100, globally=5, window_seconds=60))
    for i in range(5):
        throttle.hit(f"user{i}")
    with pytest.raises(LoginThrottledError):
        throttle.hit("someone-new")


def test_keys_are_hashed_and_expire(redis: Redis) -> None:
    throttle = LoginThrottle(redis, "t", Throttle(per_key=3, globally=100, window_seconds=60))
    throttle.hit("secret-username")
    keys = [k.decode() for k in redis.keys("*")]
    assert keys and all("secret-username" not in k for k in keys)
    assert all(0 < redis.ttl(k) <= 60 for k in keys)


def test_reset(redis: Redis) -> None:
    throttle = LoginThrottle(redis, "t", Throttle(per_key=1, globally=100, window_seconds=60))
    throttle.hit("k")
    throttle.reset("k")
    throttle.hit("k")
