"""The render contexts of turns that are waiting for Rasa, by Rasa sender id.

While a turn waits for Rasa, Rasa calls back this process to render responses and run actions.
The turn has not committed yet (one unit of work per turn), so the callbacks must not read the
conversation from the database: they ask here for the language, channel and country the turn is
using. A sender with no turn in flight (Rasa called by something else) falls back to the slots.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from bot.nlg.render import RenderContext
from bot.store.db import Database
from bot.store.models import Contact, Conversation


class InflightTurns:
    def __init__(self) -> None:
        self._contexts: dict[str, RenderContext] = {}

    @contextmanager
    def waiting(self, sender: str, ctx: RenderContext) -> Iterator[None]:
        self._contexts[sender] = ctx
        try:
            yield
        finally:
            self._contexts.pop(sender, None)

    def context(self, sender: str) -> RenderContext | None:
        return self._contexts.get(sender)


class CallbackContexts:
    """The render context for a Rasa sender: the turn in flight, else the stored conversation,
    else Rasa's own slots (a tracker whose conversation is gone)."""

    def __init__(self, inflight: InflightTurns, db: Database, default_language: str) -> None:
        self.inflight = inflight
        self.db = db
        self.default_language = default_language

    def for_sender(self, sender: str, slots: dict[str, Any]) -> RenderContext:
        found = self.inflight.context(sender)
        if found is not None:
            return found
        with self.db.session() as s:
            conv = s.scalar(select(Conversation).where(Conversation.rasa_sender == sender))
            if conv is None:
                lang = slots.get("language") or self.default_language
                return RenderContext(
                    language=str(lang), channel="unknown", country=slots.get("country")
                )
            contact = s.get(Contact, conv.contact_id)
            return RenderContext(
                language=conv.language or self.default_language,
                channel=contact.channel if contact else "unknown",
                country=conv.country,
                young=bool(conv.minor),
                filters=frozenset(conv.filters or []),
            )
