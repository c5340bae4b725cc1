"""Turns counted for ``/metrics``: how many, of which kind, how long each took. Nothing about the
person or the message is kept: a kind from a closed list and a duration."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.conversation.parts import Parts
from bot.conversation.turns import Conversations
from bot.types import Inbound, TurnResult


class TurnObserver(Protocol):
    def observe_turn(self, kind: str, seconds: float) -> None: ...


def turn_kind(result: TurnResult) -> str:
    """``crisis`` when the answer was the crisis reply (from the safety layer or the model),
    ``command`` when a command decided (EXIT, DELETE, MENU, a language…), else ``ordinary``."""
    if result.crisis:
        return "crisis"
    if result.route in ("command", "start"):
        return "command"
    return "ordinary"


class MeteredConversations(Conversations):
    """``Conversations`` whose every handled turn is reported to ``observer``. A redelivered
    message (nothing done) is not a turn; a turn that raised (e.g. Rasa away, retried later from
    the inbox) is counted when it is answered."""

    def __init__(self, parts: Parts, observer: TurnObserver) -> None:
        super().__init__(parts)
        self.observer = observer

    async def handle(
        self,
        msg: Inbound,
        wait_for_rasa: bool = False,
        introduced: str | None = None,
        may_defer: bool = False,
        urgent: bool = False,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> TurnResult:
        started = time.monotonic()
        result = await super().handle(
            msg, wait_for_rasa, introduced, may_defer, urgent, still_wanted
        )
        if not result.duplicate:
            self.observer.observe_turn(turn_kind(result), time.monotonic() - started)
        return result
