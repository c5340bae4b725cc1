"""Events across every bot process on one PostgreSQL database: LISTEN/NOTIFY.

Each process LISTENs on one channel and NOTIFYs there what its bus delivered (after the commit
of the change it announces). A notification carries the event as JSON: the process it came from,
the kind, the conversation id, and the event's small data (ids and enumerated values, never
message text, which is why the bus's rule "no text in events" is enough to keep text out of the
database's notification queue). A process ignores its own notifications: its subscribers heard
the event already.

Notifications are hints. One lost while a connection was down (a database restart, a network
cut) is made good on reconnection: the bus receives ``events.reconnected``, after which
every process re-reads the settings and texts it keeps in memory, and the console's live
views refresh.

Sending and listening use their own connections (psycopg's async ones, autocommit): nothing here
blocks the event loop, and no connection of the turns' pool is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bot.events import Event, EventBus

log = logging.getLogger("bot.events")
CHANNEL = "safe_harbour_events"
RECONNECTED = "events.reconnected"
MAX_PAYLOAD = 7900  # PostgreSQL refuses a payload of 8000 bytes or more
RETRY_FIRST, RETRY_MAX = 0.5, 30.0
QUEUE_SIZE = 10_000  # events waiting to be sent while the database is away; older ones first


def conninfo(url: str) -> str:
    """A psycopg connection string from the database's SQLAlchemy URL."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def encode(event: Event, origin: str) -> str | None:
    payload = json.dumps(
        {"o": origin, "k": event.kind, "c": event.conversation_id, "d": event.data},
        separators=(",", ":"),
        default=str,
    )
    return payload if len(payload.encode()) <= MAX_PAYLOAD else None


def decode(payload: str) -> tuple[str, Event] | None:
    try:
        raw: Any = json.loads(payload)
        origin, kind = str(raw["o"]), str(raw["k"])
        conversation = raw.get("c")
        data = raw.get("d") or {}
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    return origin, Event(kind, str(conversation) if conversation else None, data)


class PostgresEvents:
    """The bus's relay between processes. ``start`` on the event loop; ``stop`` at shutdown."""

    def __init__(self, url: str, bus: EventBus) -> None:
        self.conninfo = conninfo(url)
        self.bus = bus
        self.origin = uuid.uuid4().hex  # this process; its own notifications come back to it
        self.listening = asyncio.Event()  # set while LISTEN is in force (tests wait for it)
        self._queue: asyncio.Queue[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def send(self, events: list[Event]) -> None:
        """The bus's relay: queue the events for NOTIFY (from the loop's thread or another)."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            return  # not started (a command-line tool): there is nobody to tell
        for event in events:
            payload = encode(event, self.origin)
            if payload is None:
                log.warning("event too large to notify", extra={"kind": event.kind})
                continue
            loop.call_soon_threadsafe(self._put, queue, payload)

    @staticmethod
    def _put(queue: asyncio.Queue[str], payload: str) -> None:
        if queue.full():
            queue.get_nowait()  # the oldest hint goes; a reconnection makes good what was lost
        queue.put_nowait(payload)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.bus.relay = self.send
        self._tasks = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._send(self._queue)),
        ]

    async def stop(self) -> None:
        self.bus.relay = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _send(self, queue: asyncio.Queue[str]) -> None:
        delay = RETRY_FIRST
        payload: str | None = None
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    delay = RETRY_FIRST
                    while True:
                        if payload is None:
                            payload = await queue.get()
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                        payload = None
            except psycopg.Error as exc:
                log.warning("cannot notify other processes", extra={"error": type(exc).__name__})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def _listen(self) -> None:
        delay = RETRY_FIRST
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = RETRY_FIRST
                    if not first:
                        # What others said while we were not listening is lost: re-read it all.
                        await self.bus.receive([Event(RECONNECTED)])
                    first = False
                    async for note in conn.notifies():
                        found = decode(note.payload)
                        if found is None:
                            log.warning("unreadable event notification")
                            continue
                        origin, event = found
                        if origin != self.origin:
                            await self.bus.receive([event])
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning(
                    "not listening to other processes; retrying",
                    extra={"error": type(exc).__name__, "seconds": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
