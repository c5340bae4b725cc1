"""The collaborators a turn uses, passed in once by the composition root (bot/runtime.py).

Each is the narrowest thing the conversation needs: a port (Protocol) where the real part lives
in another process or may change (Rasa, the contact lock), a service where it is plain code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.conversation.rate import ContactRate
from bot.directory.countries import CountryResolver
from bot.directory.service import Directory
from bot.events import EventBus
from bot.handoff.service import Handoffs
from bot.handoff.survivor import HandoffDesk
from bot.language import LanguageDetector
from bot.nlg.render import Renderer
from bot.rasa.client import Parse
from bot.rasa.inflight import InflightTurns
from bot.safety.people import PeopleReading
from bot.safety.screen import Screening
from bot.settings import Settings
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.locks import ContactLock


class Rasa(Protocol):
    """Understanding and dialogue: the Rasa process, reached over loopback (bot/rasa/client.py).

    It only ever receives an intent for the dialogue and routing slots; free text goes to
    ``parse`` alone, which keeps nothing. Every call may raise ``RasaUnavailable``.
    ``instance`` names the Rasa process answering now; it changes when Rasa is restarted, and
    then its trackers are empty.
    """

    instance: str

    async def parse(self, text: str) -> Parse: ...

    async def send(
        self, sender: str, intent: str, entities: dict[str, str] | None = None
    ) -> list[dict[str, Any]]: ...

    async def set_slots(self, sender: str, slots: dict[str, Any]) -> None: ...

    async def erase(self, sender: str) -> None: ...


class People(Protocol):
    """What a message says about the person or asks about us (bot/safety/people.py)."""

    def read(self, text: str) -> PeopleReading: ...

    def names_authority(self, text: str) -> bool: ...


class Screen(Protocol):
    """The deterministic safety screen (bot/safety/screen.py)."""

    def screen(self, text: str, language: str | None = None) -> Screening: ...


@dataclass
class Countries:
    """Country and place names people type, resolved to codes (bot/directory/countries.py);
    built once from the directory's countries and their languages."""

    languages: list[str]
    _resolver: CountryResolver | None = field(default=None, init=False)

    def resolver(self, directory: Directory) -> CountryResolver:
        if self._resolver is None:
            codes = directory.known_countries()
            spoken = {code: directory.spoken(code) for code in codes}
            self._resolver = CountryResolver(self.languages, codes, spoken)
        return self._resolver


@dataclass(frozen=True)
class Parts:
    settings: Settings
    db: Database
    crypto: Crypto
    lock: ContactLock
    screen: Screen
    detector: LanguageDetector
    renderer: Renderer
    handoffs: Handoffs
    desk: HandoffDesk
    rasa: Rasa
    inflight: InflightTurns
    events: EventBus
    domain_intents: frozenset[str]
    countries: Countries
    people: People
    rate: ContactRate
