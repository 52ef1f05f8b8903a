"""Per-client attempt budgets in Redis: a flood costs the flooding client, nobody else.

Each client (see `web_shared.client.client_key`: over Tor, one circuit) has its own budget
per scope: `burst` attempts at once, then one every `interval_seconds` (the generic cell
rate algorithm, GCRA). There is no service-wide counter: one client's attempts, refused
or not, never spend another client's budget, so no flood can lock a real user out.

Deciding costs one Redis round trip (a script run atomically in Redis), and is meant to
be the first costly thing a login does: a refused attempt then costs that round trip and
nothing else (no scrypt, no argon2, no database). A refused attempt does not spend the
budget either: the client can try again as soon as `retry_after` has passed.

Redis holds one key per client and scope, named by a hash of the client key, expiring as
soon as the client's budget is full again.
"""

from __future__ import annotations

import hashlib
import math

from redis import Redis

from vault.config import Budget
from vault.errors import LoginThrottledError

__all__ = ["ClientBudget"]

KEY_PREFIX = "throttle"

# GCRA: the key holds the "theoretical arrival time" (ms) of the client's next attempt.
# An attempt is allowed when it would not push that time more than `burst` intervals
# past now. Answers 0 (allowed, charged) or the milliseconds until the next allowed one
# (refused, nothing written). `now` comes from the caller in tests, otherwise from Redis's
# own clock, so several app servers share one clock.
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
"""


class ClientBudget:
    """One scope's budget ("source-login", "reviewer-login"...), checked per client."""

    def __init__(self, redis: Redis, scope: str, budget: Budget) -> None:
        self.scope = scope
        self.budget = budget
        self._script = redis.register_script(_GCRA)

    def _key(self, client: str) -> str:
        # Client keys are already keyed hashes; hashing again keeps any caller's raw
        # value (an address) out of Redis whatever it passes.
        digest = hashlib.sha256(f"{self.scope}\0{client}".encode()).hexdigest()
        return f"{KEY_PREFIX}:{self.scope}:{digest}"

    def spend(self, client: str, *, now_ms: int | None = None) -> None:
        """Charge one attempt to `client`, or raise LoginThrottledError (nothing charged).

        `now_ms` is for tests of the arithmetic; the service uses Redis's clock.
        """
        interval_ms = self.budget.interval_seconds * 1000
        wait_ms = int(
            self._script(
                keys=[self._key(client)],
                args=[interval_ms, self.budget.burst, "" if now_ms is None else now_ms],
            )
        )
        if wait_ms > 0:
            raise LoginThrottledError(retry_after=max(math.ceil(wait_ms / 1000), 1))
