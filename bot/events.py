"""In-process notifications (the console's live views listen; turns and staff actions speak).

Events carry ids and enumerated kinds only, never message text: a listener that needs content reads
it from the database with its own permissions. One process needs nothing more; several processes
would put a Redis pub/sub behind the same interface.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
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


# Events published inside ``EventBus.held()`` (one turn) wait here until its commit.
_held: ContextVar[list[Event] | None] = ContextVar("held_events", default=None)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()

    def publish(self, event: Event) -> None:
        held = _held.get()
        if held is not None:
            held.append(event)
            return
        self.deliver([event])

    def deliver(self, events: list[Event]) -> None:
        for event in events:
            for queue in list(self._subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(event)

    @contextlib.contextmanager
    def held(self) -> Iterator[list[Event]]:
        """Keep back what is published inside until the caller has committed; then it calls
        ``deliver``. A listener told about a change must be able to read it, and a rolled-back
        turn told nobody anything."""
        events: list[Event] = []
        token = _held.set(events)
        try:
            yield events
        finally:
            _held.reset(token)

    @contextlib.asynccontextmanager
    async def subscribe(self, maxsize: int = 100) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
