"""What the staff console needs of the running application (the composition root passes it)."""

from __future__ import annotations

from typing import Protocol

from bot.directory.hsds.jobs import ImportJobs
from bot.events import EventBus
from bot.handoff.hours import TeamHours
from bot.handoff.live import LiveHandoff
from bot.handoff.service import Handoffs
from bot.nlg.catalog import Catalog
from bot.nlg.render import Renderer
from bot.rasa.retrain import RetrainParts
from bot.store.crypto import Crypto


class ConsoleParts(RetrainParts, Protocol):
    @property
    def crypto(self) -> Crypto: ...

    @property
    def handoffs(self) -> Handoffs: ...

    @property
    def events(self) -> EventBus: ...

    @property
    def hours(self) -> TeamHours: ...

    @property
    def renderer(self) -> Renderer: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def live(self) -> LiveHandoff: ...

    @property
    def imports(self) -> ImportJobs: ...

    def reload_operations(self) -> None:
        """Apply the admins' operating settings now (hours, exit words, lexicon entries)."""
        ...
