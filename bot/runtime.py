"""The composition root: builds the application's parts once and wires each to the few it needs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from actions.services import ActionFindServices
from bot.console import audit as audit_log
from bot.conversation import Conversations, Countries, Parts
from bot.conversation.metered import MeteredConversations
from bot.conversation.rate import ContactRate
from bot.delivery import Delivery
from bot.directory.hsds.jobs import ImportJobs
from bot.directory.seed import merge_reference, seed_if_empty
from bot.directory.service import Directory
from bot.directory.uploads import Uploads
from bot.events import MESSAGES_CHANGED, OPERATIONS_CHANGED, Event, EventBus
from bot.handoff.hours import HoursError, TeamHours, parse_holidays
from bot.handoff.late import LateReplies
from bot.handoff.live import LiveHandoff
from bot.handoff.service import Handoffs
from bot.handoff.survivor import HandoffDesk
from bot.language import LanguageDetector
from bot.metrics import Metrics
from bot.nlg.catalog import Catalog
from bot.nlg.edits import load_live
from bot.nlg.render import Renderer
from bot.rasa.callbacks import Callbacks
from bot.rasa.client import RasaClient
from bot.rasa.inflight import CallbackContexts, InflightTurns
from bot.rasa.model import domain_intents
from bot.rasa.process import RasaProcess
from bot.safety.people import PeopleReader
from bot.safety.screen import SafetyScreen
from bot.settings import Settings
from bot.store.crypto import Crypto
from bot.store.db import Database, DatabaseLimits
from bot.store.keys import check_key
from bot.store.leases import SharedContactLocks
from bot.store.locks import ContactLock, ContactLocks
from bot.store.notify import RECONNECTED, PostgresEvents
from bot.store.ops_models import ExitWord, Holiday, LexiconEntry, OperatingSetting

log = logging.getLogger("bot.runtime")


@dataclass
class Runtime:
    """The application's parts, built once. Only the composition root (this module, the app, the
    server and the CLI) holds it; everything below receives the few parts it needs."""

    settings: Settings
    db: Database
    crypto: Crypto
    screen: SafetyScreen
    detector: LanguageDetector
    catalog: Catalog
    hours: TeamHours
    renderer: Renderer
    events: EventBus
    locks: ContactLock
    handoffs: Handoffs
    rasa: RasaClient
    inflight: InflightTurns
    conversations: Conversations
    delivery: Delivery
    live: LiveHandoff
    callbacks: Callbacks
    imports: ImportJobs  # HSDS imports from the console, one at a time in the background
    rasa_process: RasaProcess | None = None  # set by the Stack; replaced by a model switch
    metrics: Metrics = field(default_factory=Metrics)  # what GET /metrics shows (no content)
    # On PostgreSQL: events to and from the other processes on the database (started by the app).
    relay: PostgresEvents | None = None

    @property
    def callback_token(self) -> str:
        return self.crypto.internal_token("rasa-callback")

    @property
    def rasa_token(self) -> str:
        return self.crypto.internal_token("rasa-api")

    def reload_operations(self) -> None:
        """Apply the admins' operating settings now (after a change in the console, committed),
        here and in every other process on the database."""
        apply_operations(self.settings, self.db, self.screen, self.hours)
        self.events.publish(Event(OPERATIONS_CHANGED))

    def reload_messages(self) -> None:
        """Put the admins' approved texts in force again (another process changed them)."""
        with self.db.session() as s:
            load_live(s, self.catalog)

    def follow_other_processes(self) -> None:
        """What another process changed and this one keeps in memory is read again when it says
        so (its events arrive through ``relay``); after a lost connection, everything is."""

        async def operations(_: Event) -> None:
            await asyncio.to_thread(
                apply_operations, self.settings, self.db, self.screen, self.hours
            )

        async def messages(_: Event) -> None:
            await asyncio.to_thread(self.reload_messages)

        async def everything(event: Event) -> None:
            await operations(event)
            await messages(event)

        self.events.on(OPERATIONS_CHANGED, operations)
        self.events.on(MESSAGES_CHANGED, messages)
        self.events.on(RECONNECTED, everything)

    async def aclose(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        await self.rasa.aclose()
        if isinstance(self.locks, SharedContactLocks):
            self.locks.dispose()
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
    explicit_key = bool(settings.secret_key)
    crypto = Crypto(settings.key())
    db = Database(settings.sqlalchemy_url, DatabaseLimits.of(settings))
    try:
        if migrate:  # `bot run` migrates before, to say what it did
            db.migrate()
        # Refuses (KeyMismatch) a process whose key is not the database's: its pseudonyms
        # would differ from every other process's.
        check_key(db, crypto, explicit_key)
    except BaseException:
        db.dispose()
        raise
    with db.session() as s:
        merge_reference(s, settings.countries_file)  # every OAS state, even with no services
    if settings.seed_sample_directory:
        with db.session() as s:
            seed_if_empty(s, settings.sample_directory)
    Directory.hide_after_days = settings.directory_hide_after_days
    extra_exit = [w.strip() for w in settings.exit_words.split(",") if w.strip()]
    detector = LanguageDetector(settings.languages)
    screen = SafetyScreen(settings.languages, extra_exit, guess=detector)
    catalog = Catalog(settings.languages)
    with db.session() as s:
        load_live(s, catalog)  # admins' approved edits override the catalogs
    hours = TeamHours(settings.team_hours, settings.team_timezone, settings.team_holidays)
    apply_operations(settings, db, screen, hours)
    renderer = Renderer(settings, catalog, hours)
    events = EventBus()
    # PostgreSQL may serve several bot processes: the contact lock must hold across all of them.
    # SQLite serves one (the Stack refuses a second), where a lock in memory is enough.
    shared = db.engine.dialect.name == "postgresql"
    locks: ContactLock = SharedContactLocks(db.url, db.limits) if shared else ContactLocks()
    handoffs = Handoffs(hours, crypto, events)
    rasa = RasaClient(
        settings.rasa_endpoint, crypto.internal_token("rasa-api"), settings.rasa_timeout
    )
    inflight = InflightTurns()
    delivery = Delivery()
    metrics = Metrics()
    conversations = MeteredConversations(
        Parts(
            settings=settings,
            db=db,
            crypto=crypto,
            lock=locks,
            screen=screen,
            detector=detector,
            renderer=renderer,
            handoffs=handoffs,
            desk=HandoffDesk(renderer, handoffs, crypto, LateReplies(settings)),
            rasa=rasa,
            inflight=inflight,
            events=events,
            domain_intents=frozenset(domain_intents()),
            countries=Countries(settings.languages),
            people=PeopleReader(settings.languages),
            rate=ContactRate(settings.contact_rate_messages, settings.contact_rate_window_seconds),
        ),
        metrics,
    )
    live = LiveHandoff(settings, db, locks, handoffs, renderer, hours, delivery, rasa, events)
    contexts = CallbackContexts(inflight, db, settings.default_language)
    callbacks = Callbacks(
        lambda: crypto.internal_token("rasa-callback"),
        renderer,
        db,
        contexts,
        [ActionFindServices(renderer, db, contexts)],
    )
    imports = ImportJobs(
        db,
        Uploads(settings.data_dir),
        _audit_to(db),
        settings.directory_import_max_rows,
        settings.directory_import_batch_rows,
    )
    runtime = Runtime(
        settings=settings,
        db=db,
        crypto=crypto,
        screen=screen,
        detector=detector,
        catalog=catalog,
        hours=hours,
        renderer=renderer,
        events=events,
        locks=locks,
        handoffs=handoffs,
        rasa=rasa,
        inflight=inflight,
        conversations=conversations,
        delivery=delivery,
        live=live,
        callbacks=callbacks,
        imports=imports,
        metrics=metrics,
        relay=PostgresEvents(db.url, events) if db.engine.dialect.name == "postgresql" else None,
    )
    runtime.follow_other_processes()
    return runtime


def _audit_to(db: Database) -> Callable[..., None]:
    """The audit log, for parts below the console that must record what they did."""

    def record(staff_id: str | None, action: str, **detail: str | int | bool | None) -> None:
        with db.session() as s:
            audit_log.record(s, staff_id, action, None, **detail)

    return record
