"""Notifications (the console's live views listen; turns and staff actions speak), within this
process and, on PostgreSQL, across every process on the database.

Events carry ids and enumerated kinds only, never message text: a listener that needs content reads
it from the database with its own permissions. They are delivered after the change they announce
has committed (``held``), so a listener can always read it.

Several processes: the composition root gives the bus a ``relay`` (``bot/store/notify.py``,
PostgreSQL LISTEN/NOTIFY) that forwards what this process delivered; what arrives from the other
processes comes in through ``receive``, reaches this process's subscribers, and runs the handlers
registered with ``on`` (a settings reload, a catalog reload, a model switch). An event is
delivered once in the process that published it: the relay skips its own notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    kind: str  # e.g. handoff.requested, handoff.message, handoff.accepted, handoff.closed
    conversation_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Publisher(Protocol):
    """What the services below the composition root need of the bus: to say something happened."""

    def publish(self, event: Event) -> None: ...


log = logging.getLogger("bot.events")
# Kinds of the events that make the other processes re-read what they keep in memory.
OPERATIONS_CHANGED = "operations.changed"  # hours, holidays, exit words, lexicon entries
MESSAGES_CHANGED = "messages.changed"  # an approved text, a rollback, a default restored
MODEL_SWITCHED = "model.switched"  # a retrained or restored model went live (data: "model")
Handler = Callable[["Event"], Awaitable[None]]

# Events published inside ``EventBus.held()`` (one turn) wait here until its commit.
_held: ContextVar[list[Event] | None] = ContextVar("held_events", default=None)


@contextlib.contextmanager
def collected() -> Iterator[list[Event]]:
    """What is published inside, in this context, is kept in the list instead of delivered.

    For work done on a database thread (``Database.call``): the bus's subscribers are asyncio
    queues, which only the event loop's thread may touch, so the caller publishes the list on
    the loop once the work has committed."""
    events: list[Event] = []
    token = _held.set(events)
    try:
        yield events
    finally:
        _held.reset(token)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._handlers: dict[str, list[Handler]] = {}
        # Forwards delivered events to the other processes (None: this process is alone).
        self.relay: Callable[[list[Event]], None] | None = None

    def publish(self, event: Event) -> None:
        held = _held.get()
        if held is not None:
            held.append(event)
            return
        self.deliver([event])

    def deliver(self, events: list[Event]) -> None:
        """Tell this process's subscribers, then the other processes (after the commit)."""
        self._local(events)
        if self.relay is not None and events:
            self.relay(events)

    def _local(self, events: list[Event]) -> None:
        for event in events:
            for queue in list(self._subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(event)

    def on(self, kind: str, handler: Handler) -> None:
        """Run ``handler`` for every event of ``kind`` that another process published (this
        process acted on its own change already, where it made it)."""
        self._handlers.setdefault(kind, []).append(handler)

    async def receive(self, events: list[Event]) -> None:
        """Events from another process: this process's subscribers hear them, and the handlers
        registered for their kinds run, one after the other. A failing handler is logged (its
        type only) and does not stop the others."""
        self._local(events)
        for event in events:
            for handler in self._handlers.get(event.kind, []):
                try:
                    await handler(event)
                except Exception as exc:
                    log.error(
                        "event handler failed",
                        extra={"kind": event.kind, "error": type(exc).__name__},
                    )

    @contextlib.contextmanager
    def held(self) -> Iterator[list[Event]]:
        """Keep back what is published inside until the caller has committed; then it calls
        ``deliver``. A listener told about a change must be able to read it, and a rolled-back
        turn told nobody anything."""
        with collected() as events:
            yield events

    @contextlib.asynccontextmanager
    async def subscribe(self, maxsize: int = 100) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
