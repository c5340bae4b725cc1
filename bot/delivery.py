"""Sending outside a turn: messages from staff, "has joined" lines, the no-one-accepted fallback.

The gateway answers a turn by returning replies; anything sent at another moment goes through
``Runtime.delivery.send``. The channels replace this default with their durable outbox; the default
keeps what was sent in memory (the terminal channel and tests read it) and never loses it silently.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from bot.types import Reply

log = logging.getLogger("bot.delivery")


class Delivery:
    def __init__(self) -> None:
        self.sent: dict[str, list[Reply]] = defaultdict(list)

    async def send(self, contact_id: str, replies: list[Reply]) -> None:
        """Queue replies for a contact; returns once they are durably accepted for sending."""
        self.sent[contact_id].extend(replies)
        log.info("delivered in memory", extra={"replies": len(replies)})

    def take(self, contact_id: str) -> list[Reply]:
        return self.sent.pop(contact_id, [])
