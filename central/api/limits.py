"""Per-client rate limits and a short response cache, in Redis, shared by every API instance.

The limit is a window of 60 s that opens at the client's first call: one Lua script counts the call and
opens the window atomically, so N calls in a window succeed whichever instances they reach, never N + 1.
Cached answers are keyed by what the caller may see (scopes and sites) and the exact request, so two clients
with the same rights share entries and no client sees another's data.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import redis.asyncio as redis

from vigia.central.api.clients import Principal

WINDOW_MS = 60_000

# KEYS[1]: the client's counter; ARGV[1]: the window (ms). Returns {calls so far in the window, ms it has left}.
_COUNT = """
local calls = redis.call('INCR', KEYS[1])
if calls == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); left = tonumber(ARGV[1]) end
return {calls, left}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after_s: int     # when the window closes


class Limits:
    """The rate limiter and the response cache of one API instance (its Redis client, its key prefix)."""

    def __init__(self, client: redis.Redis, prefix: str, cache_ttl_s: float):
        self.redis, self.prefix, self.cache_ttl_ms = client, prefix, int(cache_ttl_s * 1000)
        self._count = client.register_script(_COUNT)

    async def hit(self, principal: Principal) -> Verdict:
        """Count a call of the client (or the user); allowed while within its limit a minute."""
        calls, left_ms = await self._count(keys=[f"{self.prefix}rate:{principal.rate_key}"], args=[WINDOW_MS])
        limit = principal.rate_per_minute
        return Verdict(calls <= limit, max(limit - calls, 0), max(1, -(-left_ms // 1000)))

    def cache_key(self, principal: Principal, method: str, path_qs: str, body: bytes) -> str:
        rights = json.dumps([sorted(principal.scopes), sorted(principal.sites) if principal.sites is not None else None])
        digest = hashlib.sha256(b"\0".join([rights.encode(), method.encode(), path_qs.encode(), body])).hexdigest()
        return f"{self.prefix}cache:{digest}"

    async def cached(self, key: str) -> bytes | None:
        if self.cache_ttl_ms <= 0:
            return None
        return await self.redis.get(key)

    async def store(self, key: str, body: bytes) -> None:
        if self.cache_ttl_ms > 0:
            await self.redis.set(key, body, px=self.cache_ttl_ms)
