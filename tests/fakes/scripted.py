"""A scripted stand-in for the conversation's ``Rasa`` port (bot/conversation/parts.py).

For tests about what the conversation does with a given reading of a message (the model says
"exit" at 0.9; Rasa fails in the middle of a turn), where the real model's reading would make the
test about the model instead. Everything else in the turn is real.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from bot.conversation import Conversations
from bot.rasa.client import Parse, RasaUnavailable
from bot.runtime import Runtime


class ScriptedRasa:
    def __init__(self) -> None:
        self.intent = "thanks"  # what ``parse`` reads every message as
        self.confidence = 0.95
        # The other intents' probabilities, after the first (the model's crisis share reads them).
        self.others: list[tuple[str, float]] = []
        self.fail = False  # the dialogue call raises, as a bug in the middle of a turn would
        self.down = False  # parse raises RasaUnavailable, as a stopped or timed-out Rasa does
        self.delay = 0.0  # parse answers after this many seconds, as a busy or restarting Rasa
        self.parsed: list[str] = []  # every text parse was asked to read
        self.sent: list[str] = []
        self.erased: list[str] = []
        self.instance = "scripted"  # the Rasa process "answering": a restart would change it

    async def parse(self, text: str) -> Parse:
        self.parsed.append(text)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise RasaUnavailable("scripted: Rasa is down")
        return Parse(self.intent, self.confidence, [(self.intent, self.confidence), *self.others])

    async def send(
        self, sender: str, intent: str, entities: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        if self.fail:
            raise RuntimeError("a bug in the middle of the turn")
        self.sent.append(intent)
        return [{"recipient_id": sender, "text": f"answer to {intent}"}]

    async def set_slots(self, sender: str, slots: dict[str, Any]) -> None:
        return None

    async def erase(self, sender: str) -> None:
        self.erased.append(sender)


def script(runtime: Runtime) -> ScriptedRasa:
    """Give a runtime's conversations a scripted Rasa; returns it to be told what to read."""
    scripted = ScriptedRasa()
    parts = dataclasses.replace(runtime.conversations.parts, rasa=scripted)
    runtime.conversations = Conversations(parts)
    return scripted
