"""Sending outside a turn: messages from staff, "has joined" lines, the no-one-accepted fallback.

The conversation answers a turn by returning replies; anything sent at another moment goes through
``Runtime.delivery.send``. The channels replace this default with their durable outbox; the default
keeps what was sent in memory (the terminal channel and tests read it) and never loses it silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Protocol

from bot.types import Reply

log = logging.getLogger("bot.delivery")


class Outbound(Protocol):
    async def send(self, contact_id: str, replies: list[Reply]) -> bool:
        """True once the replies are durably accepted for sending; False: not this contact."""
        ...


class Sender(Protocol):
    """What a service that speaks outside a turn needs (the live handoff, the queue watcher)."""

    async def send(self, contact_id: str, replies: list[Reply]) -> None: ...


class Delivery:
    """One object for the process's life: the channels route it to their outbox when they start
    (``route``), so whoever holds it never needs to know whether a channel is configured."""

    def __init__(self) -> None:
        self.sent: dict[str, list[Reply]] = defaultdict(list)
        self._outbound: Outbound | None = None
        self._arrived: dict[str, asyncio.Event] = {}  # contact -> a reader waiting (``wait``)

    def route(self, outbound: Outbound | None) -> None:
        self._outbound = outbound

    async def send(self, contact_id: str, replies: list[Reply]) -> None:
        """Queue replies for a contact; returns once they are durably accepted for sending."""
        if self._outbound is not None and await self._outbound.send(contact_id, replies):
            return
        self.sent[contact_id].extend(replies)
        log.info("delivered in memory", extra={"replies": len(replies)})
        waiting = self._arrived.get(contact_id)
        if waiting is not None:
            waiting.set()

    def take(self, contact_id: str) -> list[Reply]:
        return self.sent.pop(contact_id, [])

    async def wait(self, contact_id: str, timeout: float) -> list[Reply]:
        """What was sent to ``contact_id`` in memory, as soon as there is any, or nothing after
        ``timeout`` seconds: how ``bot chat`` hears staff between its own turns. One reader per
        contact (a second one would share the same list, taking whatever arrives first)."""
        ready = self.take(contact_id)
        if ready:
            return ready
        event = self._arrived.setdefault(contact_id, asyncio.Event())
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            if self._arrived.get(contact_id) is event:
                del self._arrived[contact_id]
        return self.take(contact_id)
