"""What the channels need of the running application (the composition root passes it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy.orm import Session

from bot.delivery import Delivery
from bot.nlg.catalog import Catalog
from bot.nlg.render import Renderer
from bot.safety.screen import SafetyScreen
from bot.settings import Settings
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.types import Inbound, TurnResult


class Turns(Protocol):
    """The conversation (bot/conversation/turns.py): one inbound message, one turn."""

    async def handle(
        self,
        msg: Inbound,
        wait_for_rasa: bool = False,
        introduced: str | None = None,
        may_defer: bool = False,
        urgent: bool = False,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> TurnResult: ...

    async def introduce(
        self, msg: Inbound, keep: Callable[[Session, str, TurnResult], None]
    ) -> bool: ...


class ChannelParts(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def crypto(self) -> Crypto: ...

    @property
    def conversations(self) -> Turns: ...

    @property
    def delivery(self) -> Delivery: ...

    @property
    def renderer(self) -> Renderer: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def screen(self) -> SafetyScreen: ...
