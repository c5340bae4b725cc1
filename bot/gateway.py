"""The gateway: every inbound message, from any channel, passes through here once.

Order matters and is the safety design (DESIGN.md §3): drop duplicates → pseudonymise → safety
screen (commands, crisis) → language → route by mode → Rasa for the dialogue → replies. Everything
before Rasa is deterministic and works when Rasa is down; Rasa never sees free text in a turn, only
the intent the gateway settled on (its tracker holds no message text).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.directory.countries import CountryResolver
from bot.directory.service import Directory
from bot.events import Event
from bot.handoff import card
from bot.handoff.service import Handoffs
from bot.language import LanguageDetector, decide
from bot.nlg.render import RenderContext, Renderer
from bot.rasa.client import Parse, RasaClient, RasaUnavailable
from bot.safety.commands import LANGUAGE_NAMES, Command
from bot.safety.screen import SafetyScreen, Screening
from bot.safety.text import fold_command
from bot.settings import Settings
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.models import Consent, Contact, Conversation, Mode, SeenMessage, utcnow
from bot.types import Inbound, Reply, ReplyButton, TurnResult

log = logging.getLogger("bot.gateway")

CRISIS_INTENTS = {"emergency", "self_harm"}
NEED_INTENTS = {
    "need_shelter",
    "need_legal",
    "need_medical",
    "need_repatriation",
    "need_labour",
    "report_case",
}
# Asked in a first message: answered right after the person says it is safe to chat.
FIRST_MESSAGE_FOLLOW_UPS = NEED_INTENTS | {"ask_privacy", "ask_trafficking_info", "bot_identity"}
# Payloads the gateway answers itself (they also work while Rasa is down).
HANDOFF_PAYLOADS = {
    "request_human",
    "handoff_yes",
    "handoff_nocard",
    "handoff_no",
    "card_change",
    "card_edit",
    "card_hours",
    "card_code_word",
    "card_show",
    "handoff_wait",
    "handoff_leave",
    "handoff_place",
}
LOCAL_PAYLOADS = {"choose_language", *HANDOFF_PAYLOADS}
# While a person from the team is writing, the assistant stays silent except for these.
WHILE_WITH_STAFF = {"choose_language", "handoff_place", "handoff_leave"}
LIVE = (Mode.QUEUED, Mode.STAFF)
_PAYLOAD = re.compile(r"^/([a-z_]+)(\{.*\})?$", re.DOTALL)
_DIGITS = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


@dataclass
class Turn:
    """What one message did: accumulated while handling, returned as a TurnResult."""

    replies: list[Reply] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    crisis: bool = False


def parse_payload(payload: str) -> tuple[str, dict[str, Any]] | None:
    found = _PAYLOAD.match(payload.strip())
    if not found:
        return None
    entities: dict[str, Any] = {}
    if found.group(2):
        try:
            loaded = json.loads(found.group(2))
        except json.JSONDecodeError:
            return None
        if not isinstance(loaded, dict):
            return None
        entities = {str(k): str(v) for k, v in loaded.items()}
    return found.group(1), entities


class Gateway:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        crypto: Crypto,
        screen: SafetyScreen,
        detector: LanguageDetector,
        renderer: Renderer,
        rasa: RasaClient,
        handoffs: Handoffs,
        domain_intents: set[str],
    ) -> None:
        self.settings = settings
        self.db = db
        self.crypto = crypto
        self.screen = screen
        self.detector = detector
        self.renderer = renderer
        self.rasa = rasa
        self.handoffs = handoffs
        self.domain_intents = domain_intents
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._countries: CountryResolver | None = None

    # --- plumbing ---

    @asynccontextmanager
    async def contact_lock(self, contact_id: str) -> AsyncIterator[None]:
        """One turn or staff action at a time per contact (the console takes it too)."""
        async with self._contact_lock(contact_id):
            yield

    @asynccontextmanager
    async def _contact_lock(self, contact_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(contact_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[contact_id] = lock
        async with lock:
            yield

    def countries(self, session: Session) -> CountryResolver:
        if self._countries is None:
            codes = Directory(session).known_countries()
            self._countries = CountryResolver(self.settings.languages, codes)
        return self._countries

    def _first_time(self, msg: Inbound) -> bool:
        if not msg.message_id:
            return True
        key = self.crypto.message_key(msg.channel, msg.message_id)
        try:
            with self.db.session() as s:
                s.add(SeenMessage(key=key))
        except IntegrityError:
            return False
        return True

    def _ctx(self, conv: Conversation, msg: Inbound) -> RenderContext:
        return RenderContext(
            language=conv.language or self.settings.default_language,
            channel=msg.channel,
            country=conv.country,
            country_hint=msg.country_hint,
        )

    # --- entry points ---

    def prepare(
        self, channel: str, user_id: str, language: str | None, country: str | None
    ) -> None:
        """Set a contact's language and country before a message (``bot eval`` lines, tests)."""
        contact_id = self.crypto.pseudonym(channel, user_id)
        with self.db.session() as s:
            contact = s.get(Contact, contact_id)
            if contact is None:
                contact = Contact(
                    id=contact_id, channel=channel, address_enc=self.crypto.encrypt(user_id)
                )
                s.add(contact)
            if language in self.settings.languages:
                contact.language = language
            if country and Directory(s).country(country.upper()) is not None:
                contact.country = country.upper()

    async def forget(self, channel: str, user_id: str) -> None:
        """Erase a contact and its Rasa trackers without a reply (the delete path, silently)."""
        contact_id = self.crypto.pseudonym(channel, user_id)
        with self.db.session() as s:
            senders = [
                c.rasa_sender
                for c in s.scalars(
                    select(Conversation).where(Conversation.contact_id == contact_id)
                )
            ]
            s.execute(delete(Contact).where(Contact.id == contact_id))
        for sender in senders:
            await self._erase_tracker(sender)

    async def handle(self, msg: Inbound) -> TurnResult:
        if not self._first_time(msg):
            log.info("duplicate message dropped", extra={"channel": msg.channel})
            return TurnResult([], self.settings.default_language, mode="duplicate")
        contact_id = self.crypto.pseudonym(msg.channel, msg.user_id)
        async with self._contact_lock(contact_id):
            result = await self._handle(msg, contact_id)
        log.info(
            "turn",
            extra={
                "channel": msg.channel,
                "intent": result.intent,
                "crisis": result.crisis,
                "mode": result.mode,
                "replies": len(result.replies),
            },
        )
        return result

    async def _handle(self, msg: Inbound, contact_id: str) -> TurnResult:
        turn = Turn()
        with self.db.session() as s:
            conv, is_new = self._load(s, msg, contact_id)
            screening = self._screen(msg)
            self._apply_language(conv, msg, screening, is_new)
            if conv.mode in LIVE:
                self.handoffs.touch(s, conv)  # their turn: the team may answer now
            leaving = screening.command is not None and screening.command.command in (
                Command.EXIT,
                Command.DELETE,
                Command.STOP,
            )
            held_lines = [] if leaving else self.handoffs.take_held(s, contact_id)
        # Lines held back by "only when I write" come first — except after a crisis message,
        # whose first reply must carry the emergency numbers (A1): then they come last.
        if not screening.crisis:
            turn.replies.extend(held_lines)
        held = len(turn.replies)
        result = await self._route(conv, msg, screening, turn, is_new)
        assistant_replies = result.replies[held:]
        if screening.crisis and held_lines:
            result.replies.extend(held_lines)
        if result.mode in LIVE and assistant_replies:
            # Staff see what the assistant told the person while they wait or talk (never Rasa).
            with self.db.session() as s:
                live = s.get(Conversation, conv.id)
                if live is not None:
                    for reply in assistant_replies:
                        self.handoffs.keep_message(s, live, reply.text, "bot")
        return result

    async def _route(
        self, conv: Conversation, msg: Inbound, screening: Screening, turn: Turn, is_new: bool
    ) -> TurnResult:
        sender = conv.rasa_sender
        if msg.unsupported:
            return self._finish(
                conv.id, turn, [self._render_simple(conv, msg, "utter_unsupported_message")]
            )

        # 1. Control commands: every state, before anything else. A new conversation opening with
        # MENU (Telegram's /start) gets the first contact: the exit word, the numbers, the question.
        if screening.command is not None and screening.command.command is Command.MENU and is_new:
            turn.intent, turn.confidence = "greet", 1.0
            return await self._dialogue(conv.id, sender, msg, "greet", turn, is_new)
        if screening.command is not None:
            return await self._command(conv.id, sender, msg, screening, turn)

        # 2. Crisis from the lexicons: numbers first, never waiting for Rasa.
        if screening.crisis:
            if conv.mode in LIVE:
                return self._crisis_in_handoff(conv.id, msg, screening.self_harm, turn)
            return self._crisis(conv.id, msg, screening.self_harm, turn, is_new)

        # 3. A tapped button, or a typed number for one.
        payload = msg.payload or self._typed_choice(conv, msg.text)
        if payload:
            return await self._payload(conv.id, sender, msg, payload, turn, is_new)

        text = (msg.text or "").strip()
        # 4. Someone is waiting for, or talking with, a person: keep the message for them.
        if conv.mode in LIVE:
            return self._to_staff(conv.id, msg, text, turn)

        # 5. The code word for the handoff summary: hashed at once, never sent to Rasa.
        if conv.awaiting == "code_word" and text:
            return self._code_word(conv.id, msg, text, turn)

        # 6. Understanding.
        try:
            parse = (
                await self.rasa.parse(text.lstrip("/")) if text else Parse("nlu_fallback", 0.0, [])
            )
        except RasaUnavailable as exc:
            log.warning("rasa unavailable for parse", extra={"error": str(exc)})
            return self._unavailable(conv.id, msg, turn, is_new)
        turn.intent, turn.confidence = parse.intent, parse.confidence
        return await self._understood(conv.id, sender, msg, text, parse, turn, is_new)

    # --- loading and language ---

    def _load(self, s: Session, msg: Inbound, contact_id: str) -> tuple[Conversation, bool]:
        contact = s.get(Contact, contact_id)
        if contact is None:
            contact = Contact(
                id=contact_id, channel=msg.channel, address_enc=self.crypto.encrypt(msg.user_id)
            )
            s.add(contact)
        contact.last_seen_on = utcnow().date()
        conv = s.scalar(
            select(Conversation)
            .where(Conversation.contact_id == contact_id, Conversation.mode != Mode.CLOSED)
            .order_by(Conversation.started_at.desc())
        )
        is_new = conv is None
        if conv is None:
            conv = Conversation(
                contact_id=contact_id,
                language=contact.language,
                language_confirmed=contact.language is not None,
                country=contact.country,
                choices=[],
                needs=[],
                rasa_slots={},
            )
            s.add(conv)
            s.flush()
        return conv, is_new

    def _screen(self, msg: Inbound) -> Screening:
        if msg.payload or not msg.text:
            return Screening()
        return self.screen.screen(msg.text)

    def _apply_language(
        self, conv: Conversation, msg: Inbound, screening: Screening, is_new: bool
    ) -> None:
        if msg.payload or not msg.text or screening.command is not None:
            if conv.language is None:
                conv.language = (
                    msg.language_hint if msg.language_hint in self.settings.languages else None
                )
                conv.language = conv.language or self.settings.default_language
            return
        detection = self.detector.detect(msg.text)
        current = conv.language if (conv.language_confirmed or not is_new) else None
        hint = msg.language_hint if msg.language_hint in self.settings.languages else None
        if current is None and screening.language_hint:
            hint = screening.language_hint
        decision = decide(
            current,
            conv.language_candidate,
            detection,
            hint,
            self.settings.default_language,
            text=msg.text,
        )
        conv.language = decision.language
        conv.language_candidate = decision.candidate
        if decision.confident:
            conv.language_confirmed = True

    def _typed_choice(self, conv: Conversation, text: str | None) -> str | None:
        if not text or not conv.choices:
            return None
        found = _DIGITS.match(text)
        if not found:
            return None
        index = int(found.group(1)) - 1
        if 0 <= index < len(conv.choices):
            return str(conv.choices[index]["payload"])
        return None

    # --- finishing a turn ---

    def _finish(self, conv_id: str, turn: Turn, replies: list[Reply], **changes: Any) -> TurnResult:
        """Store what the replies asked (their buttons become the typed-number choices)."""
        turn.replies.extend(replies)
        with self.db.session() as s:
            conv = s.get(Conversation, conv_id)
            if conv is None:  # erased during the turn
                return TurnResult(
                    turn.replies,
                    self.settings.default_language,
                    turn.intent,
                    turn.confidence,
                    turn.crisis,
                    Mode.CLOSED,
                )
            for key, value in changes.items():
                setattr(conv, key, value)
            asked = [r for r in replies if r.buttons and not is_language_offer(r)]
            if asked:
                conv.choices = [{"payload": b.payload, "role": b.role} for b in asked[-1].buttons]
            elif replies:
                conv.choices = []
            language, mode = conv.language or self.settings.default_language, conv.mode
        return TurnResult(turn.replies, language, turn.intent, turn.confidence, turn.crisis, mode)

    def _render_simple(self, conv: Conversation, msg: Inbound, key: str, **extra: Any) -> Reply:
        with self.db.session() as s:
            return self.renderer.render(key, self._ctx(conv, msg), Directory(s), **extra)

    def _conv(self, s: Session, conv_id: str) -> Conversation:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        return conv

    # --- deterministic paths ---

    async def _command(
        self, conv_id: str, sender: str, msg: Inbound, screening: Screening, turn: Turn
    ) -> TurnResult:
        hit = screening.command
        assert hit is not None
        turn.intent, turn.confidence = f"command:{hit.command.value}", 1.0
        if hit.command is Command.EXIT:
            return await self._exit(conv_id, sender, msg, turn)
        if hit.command is Command.DELETE:
            return await self._delete(conv_id, sender, msg, turn)
        if hit.command is Command.LANGUAGE:
            if hit.choose_language:
                return await self._set_language(conv_id, msg, hit.choose_language, turn)
            return self._language_menu(conv_id, msg, turn)
        if hit.command is Command.PERSON:
            return await self._payload(conv_id, sender, msg, "/request_human", turn, False)
        if hit.command is Command.STOP:
            return await self._stop(conv_id, sender, msg, turn)
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx, d = self._ctx(conv, msg), Directory(s)
            if hit.command is Command.BACK and conv.mode in LIVE:
                self.handoffs.withdraw(s, conv)  # out of the queue, or away from staff (E7)
                reply = self.renderer.render("utter_back_to_bot", ctx, d)
            elif hit.command is Command.MENU and conv.mode == Mode.STAFF:
                reply = self._with_person_now(s, conv, ctx, d)
            elif hit.command is Command.PRIVACY:
                reply = self.renderer.render("utter_privacy", ctx, d)
            elif hit.command is Command.PAUSE:
                reply = self.renderer.render("utter_pause", ctx, d)
            else:  # MENU, BACK outside a queue
                reply = self.renderer.render("utter_menu", ctx, d)
        return self._finish(conv_id, turn, [reply])

    def _crisis(
        self, conv_id: str, msg: Inbound, self_harm: bool, turn: Turn, is_new: bool
    ) -> TurnResult:
        turn.crisis = True
        if turn.intent is None:
            turn.intent, turn.confidence = ("self_harm" if self_harm else "emergency"), 1.0
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            conv.crisis = True
            self.handoffs.raise_urgency(s, conv)
            ctx, d = self._ctx(conv, msg), Directory(s)
            replies = self.renderer.crisis(ctx, d, self_harm, conv.language_confirmed)
            if is_new:  # A7 still holds, after the numbers (A1)
                replies.append(self.renderer.render("utter_first_contact", ctx, d))
        return self._finish(conv_id, turn, replies)

    def _crisis_in_handoff(
        self, conv_id: str, msg: Inbound, self_harm: bool, turn: Turn
    ) -> TurnResult:
        """A1 in a live handoff: the numbers at once, the message to staff, the request urgent."""
        turn.crisis = True
        turn.intent, turn.confidence = ("self_harm" if self_harm else "emergency"), 1.0
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            conv.crisis = True
            self.handoffs.keep_message(s, conv, (msg.text or "").strip(), "in")
            self.handoffs.raise_urgency(s, conv)
            reply = self.renderer.render(
                "utter_crisis_in_handoff", self._ctx(conv, msg), Directory(s)
            )
        return self._finish(conv_id, turn, [reply])

    def _ended(self, s: Session, conv: Conversation) -> None:
        """The person left during a handoff (exit, stop, delete): the console must know at once."""
        if conv.mode in LIVE:
            self.handoffs.events.publish(Event("handoff.ended", conv.id))
        self.handoffs.drop_held(s, conv.contact_id)

    async def _exit(self, conv_id: str, sender: str, msg: Inbound, turn: Turn) -> TurnResult:
        """B1: the session's server-side state is gone at once; at most one neutral line."""
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx = self._ctx(conv, msg)
            self._ended(s, conv)
            s.execute(delete(Conversation).where(Conversation.id == conv_id))
        await self._erase_tracker(sender)
        replies: list[Reply] = []
        if msg.channel == "whatsapp":
            with self.db.session() as s:
                replies.append(self.renderer.render("utter_exit_whatsapp_note", ctx, Directory(s)))
        elif self.settings.exit_reply:
            replies.append(Reply(self.settings.exit_reply, key="exit_reply"))
        turn.replies.extend(replies)
        return TurnResult(
            turn.replies,
            ctx.language,
            turn.intent,
            turn.confidence,
            False,
            Mode.CLOSED,
            extras={"erase_chat": True},
        )

    async def _delete(self, conv_id: str, sender: str, msg: Inbound, turn: Turn) -> TurnResult:
        """F4: erase everything kept about this contact, Rasa's tracker included."""
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx = self._ctx(conv, msg)
            senders = [
                c.rasa_sender
                for c in s.scalars(
                    select(Conversation).where(Conversation.contact_id == conv.contact_id)
                )
            ]
            reply = self.renderer.render("utter_deleted", ctx, Directory(s))
            self._ended(s, conv)
            s.execute(delete(Contact).where(Contact.id == conv.contact_id))
        for rasa_sender in {sender, *senders}:
            await self._erase_tracker(rasa_sender)
        turn.replies.append(reply)
        return TurnResult(
            turn.replies,
            ctx.language,
            turn.intent,
            turn.confidence,
            False,
            Mode.CLOSED,
            extras={"erase_chat": True},
        )

    async def _stop(self, conv_id: str, sender: str, msg: Inbound, turn: Turn) -> TurnResult:
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx = self._ctx(conv, msg)
            reply = self.renderer.render("utter_stop", ctx, Directory(s))
            self._ended(s, conv)
            s.execute(delete(Conversation).where(Conversation.id == conv_id))
        await self._erase_tracker(sender)
        turn.replies.append(reply)
        return TurnResult(
            turn.replies, ctx.language, turn.intent, turn.confidence, False, Mode.CLOSED
        )

    async def _erase_tracker(self, sender: str) -> None:
        try:
            await self.rasa.erase(sender)
        except RasaUnavailable:
            # Rasa keeps trackers in memory only; a Rasa that cannot be reached keeps nothing
            # that outlives its restart, and the sender id is now linked to nothing.
            log.warning("could not erase rasa tracker")

    def _language_menu(self, conv_id: str, msg: Inbound, turn: Turn) -> TurnResult:
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx = self._ctx(conv, msg)
            reply = self.renderer.render(
                "utter_language_menu",
                ctx,
                Directory(s),
                buttons=self.renderer.language_buttons(ctx),
            )
        return self._finish(conv_id, turn, [reply])

    async def _set_language(
        self, conv_id: str, msg: Inbound, language: str, turn: Turn
    ) -> TurnResult:
        if language not in self.settings.languages:
            return self._language_menu(conv_id, msg, turn)
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            conv.language = language
            conv.language_confirmed = True
            conv.language_candidate = None
            s.get(Contact, conv.contact_id).language = language  # type: ignore[union-attr]
            reply = self.renderer.render("utter_language_set", self._ctx(conv, msg), Directory(s))
        return self._finish(conv_id, turn, [reply])

    def _unavailable(self, conv_id: str, msg: Inbound, turn: Turn, is_new: bool) -> TurnResult:
        """Rasa is down or slow: a fixed apology with the numbers, never silence."""
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx, d = self._ctx(conv, msg), Directory(s)
            replies = self.renderer.first_contact(ctx, d) if is_new else []
            if not is_new:
                replies.append(self.renderer.render("utter_service_unavailable", ctx, d))
        turn.intent = turn.intent or "unavailable"
        return self._finish(conv_id, turn, replies)

    def _to_staff(self, conv_id: str, msg: Inbound, text: str, turn: Turn) -> TurnResult:
        replies: list[Reply] = []
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            self.handoffs.keep_message(s, conv, text, "in")
            if conv.mode == Mode.QUEUED and not conv.queue_notice_sent:
                ack = self.renderer.render("utter_queued_ack", self._ctx(conv, msg), Directory(s))
                replies.append(ack)
                conv.queue_notice_sent = True
                conv.choices = [{"payload": b.payload, "role": b.role} for b in ack.buttons]
        turn.intent = "to_staff"
        turn.replies.extend(replies)
        return TurnResult(turn.replies, conv.language or "en", turn.intent, None, False, conv.mode)

    # --- handoff (deterministic, so "person" works while Rasa is down) ---

    def _with_person_now(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory
    ) -> Reply:
        req = self.handoffs.open_request(s, conv)
        name = (req.staff_name if req else None) or ""
        return self.renderer.render("utter_with_person_now", ctx, d, staff_name=name)

    def _already_live(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory
    ) -> Reply | None:
        if conv.mode == Mode.STAFF:
            return self._with_person_now(s, conv, ctx, d)
        if conv.mode == Mode.QUEUED:
            return self.renderer.render("utter_queued_ack", ctx, d)
        return None

    def _wait_estimate(self, s: Session, ctx: RenderContext, queue: str | None = None) -> str:
        """E1: the expected wait, from recent acceptances; never a promise."""
        minutes = self.handoffs.wait_estimate(s, queue or ctx.language)
        if minutes:
            return self.renderer.t("queue_wait_estimate", ctx, minutes=minutes)
        return self.renderer.t("queue_wait_unknown", ctx)

    def _consent(self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory) -> Reply:
        """E1/E2: the question, with the summary exactly as staff would get it."""
        req = self.handoffs.current_draft(s, conv) or self.handoffs.draft(s, conv)
        summary = card.card_text(self.renderer, ctx, req)
        return self.renderer.render("utter_ask_handoff_consent", ctx, d, card=summary)

    def _handoff_explain(self, conv_id: str, msg: Inbound, turn: Turn) -> TurnResult:
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx, d = self._ctx(conv, msg), Directory(s)
            live = self._already_live(s, conv, ctx, d)
            if live is not None:
                return self._finish(conv_id, turn, [live])
            self.handoffs.draft(s, conv)  # a fresh summary from what the conversation knows
            estimate = self._wait_estimate(s, ctx)
            explain = self.renderer.render("utter_handoff_explain", ctx, d, wait_estimate=estimate)
            ask = self._consent(s, conv, ctx, d)
        return self._finish(conv_id, turn, [explain, ask])

    def _handoff_answer(self, conv_id: str, msg: Inbound, choice: str, turn: Turn) -> TurnResult:
        """yes: send with the summary; nocard: send with the language only; no: nobody."""
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx, d = self._ctx(conv, msg), Directory(s)
            live = self._already_live(s, conv, ctx, d)
            if live is not None:
                return self._finish(conv_id, turn, [live])
            s.add(Consent(contact_id=conv.contact_id, kind="handoff", granted=choice != "no"))
            awaiting = None if conv.awaiting == "code_word" else conv.awaiting
            if choice == "no":
                draft = self.handoffs.current_draft(s, conv)
                if draft is not None:
                    s.delete(draft)
                reply = self.renderer.render("utter_handoff_declined", ctx, d)
            else:
                s.add(Consent(contact_id=conv.contact_id, kind="summary", granted=choice == "yes"))
                on_duty = self.handoffs.on_duty(s, ctx.language)
                self.handoffs.submit(s, conv, choice == "yes", on_duty)
                key = "utter_handoff_queued" if on_duty else "utter_handoff_no_one"
                reply = self.renderer.render(key, ctx, d)
        return self._finish(conv_id, turn, [reply], awaiting=awaiting)

    def _card(
        self, conv_id: str, msg: Inbound, intent: str, entities: dict[str, Any], turn: Turn
    ) -> TurnResult:
        """Changing the summary before it is sent: one enumerated field per tap."""
        changes: dict[str, Any] = {}
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx, d = self._ctx(conv, msg), Directory(s)
            live = self._already_live(s, conv, ctx, d)
            if live is not None:
                return self._finish(conv_id, turn, [live])
            if conv.awaiting == "code_word":
                changes["awaiting"] = None
            req = self.handoffs.current_draft(s, conv) or self.handoffs.draft(s, conv)
            if intent == "card_edit":
                card.edit(req, conv, entities.get("field", ""), entities.get("value"))
            if intent == "card_code_word":
                replies = [self.renderer.render("utter_ask_code_word", ctx, d)]
                changes["awaiting"] = "code_word"
            elif intent == "card_hours":
                buttons = [
                    ReplyButton(self.renderer.t(key, ctx), payload)
                    for key, payload in card.hours_options()
                ]
                replies = [self.renderer.render("utter_ask_safe_hours", ctx, d, buttons=buttons)]
            elif intent == "card_show":
                replies = [self._consent(s, conv, ctx, d)]
            else:  # card_change, card_edit: the summary with what can change
                buttons = [
                    ReplyButton(self.renderer.t(key, ctx), payload)
                    for key, payload in card.change_options(req, conv)
                ]
                summary = card.card_text(self.renderer, ctx, req)
                replies = [
                    self.renderer.render(
                        "utter_handoff_card_change", ctx, d, buttons=buttons, card=summary
                    )
                ]
        return self._finish(conv_id, turn, replies, **changes)

    def _code_word(self, conv_id: str, msg: Inbound, text: str, turn: Turn) -> TurnResult:
        """Keep only a keyed hash of the word; the word itself is never stored, logged or parsed."""
        turn.intent, turn.confidence = "code_word", 1.0
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx, d = self._ctx(conv, msg), Directory(s)
            if not fold_command(text):  # only symbols or emoji: ask again
                return self._finish(
                    conv_id, turn, [self.renderer.render("utter_ask_code_word", ctx, d)]
                )
            req = self.handoffs.current_draft(s, conv) or self.handoffs.draft(s, conv)
            req.code_word_hash = card.code_word_hash(self.crypto, text)
            saved = self.renderer.render("utter_code_word_saved", ctx, d)
            ask = self._consent(s, conv, ctx, d)
        return self._finish(conv_id, turn, [saved, ask], awaiting=None)

    def _waiting(self, conv_id: str, msg: Inbound, intent: str, turn: Turn) -> TurnResult:
        """While queued: keep waiting, leave, or ask the place in the queue (E3, pain 5)."""
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            waiting = self.handoffs.open_request(s, conv) is not None
        if not waiting and intent != "handoff_leave":  # nothing to wait for: offer a person
            return self._handoff_explain(conv_id, msg, turn)
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            ctx, d = self._ctx(conv, msg), Directory(s)
            req = self.handoffs.open_request(s, conv)
            if intent == "handoff_leave" or req is None:
                self.handoffs.withdraw(s, conv)
                reply = self.renderer.render("utter_back_to_bot", ctx, d)
            elif conv.mode == Mode.STAFF:
                reply = self._with_person_now(s, conv, ctx, d)
            elif intent == "handoff_wait":
                reply = self.renderer.render("utter_handoff_keep_waiting", ctx, d)
            else:
                estimate = self._wait_estimate(s, ctx, req.language)
                reply = self.renderer.render(
                    "utter_queue_place",
                    ctx,
                    d,
                    position=self.handoffs.position(s, req),
                    wait_estimate=estimate,
                )
        return self._finish(conv_id, turn, [reply])

    # --- buttons and typed numbers ---

    async def _payload(
        self, conv_id: str, sender: str, msg: Inbound, payload: str, turn: Turn, is_new: bool
    ) -> TurnResult:
        parsed = parse_payload(payload)
        if parsed is None or (
            parsed[0] not in LOCAL_PAYLOADS and parsed[0] not in self.domain_intents
        ):
            log.info("unknown payload ignored", extra={"channel": msg.channel})
            with self.db.session() as s:
                conv = self._conv(s, conv_id)
                reply = self.renderer.render(
                    "utter_not_understood", self._ctx(conv, msg), Directory(s)
                )
            return self._finish(conv_id, turn, [reply])
        intent, entities = parsed
        turn.intent = turn.intent or intent
        turn.confidence = turn.confidence if turn.confidence is not None else 1.0
        if intent == "choose_language":
            return await self._set_language(conv_id, msg, entities.get("language", ""), turn)
        with self.db.session() as s:
            mode = self._conv(s, conv_id).mode
        if mode in LIVE and intent in CRISIS_INTENTS:
            return self._crisis_in_handoff(conv_id, msg, intent == "self_harm", turn)
        if mode == Mode.STAFF and intent not in WHILE_WITH_STAFF:
            # A person is writing: old buttons never bring the assistant back in.
            with self.db.session() as s:
                conv = self._conv(s, conv_id)
                reply = self._with_person_now(s, conv, self._ctx(conv, msg), Directory(s))
            return self._finish(conv_id, turn, [reply])
        if intent == "request_human":
            return self._handoff_explain(conv_id, msg, turn)
        if intent in ("handoff_yes", "handoff_nocard", "handoff_no"):
            return self._handoff_answer(conv_id, msg, intent.removeprefix("handoff_"), turn)
        if intent.startswith("card_"):
            return self._card(conv_id, msg, intent, entities, turn)
        if intent in ("handoff_wait", "handoff_leave", "handoff_place"):
            return self._waiting(conv_id, msg, intent, turn)
        if intent == "inform_country" and entities.get("country"):
            with self.db.session() as s:
                conv = self._conv(s, conv_id)
                code = entities["country"].upper()
                if Directory(s).country(code) is not None:
                    conv.country = code
                    s.get(Contact, conv.contact_id).country = code  # type: ignore[union-attr]
                was_crisis_question = conv.crisis and conv.awaiting != "country"
            if was_crisis_question:  # the one-tap country after a crisis: its exact numbers
                return self._crisis(conv_id, msg, False, turn, False)
        if intent in CRISIS_INTENTS:
            return self._crisis(conv_id, msg, intent == "self_harm", turn, False)
        return await self._dialogue(conv_id, sender, msg, intent, turn, is_new)

    # --- understood free text ---

    async def _understood(
        self,
        conv_id: str,
        sender: str,
        msg: Inbound,
        text: str,
        parse: Parse,
        turn: Turn,
        is_new: bool,
    ) -> TurnResult:
        intent, confident = parse.intent, parse.confidence >= self.settings.nlu_threshold
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            awaiting, choices = conv.awaiting, list(conv.choices or [])
            country = None
            if awaiting == "country" or intent == "inform_country":
                country = self.countries(s).resolve(text)
            if country:
                conv.country = country
                s.get(Contact, conv.contact_id).country = country  # type: ignore[union-attr]
        if country:
            return await self._dialogue(conv_id, sender, msg, "inform_country", turn, is_new)
        if awaiting == "country" and intent in ("skip", "deny"):
            return await self._dialogue(conv_id, sender, msg, "skip", turn, is_new)

        if confident and intent in CRISIS_INTENTS:
            return self._crisis(conv_id, msg, intent == "self_harm", turn, is_new)
        if confident and intent == "exit":
            return await self._exit(conv_id, sender, msg, turn)
        if confident and intent == "delete_data":
            return await self._delete(conv_id, sender, msg, turn)
        if confident and intent == "change_language":
            named = _named_language(text)
            if named:
                return await self._set_language(conv_id, msg, named, turn)
            return self._language_menu(conv_id, msg, turn)
        if confident and intent == "request_human":
            return self._handoff_explain(conv_id, msg, turn)
        if intent in ("affirm", "deny", "skip") and choices:
            role = "yes" if intent == "affirm" else "no"
            for choice in choices:
                if choice.get("role") == role:
                    return await self._payload(
                        conv_id, sender, msg, str(choice["payload"]), turn, is_new
                    )
        if not confident:
            intent = "nlu_fallback"
        return await self._dialogue(conv_id, sender, msg, intent, turn, is_new)

    # --- Rasa dialogue ---

    async def _dialogue(
        self, conv_id: str, sender: str, msg: Inbound, intent: str, turn: Turn, is_new: bool
    ) -> TurnResult:
        pending: str | None = None
        with self.db.session() as s:
            awaiting = self._conv(s, conv_id).awaiting or ""
        if intent == "affirm" and awaiting.startswith("then:"):
            intent = awaiting.removeprefix("then:")  # the first message's need, now it is safe
        try:
            await self._sync_slots(conv_id, sender)
            messages: list[dict[str, Any]] = []
            if is_new:
                messages += await self.rasa.send(sender, "greet")
                pending = intent if intent in FIRST_MESSAGE_FOLLOW_UPS else None
            else:
                messages += await self.rasa.send(sender, intent)
        except RasaUnavailable as exc:
            log.warning("rasa unavailable for dialogue", extra={"error": str(exc)})
            return self._unavailable(conv_id, msg, turn, is_new)
        replies, controls = _convert(messages)
        if not replies:  # an action or a rendering failed inside Rasa: never leave silence
            log.error("rasa returned no reply", extra={"intent": intent})
            return self._unavailable(conv_id, msg, turn, is_new)
        changes: dict[str, Any] = {
            "awaiting": controls.get("awaiting") or (f"then:{pending}" if pending else None)
        }
        if controls.get("need"):
            with self.db.session() as s:
                needs = list(self._conv(s, conv_id).needs or [])
            if controls["need"] not in needs:
                changes["needs"] = [*needs, controls["need"]]
        return self._finish(conv_id, turn, replies, **changes)

    async def _sync_slots(self, conv_id: str, sender: str) -> None:
        with self.db.session() as s:
            conv = self._conv(s, conv_id)
            wanted = {"language": conv.language, "country": conv.country}
            synced = dict(conv.rasa_slots or {})
        changed = {k: v for k, v in wanted.items() if synced.get(k) != v}
        if not changed:
            return
        await self.rasa.set_slots(sender, changed)
        with self.db.session() as s:
            self._conv(s, conv_id).rasa_slots = {**synced, **changed}


def is_language_offer(reply: Reply) -> bool:
    """The "switch to <language>?" offer: it never counts as the turn's question (channels too)."""
    return bool(reply.buttons) and all(
        b.payload.startswith("/choose_language") for b in reply.buttons
    )


def _named_language(text: str) -> str | None:
    folded = f" {fold_command(text)} "
    for lang, names in LANGUAGE_NAMES.items():
        if any(f" {name} " in folded for name in names):
            return lang
    return None


def _convert(messages: list[dict[str, Any]]) -> tuple[list[Reply], dict[str, Any]]:
    """Rasa's REST output → replies, plus the control fields our NLG and actions attach."""
    replies: list[Reply] = []
    controls: dict[str, Any] = {}
    for m in messages:
        custom = m.get("custom")
        if isinstance(custom, dict):
            if replies and custom.get("key"):
                last = replies[-1]
                last.key = str(custom["key"])
                roles = list(custom.get("roles") or [])
                last.buttons = [
                    ReplyButton(b.title, b.payload, roles[i] if i < len(roles) else None)
                    for i, b in enumerate(last.buttons)
                ]
            for k in ("awaiting", "need"):
                if custom.get(k):
                    controls[k] = custom[k]
            continue
        text = m.get("text")
        if not text:
            continue
        buttons = [
            ReplyButton(str(b.get("title", "")), str(b.get("payload", "")))
            for b in m.get("buttons") or []
        ]
        replies.append(Reply(text=str(text), buttons=buttons))
    return replies, controls
