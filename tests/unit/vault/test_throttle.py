"""Per-client budgets against a real Redis, with the clock given by the test."""

from __future__ import annotations

import pytest
from redis import Redis

from vault.config import Budget
from vault.errors import LoginThrottledError
from vault.throttle import ClientBudget

T0 = 1_000_000_000  # ms


def _budget(redis: Redis, burst: int = 3, interval: int = 10) -> ClientBudget:
    return ClientBudget(redis, "t", Budget(burst=burst, interval_seconds=interval))


class TestBurstThenRate:
    def test_burst_then_refused_with_retry_after(self, redis: Redis) -> None:
        """`burst` attempts at once, then a refusal saying when the next one is allowed."""
        budget = _budget(redis)
        for _ in range(3):
            budget.spend("alice", now_ms=T0)
        with pytest.raises(LoginThrottledError) as info:
            budget.spend("alice", now_ms=T0)
        assert info.value.retry_after == 10

    def test_one_attempt_per_interval_after_the_burst(self, redis: Redis) -> None:
        budget = _budget(redis)
        for _ in range(3):
            budget.spend("alice", now_ms=T0)
        with pytest.raises(LoginThrottledError) as info:
            budget.spend("alice", now_ms=T0 + 9_500)
        assert info.value.retry_after == 1  # rounded up, never 0
        budget.spend("alice", now_ms=T0 + 10_000)
        with pytest.raises(LoginThrottledError):
            budget.spend("alice", now_ms=T0 + 10_000)
        budget.spend("alice", now_ms=T0 + 20_000)

    def test_full_budget_again_after_burst_intervals(self, redis: Redis) -> None:
        budget = _budget(redis)
        for _ in range(3):
            budget.spend("alice", now_ms=T0)
        for _ in range(3):
            budget.spend("alice", now_ms=T0 + 30_000)
        with pytest.raises(LoginThrottledError):
            budget.spend("alice", now_ms=T0 + 30_000)


class TestIsolation:
    def test_refused_attempts_are_not_charged(self, redis: Redis) -> None:
        """Hammering while refused does not push the client's next attempt further."""
        budget = _budget(redis)
        for _ in range(3):
            budget.spend("alice", now_ms=T0)
        for offset in range(0, 10_000, 100):  # 100 refused attempts in the interval
            with pytest.raises(LoginThrottledError):
                budget.spend("alice", now_ms=T0 + offset)
        budget.spend("alice", now_ms=T0 + 10_000)

    def test_other_clients_are_untouched(self, redis: Redis) -> None:
        """No service-wide counter: a client that flooded spends nobody else's budget."""
        budget = _budget(redis)
        for _ in range(3):
            budget.spend("flooder", now_ms=T0)
        for _ in range(200):
            with pytest.raises(LoginThrottledError):
                budget.spend("flooder", now_ms=T0)
        for client in ("alice", "bob"):
            for _ in range(3):
                budget.spend(client, now_ms=T0)

    def test_scopes_are_separate(self, redis: Redis) -> None:
        login = ClientBudget(redis, "login", Budget(burst=1, interval_seconds=60))
        create = ClientBudget(redis, "create", Budget(burst=1, interval_seconds=60))
        login.spend("alice", now_ms=T0)
        create.spend("alice", now_ms=T0)
        with pytest.raises(LoginThrottledError):
            login.spend("alice", now_ms=T0)


class TestRedisFootprint:
    def test_keys_are_hashed_and_expire_when_the_budget_is_full_again(self, redis: Redis) -> None:
        budget = _budget(redis, burst=3, interval=10)
        budget.spend("fc00:dead:beef:4dad::42")  # Redis's own clock
        keys = [k.decode() for k in redis.keys("*")]
        assert len(keys) == 1
        assert "4dad" not in keys[0] and keys[0].startswith("throttle:t:")
        assert 0 < redis.pttl(keys[0]) <= 10_000

    def test_a_refusal_writes_nothing(self, redis: Redis) -> None:
        budget = _budget(redis, burst=1, interval=10)
        budget.spend("alice", now_ms=T0)
        [key] = redis.keys("*")
        stored = redis.get(key)
        with pytest.raises(LoginThrottledError):
            budget.spend("alice", now_ms=T0 + 1)
        assert redis.get(key) == stored


def test_budgets_need_a_positive_burst_and_interval() -> None:
    from vault.errors import ConfigError

    with pytest.raises(ConfigError):
        Budget(burst=0, interval_seconds=10)
    with pytest.raises(ConfigError):
        Budget(burst=1, interval_seconds=0)
