"""Whether something was done already, without the database: for work that must happen exactly
when the database cannot be asked (the crisis lifeline, ``bot/channels/lifeline.py``).

``MemoryOnce`` answers for one process (the embedded default: one process on SQLite). With
``BOT_REDIS_URL`` (required when several processes share a database), ``RedisOnce`` answers for
all of them with ``SET NX EX``: a platform that redelivers a webhook to another process finds the
key. Redis away or slow, it falls back to this process's memory: doing it twice is better than not
at all. Keys are keyed hashes already (``Crypto.message_key``, pseudonyms); nothing a person wrote
is kept.

Stamps say when something last happened, across processes: the lifeline's watch asks whether a
crisis reply went out to a person, and the reply may have gone from another process. A stamp is
wall-clock time (processes on several hosts share no monotonic clock), kept ``STAMP_SECONDS``.
"""

from __future__ import annotations

import asyncio
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
STAMP_SECONDS = 600  # how long a stamp is kept: far longer than any watch waits
STAMP_WRITES = 100  # stamps on their way to Redis at once; more are kept here only


class Once(Protocol):
    async def first(self, key: str) -> bool:
        """True the first time ``key`` is seen (and records it), False after."""
        ...

    async def forget(self, key: str) -> None:
        """Not done after all (it failed): the next ``first`` of ``key`` is True again."""
        ...

    def stamp(self, key: str) -> float:
        """``key`` happened now (recorded here at once, elsewhere in the background): when."""
        ...

    async def stamped(self, key: str) -> float | None:
        """When ``key`` last happened in any process (``time.time()``), None if not lately."""
        ...

    async def close(self) -> None: ...


def _bounded(table: dict[str, float], now: float) -> None:
    """Room for one more key: expired ones go, then the oldest."""
    if len(table) >= MEMORY_KEYS:
        fresh = {k: until for k, until in table.items() if until > now}
        table.clear()
        table.update(fresh)
        while len(table) >= MEMORY_KEYS:
            del table[next(iter(table))]


class MemoryOnce:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._seen: dict[str, float] = {}  # key -> when it may be forgotten
        self._stamps: dict[str, float] = {}  # key -> when it happened (wall clock)
        self._clock = clock
        self._wall = wall

    def first_here(self, key: str) -> bool:
        now = self._clock()
        _bounded(self._seen, now)
        until = self._seen.get(key)
        if until is not None and until > now:
            return False
        self._seen[key] = now + ONCE_SECONDS
        return True

    async def first(self, key: str) -> bool:
        return self.first_here(key)

    async def forget(self, key: str) -> None:
        self._seen.pop(key, None)

    def stamp(self, key: str) -> float:
        now = self._wall()
        self._stamps.pop(key, None)  # re-inserted last: the dict stays oldest first
        _bounded(self._stamps, now - STAMP_SECONDS)
        self._stamps[key] = now
        return now

    def stamped_here(self, key: str) -> float | None:
        at = self._stamps.get(key)
        return at if at is not None and at > self._wall() - STAMP_SECONDS else None

    async def stamped(self, key: str) -> float | None:
        return self.stamped_here(key)

    async def close(self) -> None:
        return None


class RedisOnce:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_SECONDS, socket_connect_timeout=REDIS_SECONDS
        )
        self._prefix = f"{prefix}:once:"
        self._stamp_prefix = f"{prefix}:stamp:"
        self._memory = MemoryOnce()
        self._writes: set[asyncio.Task[None]] = set()

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

    def stamp(self, key: str) -> float:
        at = self._memory.stamp(key)
        if len(self._writes) >= STAMP_WRITES:  # Redis slow: this process remembers it alone
            log.warning("redis stamps behind")
            return at
        task = asyncio.create_task(self._write_stamp(key, at))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return at

    async def _write_stamp(self, key: str, at: float) -> None:
        try:
            await self._redis.set(self._stamp_prefix + key, repr(at).encode(), ex=STAMP_SECONDS)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis not reached", extra={"error": type(exc).__name__})

    async def stamped(self, key: str) -> float | None:
        here = self._memory.stamped_here(key)
        try:
            raw = await self._redis.get(self._stamp_prefix + key)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis not reached", extra={"error": type(exc).__name__})
            return here
        there = float(raw) if raw is not None else None
        known = [at for at in (here, there) if at is not None]
        return max(known) if known else None

    async def close(self) -> None:
        for task in list(self._writes):
            task.cancel()
        await self._redis.aclose()


def make_once(redis_url: str, prefix: str) -> Once:
    """Redis when configured, else this process's memory."""
    if redis_url.strip():
        return RedisOnce(redis_url, prefix)
    return MemoryOnce()
