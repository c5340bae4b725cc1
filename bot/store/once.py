"""Whether something was done already, without the database: for work that must happen exactly
when the database cannot be asked (the crisis lifeline, ``bot/channels/lifeline.py``).

``MemoryOnce`` answers for one process (the embedded default: one process on SQLite). With
``BOT_REDIS_URL`` (required when several processes share a database), ``RedisOnce`` answers for
all of them with ``SET NX EX``: a platform that redelivers a webhook to another process finds the
key. Redis away or slow, it falls back to this process's memory: doing it twice is better than not
at all. Keys are keyed hashes already (``Crypto.message_key``); nothing a person wrote is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("bot.store.once")

ONCE_SECONDS = 24 * 3600  # longer than any platform keeps redelivering one message
MEMORY_KEYS = 10_000  # a bound on what one process remembers
REDIS_SECONDS = 0.5  # Redis gets this long; then this process's memory decides


class Once(Protocol):
    async def first(self, key: str) -> bool:
        """True the first time ``key`` is seen (and records it), False after."""
        ...

    async def forget(self, key: str) -> None:
        """Not done after all (it failed): the next ``first`` of ``key`` is True again."""
        ...

    async def close(self) -> None: ...


class MemoryOnce:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: dict[str, float] = {}  # key -> when it may be forgotten
        self._clock = clock

    def first_here(self, key: str) -> bool:
        now = self._clock()
        if len(self._seen) >= MEMORY_KEYS:
            self._seen = {k: until for k, until in self._seen.items() if until > now}
            while len(self._seen) >= MEMORY_KEYS:  # all still fresh: the oldest go first
                del self._seen[next(iter(self._seen))]
        until = self._seen.get(key)
        if until is not None and until > now:
            return False
        self._seen[key] = now + ONCE_SECONDS
        return True

    async def first(self, key: str) -> bool:
        return self.first_here(key)

    async def forget(self, key: str) -> None:
        self._seen.pop(key, None)

    async def close(self) -> None:
        return None


class RedisOnce:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_SECONDS, socket_connect_timeout=REDIS_SECONDS
        )
        self._prefix = f"{prefix}:once:"
        self._memory = MemoryOnce()

    async def first(self, key: str) -> bool:
        here = self._memory.first_here(key)
        try:
            done = await self._redis.set(self._prefix + key, b"1", nx=True, ex=ONCE_SECONDS)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis not reached", extra={"error": type(exc).__name__})
            return here
        return bool(done)

    async def forget(self, key: str) -> None:
        await self._memory.forget(key)
        try:
            await self._redis.delete(self._prefix + key)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis not reached", extra={"error": type(exc).__name__})

    async def close(self) -> None:
        await self._redis.aclose()


def make_once(redis_url: str, prefix: str) -> Once:
    """Redis when configured, else this process's memory."""
    if redis_url.strip():
        return RedisOnce(redis_url, prefix)
    return MemoryOnce()
