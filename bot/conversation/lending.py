"""A turn that waits for Rasa lets its contact go meanwhile, so a crisis never waits behind it.

Rasa may take seconds (slow, restarting: up to ``BOT_RASA_TIMEOUT``). A turn holds its contact's
lock (``ContactLock``) from its first read to its commit, and a crisis the same person writes
meanwhile ("they are coming, help") would wait that long for it. So every call to Rasa made in a
turn lends the contact (``ContactHold.away``): by then the turn has written nothing (``before_
waiting``), so there is nothing another turn could trip over. Back from Rasa, the turn takes the
lock again; if someone held it meanwhile (the crisis turn, an exit, a staff action), what the
turn read may be stale, so it starts over from what is stored now (``TurnSuperseded``), with
Rasa's answers kept (``LendingRasa``): the dialogue gets each intent once, and the second try
does not wait, nor lend, again. Its reply goes out after the crisis's: the crisis overtook it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.conversation.parts import Rasa
from bot.conversation.rate import Verdict
from bot.rasa.client import Parse
from bot.store.locks import ContactHold

T = TypeVar("T")

# Tries that lend the contact while waiting for Rasa; the next one holds it across the wait, as
# every turn once did, so a turn always ends even while the contact is busy.
LENDING_TRIES = 3


class TurnSuperseded(Exception):
    """The contact was lent while the turn waited for Rasa, and someone used it: start over."""


class TurnWithdrawn(Exception):
    """The turn's message is no longer to be answered (an exit or delete came meanwhile)."""


class LendingRasa:
    """``Rasa`` for one message's turn: each call lends the contact while it waits (when the turn
    has a hold to lend), and each answer is kept for the turn's next try."""

    def __init__(self, rasa: Rasa) -> None:
        self._rasa = rasa
        self._answers: dict[tuple[str, ...], Any] = {}
        self.hold: ContactHold | None = None
        self.rate: Verdict | None = None  # the message counted once, however many tries

    @property
    def instance(self) -> str:
        return self._rasa.instance

    @instance.setter
    def instance(self, name: str) -> None:
        self._rasa.instance = name

    async def parse(self, text: str) -> Parse:
        return await self._outside(("parse", text), lambda: self._rasa.parse(text))

    async def send(
        self, sender: str, intent: str, entities: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        key = ("send", sender, intent, json.dumps(entities or {}, sort_keys=True))
        return await self._outside(key, lambda: self._rasa.send(sender, intent, entities))

    async def set_slots(self, sender: str, slots: dict[str, Any]) -> None:
        key = ("slots", sender, json.dumps(slots, sort_keys=True, default=str))
        await self._outside(key, lambda: self._rasa.set_slots(sender, slots))

    def settle(self) -> None:
        """After a call that was cut short (a bounded wait ran out, Rasa failed): if the contact
        was used while lent, what the turn read may be stale, so it starts over, as after a call
        that answered (``TurnSuperseded``)."""
        if self.hold is not None and self.hold.lent:
            raise TurnSuperseded()

    async def erase(self, sender: str) -> None:
        """Never kept nor lent: erasure runs under the lock or after the commit."""
        await self._rasa.erase(sender)

    async def _outside(self, key: tuple[str, ...], call: Callable[[], Awaitable[T]]) -> T:
        if key in self._answers:
            answer: T = self._answers[key]
            return answer
        hold = self.hold
        if hold is None:
            answer = await call()
        else:
            async with hold.away():
                answer = await call()
        self._answers[key] = answer
        if hold is not None and hold.lent:
            raise TurnSuperseded()
        return answer
