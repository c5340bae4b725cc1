"""A scripted Rasa whose dialogue call can be held shut: a turn stuck in Rasa, for as long as the
test likes, without a clock (a slow or restarting Rasa, up to ``BOT_RASA_TIMEOUT`` in life)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from bot.conversation import Conversations
from bot.runtime import Runtime
from fakes.scripted import ScriptedRasa


class GatedRasa(ScriptedRasa):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()  # a dialogue call is held at the gate now

    def shut(self) -> None:
        self.gate.clear()
        self.waiting.clear()

    def open(self) -> None:
        self.gate.set()

    async def send(
        self, sender: str, intent: str, entities: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        if not self.gate.is_set():
            self.waiting.set()
            await self.gate.wait()
        return await super().send(sender, intent, entities)


def gated(runtime: Runtime) -> GatedRasa:
    """Give a runtime's conversations a gated Rasa (``script`` for ``GatedRasa``)."""
    rasa = GatedRasa()
    runtime.conversations = Conversations(
        dataclasses.replace(runtime.conversations.parts, rasa=rasa)
    )
    return rasa
