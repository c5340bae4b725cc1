"""What keeps one hostile HTTP client from stalling the one event loop that answers survivors.

Every message, crisis reply and webhook is served by one asyncio loop. Anything a client can make
slow or big on that loop delays a crisis reply to someone else, so the app bounds it itself, not
only behind a proxy:

- ``BodyLimits`` (ASGI middleware on the whole app): a request body larger than its route's
  limit gets 413 before anything parses it (a declared ``Content-Length`` is refused unread; a
  chunked body is cut off at the limit), and a body that trickles in slower than the read time
  gets 408. A client that goes away mid-body is logged at INFO, never as an error with a trace.
- ``RateLimiter``: token buckets per key (an IP address, "everyone"), for the routes that do
  expensive work for strangers (sign-in, the second step, invitations).
- ``CpuPool``: a small, bounded pool of threads for work that leaves Python's interpreter lock
  while it runs (Argon2 password checks: the hashing is C code that releases the lock). When it is
  full, more work waits its turn off the loop; past ``queue`` waiting callers it is refused
  (``Busy``) instead of growing without end.
- ``ProcessPool``: the same bounds, in a child process, for pure-Python CPU work (reading and
  checking HSDS files). A thread running Python holds the interpreter's lock, and the event loop
  then waits up to a switch interval (5 ms) each time it wants it back: a crisis turn, which takes
  and gives back the lock hundreds of times, took seconds instead of a fraction of one while an
  import was checked in a thread. A child process has its own interpreter and lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("bot.http")
P = ParamSpec("P")
T = TypeVar("T")


# --- numbers a client sends ---


def client_int(value: object, most: int = 2**31 - 1) -> int | None:
    """A whole number typed or sent by a client, or None.

    Not ``str.isdigit()`` + ``int()``: "²" and "٣" are digits to ``isdigit`` that ``int`` refuses
    or reads differently, and a 5,000-digit number makes ``int`` raise and a database column
    overflow; each was a 500 before.
    """
    text = str(value if value is not None else "").strip()
    if not text or len(text) > 10 or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if number <= most else None


# --- request bodies ---


@dataclass(frozen=True)
class BodyRule:
    """Requests whose path starts with ``prefix`` may send at most ``max_bytes``."""

    prefix: str
    max_bytes: int


class BodyLimits:
    """Pure ASGI middleware: body size and read time, enforced before any view parses a body.

    ``rules`` are looked at longest prefix first; paths no rule names get ``default_bytes``. The
    read time covers the whole body, from the first read: a client cannot keep a request open by
    sending a byte now and then.
    """

    def __init__(
        self,
        app: ASGIApp,
        default_bytes: int,
        timeout_seconds: Callable[[], float],
        rules: tuple[BodyRule, ...] = (),
    ) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.timeout = timeout_seconds  # read per request: a setting may change under tests
        self.rules = tuple(sorted(rules, key=lambda r: len(r.prefix), reverse=True))

    def limit_for(self, path: str) -> int:
        for rule in self.rules:
            if path.startswith(rule.prefix):
                return rule.max_bytes
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = _declared_length(scope)
        if declared == -1:
            await _plain(send, 400, b"bad content-length")
            return
        if declared is not None and declared > limit:
            await _plain(send, 413, b"request body too large")
            return

        state = {"received": 0, "done": False, "started": False, "refused": False}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout()

        async def refuse(status: int, text: bytes) -> Message:
            if not state["started"]:
                state["started"] = True
                await _plain(send, status, text)
            state["refused"] = True
            return {"type": "http.disconnect"}

        async def bounded_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            if state["done"]:
                return await receive()  # e.g. a stream waiting for the client to go away
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.001))
            except TimeoutError:
                return await refuse(408, b"request body too slow")
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    return await refuse(413, b"request body too large")
                if not message.get("more_body", False):
                    state["done"] = True
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # our 413/408 went out; the view's answer to a cut-off body does not
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except ClientDisconnect:
            # Not an error of ours: a client that left (or that we cut off) mid-body.
            log.info("client went away", extra={"kind": "refused" if state["refused"] else "left"})


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number; None when absent, -1 when it is not a number."""
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            if not text or not text.isascii() or not text.isdigit() or len(text) > 18:
                return -1
            return int(text)
    return None


async def _plain(send: Send, status: int, text: bytes) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(text)).encode()),
    ]
    if status == 408:
        # A client too slow to send its body does not keep the connection. After a 413 it stays
        # open, so the client can read the answer before the server closes (closing with unread
        # bytes would reset the connection and lose the 413); the server discards the rest.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


# --- rates ---


class RateLimiter:
    """Token buckets: ``per_minute`` requests a minute per key, with a burst of the same size.

    In memory, like the contact locks: one bot process per database (docs/deploy.md). Buckets of
    keys not seen for ten minutes are dropped, so a flood of addresses cannot grow it forever.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()
        self._swept = clock()

    def take(self, key: str, per_minute: int) -> float:
        """0 when the request may go ahead (a token is taken); else seconds until one is free."""
        if per_minute <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            if now - self._swept > 600:
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 600}
                self._swept = now
            tokens, last = self._buckets.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * per_minute / 60.0)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) * 60.0 / per_minute


# --- CPU-heavy work ---


class Busy(RuntimeError):
    """Too much CPU-heavy work is already waiting: the caller should say "try again"."""


class CpuPool:
    """At most ``threads`` jobs at once in worker threads, at most ``queue`` more waiting.

    Its threads run at a lower priority (nice 10) than the event loop's: on a small machine a
    flood of password checks then takes the CPU the loop leaves, not the other way round, and a
    crisis reply is not kept waiting for a core.
    """

    def __init__(self, threads: int, queue: int, lower_priority: bool = True) -> None:
        self.threads = max(1, threads)
        self.queue = queue
        self.lower_priority = lower_priority
        self._waiting = 0
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                self.threads,
                thread_name_prefix="cpu",
                initializer=_lower_priority if self.lower_priority else None,
            )
        return self._executor

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._waiting >= self.queue + self.threads:
            raise Busy("cpu pool full")
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool(), functools.partial(fn, *args, **kwargs))
        finally:
            self._waiting -= 1


def _lower_priority() -> None:
    """In a new worker thread: nice 10 for this thread only (Linux gives each thread its own)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class ProcessPool:
    """At most ``processes`` jobs at once in child processes, at most ``queue`` more waiting.

    For pure-Python CPU work only: what runs here must be a module-level function whose arguments
    and result can be pickled. The children are started by a fork server (never a fork of this
    process, which holds threads, sockets and database connections), on first use, and run at
    ``nice`` (10 by default: the event loop's process is served first when both want a core; they
    hold no lock the loop waits for). A child that dies is replaced at the next call; the call it
    was running raises ``concurrent.futures.process.BrokenProcessPool``.
    """

    def __init__(self, processes: int, queue: int, nice: int = 10) -> None:
        self.processes = max(1, processes)
        self.queue = queue
        self.nice = nice
        self._waiting = 0
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._executor is None:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context(
                "forkserver" if "forkserver" in methods else "spawn"
            )
            self._executor = concurrent.futures.ProcessPoolExecutor(
                self.processes,
                mp_context=context,
                initializer=_nice_process,
                initargs=(self.nice,),
            )
        return self._executor

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._waiting >= self.queue + self.processes:
            raise Busy("process pool full")
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            pool = self._pool()
            try:
                return await loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))
            except BrokenProcessPool:
                if self._executor is pool:  # a child died: the next call starts a new one
                    self._executor = None
                    pool.shutdown(wait=False, cancel_futures=True)
                raise
        finally:
            self._waiting -= 1

    def shutdown(self) -> None:
        """Stop the children (work waiting is dropped; a call under way finishes first)."""
        pool, self._executor = self._executor, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _nice_process(nice: int) -> None:
    """In a new child process: lower its priority (the whole process: it is only this work)."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(nice)
