"""Builds the application's parts once and hands them to the server, the CLI and the actions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select

from bot.delivery import Delivery
from bot.directory.seed import seed_if_empty
from bot.directory.service import Directory
from bot.events import EventBus
from bot.gateway import Gateway
from bot.handoff.hours import HoursError, TeamHours, parse_holidays
from bot.handoff.service import Handoffs
from bot.language import LanguageDetector
from bot.nlg.catalog import Catalog
from bot.nlg.edits import load_live
from bot.nlg.render import Renderer
from bot.rasa.client import RasaClient
from bot.rasa.process import RasaProcess
from bot.safety.screen import SafetyScreen
from bot.settings import PROJECT_ROOT, Settings
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.ops_models import ExitWord, Holiday, LexiconEntry, OperatingSetting

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
log = logging.getLogger("bot.runtime")


def domain_intents(path: Path = DOMAIN_FILE) -> set[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for item in data.get("intents", []):
        names.add(item if isinstance(item, str) else next(iter(item)))
    return names


@dataclass
class Runtime:
    settings: Settings
    db: Database
    crypto: Crypto
    screen: SafetyScreen
    detector: LanguageDetector
    catalog: Catalog
    hours: TeamHours
    renderer: Renderer
    handoffs: Handoffs
    rasa: RasaClient
    gateway: Gateway
    delivery: Delivery
    rasa_process: RasaProcess | None = None  # set by the Stack; replaced by a model switch

    @property
    def events(self) -> EventBus:
        return self.handoffs.events

    @property
    def callback_token(self) -> str:
        return self.crypto.internal_token("rasa-callback")

    @property
    def rasa_token(self) -> str:
        return self.crypto.internal_token("rasa-api")

    def reload_operations(self) -> None:
        """Apply the admins' operating settings now (after a change in the console)."""
        apply_operations(self.settings, self.db, self.screen, self.hours)

    async def aclose(self) -> None:
        await self.rasa.aclose()
        self.db.dispose()


def apply_operations(
    settings: Settings, db: Database, screen: SafetyScreen, hours: TeamHours
) -> None:
    """Hours, time zone, holidays, exit words and lexicon entries set in the console, over the
    deployment's defaults (``BOT_TEAM_*``, ``BOT_EXIT_WORDS``, the shipped lexicon files)."""
    with db.session() as s:
        stored = {row.key: row.value for row in s.scalars(select(OperatingSetting))}
        holidays = (
            set(s.scalars(select(Holiday.day)))
            if "holidays" in stored
            else parse_holidays(settings.team_holidays)
        )
        exit_words: dict[str, list[str]] = {}
        for word in s.scalars(select(ExitWord).order_by(ExitWord.id)):
            exit_words.setdefault(word.language, []).append(word.word)
        entries: dict[str, dict[str, list[str]]] = {}
        for entry in s.scalars(select(LexiconEntry).order_by(LexiconEntry.id)):
            entries.setdefault(entry.language, {}).setdefault(entry.kind, []).append(entry.phrase)
    try:
        hours.configure(
            stored.get("hours", settings.team_hours),
            stored.get("timezone", settings.team_timezone),
            holidays,
        )
    except HoursError:
        log.error("stored team hours are invalid; keeping the previous ones")
    screen.set_exit_words(exit_words)
    screen.set_lexicon_entries(entries)


def build_runtime(settings: Settings, migrate: bool = True) -> Runtime:
    crypto = Crypto(settings.key())
    db = Database(settings.sqlalchemy_url)
    if migrate:
        db.migrate()
    if settings.seed_sample_directory:
        with db.session() as s:
            seed_if_empty(s, settings.sample_directory)
    Directory.hide_after_days = settings.directory_hide_after_days
    extra_exit = [w.strip() for w in settings.exit_words.split(",") if w.strip()]
    screen = SafetyScreen(settings.languages, extra_exit)
    detector = LanguageDetector(settings.languages)
    catalog = Catalog(settings.languages)
    with db.session() as s:
        load_live(s, catalog)  # admins' approved edits override the catalogs
    hours = TeamHours(settings.team_hours, settings.team_timezone, settings.team_holidays)
    apply_operations(settings, db, screen, hours)
    renderer = Renderer(settings, catalog, hours)
    events = EventBus()
    handoffs = Handoffs(hours, crypto, events)
    rasa = RasaClient(settings.rasa_url, crypto.internal_token("rasa-api"), settings.rasa_timeout)
    gateway = Gateway(
        settings, db, crypto, screen, detector, renderer, rasa, handoffs, domain_intents()
    )
    return Runtime(
        settings,
        db,
        crypto,
        screen,
        detector,
        catalog,
        hours,
        renderer,
        handoffs,
        rasa,
        gateway,
        Delivery(),
    )


_current: Runtime | None = None


def set_current(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    """The running application's parts, for Rasa custom actions executed in this process."""
    if _current is None:
        raise RuntimeError("the bot runtime is not started")
    return _current
