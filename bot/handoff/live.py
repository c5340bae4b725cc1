"""What a live handoff sends to the survivor outside their own turn, and the queue-timeout job.

Every line goes through the delivery (``bot/delivery.py``) under the per-contact lock (so it never
races the survivor's own turn), is rendered in the survivor's language, and is kept in
the transcript so staff see exactly what the person saw. System lines the policy does not allow
now ("only when I write") are held and delivered first in the person's next turn; staff messages
are refused instead (the console says why).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import inspect, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.delivery import Sender
from bot.directory.service import Directory
from bot.events import Event, Publisher, collected
from bot.handoff.card import MAX_CODE_WORD_TRIES, Safety
from bot.handoff.hours import TeamHours
from bot.handoff.late import LateReplies
from bot.handoff.policy import Permission, outbound
from bot.handoff.service import Handoffs
from bot.nlg.render import RenderContext, Renderer
from bot.rasa.client import RasaUnavailable
from bot.settings import Settings
from bot.store.console_models import HandoffState
from bot.store.db import Database
from bot.store.locks import ContactLock
from bot.store.models import Awaiting, Contact, Conversation, HandoffRequest, utcnow
from bot.types import Reply

log = logging.getLogger("bot.handoff")


class NotAllowed(Exception):
    """The survivor's safety choices (or WhatsApp) do not allow a message now."""

    def __init__(self, permission: Permission) -> None:
        super().__init__(permission.reason)
        self.permission = permission


class Gone(Exception):
    """The request is not in a state for this action (taken, closed, or erased by the person)."""


@dataclass
class Sent:
    now: list[Reply]
    held: bool


OPEN = ("queued", "accepted")  # the states a staff action may change
Change = Callable[[Session, HandoffRequest], Sent]


class TrackerEraser(Protocol):
    async def erase(self, sender: str) -> None: ...


class LiveHandoff:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        lock: ContactLock,
        handoffs: Handoffs,
        renderer: Renderer,
        hours: TeamHours,
        delivery: Sender,
        rasa: TrackerEraser,
        events: Publisher,
    ) -> None:
        self.settings = settings
        self.db = db
        self.lock = lock
        self.handoffs = handoffs
        self.renderer = renderer
        self.hours = hours
        self.delivery = delivery
        self.rasa = rasa
        self.events = events
        self.late = LateReplies(settings)

    # --- reading ---

    def contact_of(self, request_id: str) -> str | None:
        with self.db.session() as s:
            req = s.get(HandoffRequest, request_id)
            return req.conversation.contact_id if req else None

    def permission(
        self, s: Session, req: HandoffRequest, now: dt.datetime | None = None
    ) -> Permission:
        conv = req.conversation
        contact = s.get(Contact, conv.contact_id)
        state = self.handoffs.state(s, req)
        now = now or utcnow()
        return outbound(
            Safety.of(req),
            contact.channel if contact else "",
            state.last_inbound_at,
            now,
            self.settings.console_turn_minutes,
            conv.country,
            self.late.until(s, conv.contact_id, now),
        )

    def _ctx(self, s: Session, conv: Conversation, now: dt.datetime | None = None) -> RenderContext:
        contact = s.get(Contact, conv.contact_id)
        ctx = RenderContext(
            language=conv.language or self.settings.default_language,
            channel=contact.channel if contact else "",
            country=conv.country,
        )
        if now is not None:
            ctx.now = now.replace(tzinfo=dt.UTC)
        return ctx

    def render(self, s: Session, conv: Conversation, key: str, **extra: Any) -> Reply:
        return self.renderer.render(key, self._ctx(s, conv), Directory(s), **extra)

    # --- saying something to the survivor ---

    def _say(self, s: Session, req: HandoffRequest, reply: Reply, now: dt.datetime) -> Sent:
        """Keep the line in the transcript, then send it now or hold it for their next turn."""
        conv = req.conversation
        self.handoffs.keep_message(s, conv, reply.text, "sys")
        if self.permission(s, req, now).allowed:
            return Sent([reply], False)
        self.handoffs.hold(s, conv.contact_id, reply)
        return Sent([], True)

    async def _deliver(self, contact_id: str, sent: Sent) -> None:
        if sent.now:
            await self.delivery.send(contact_id, sent.now)

    # --- staff actions ---

    async def _change(self, request_id: str, change: Change) -> Sent:
        """Under the contact's lock, load the open request and apply ``change``, which returns
        what the survivor is told; that is delivered after the commit, still under the lock, so
        it never races the survivor's own turn."""
        contact_id = self.contact_of(request_id)
        if contact_id is None:
            raise Gone()
        async with self.lock(contact_id):
            with self.db.session() as s:
                req = s.get(HandoffRequest, request_id)
                if req is None or req.status not in OPEN:
                    raise Gone()
                sent = change(s, req)
            await self._deliver(contact_id, sent)
        return sent

    async def accept(self, request_id: str, staff_id: str, staff_name: str) -> Sent:
        def change(s: Session, req: HandoffRequest) -> Sent:
            if not self.handoffs.accept(s, req, staff_id, staff_name):
                raise Gone()
            line = self.render(s, req.conversation, "utter_staff_joined", staff_name=staff_name)
            return self._say(s, req, line, utcnow())

        return await self._change(request_id, change)

    @staticmethod
    def _taken_by(s: Session, request_id: str, staff_id: str) -> HandoffRequest:
        """The handoff this staff member has accepted; ``Gone`` when it is not (any more)."""
        req = s.get(HandoffRequest, request_id)
        if req is None or req.status != "accepted" or req.staff_id != staff_id:
            raise Gone()
        return req

    async def reply(self, request_id: str, staff_id: str, text: str) -> None:
        contact_id = self.contact_of(request_id)
        if contact_id is None:
            raise Gone()
        async with self.lock(contact_id):
            with self.db.session() as s:
                req = self._taken_by(s, request_id, staff_id)
                permission = self.permission(s, req)
                if not permission.allowed:
                    raise NotAllowed(permission)
                self.handoffs.keep_message(s, req.conversation, text, "out")
            await self.delivery.send(contact_id, [Reply(text=text, key="staff_message")])

    async def ask_code_word(self, request_id: str, staff_id: str) -> None:
        """Ask the survivor for their code word: their next text is the answer, checked against
        the hash and forgotten (``HandoffDesk.check_code_word``), never put in the transcript.

        Asked only when a message may go out now: a question held for "only when I write" would
        arrive after the very message it asks for, which would then be taken as the answer."""
        contact_id = self.contact_of(request_id)
        if contact_id is None:
            raise Gone()
        async with self.lock(contact_id):
            with self.db.session() as s:
                req = self._taken_by(s, request_id, staff_id)
                if not req.code_word_hash or req.code_word_confirmed:
                    raise Gone()
                if self.handoffs.state(s, req).code_word_failures >= MAX_CODE_WORD_TRIES:
                    raise Gone()
                permission = self.permission(s, req)
                if not permission.allowed or permission.reason == "whatsapp_template":
                    # After WhatsApp's window the question would wait for the person's answer
                    # to the template, and that answer would be taken as the code word.
                    raise NotAllowed(permission)
                conv = req.conversation
                line = self.render(
                    s, conv, "utter_ask_code_word_check", staff_name=req.staff_name or ""
                )
                conv.awaiting = Awaiting.CODE_WORD_CHECK
                conv.choices = []
                self.handoffs.keep_message(s, conv, line.text, "sys")
            await self.delivery.send(contact_id, [line])

    async def hand_back(self, request_id: str) -> Sent:
        """The assistant resumes where it was: Rasa never saw the handoff (tracker intact)."""

        def change(s: Session, req: HandoffRequest) -> Sent:
            name = req.staff_name or ""
            line = self.render(s, req.conversation, "utter_staff_left", staff_name=name)
            if not name:
                line = self.render(s, req.conversation, "utter_back_to_bot")
            sent = self._say(s, req, line, utcnow())
            self.handoffs.release(s, req, close=False)
            return sent

        return await self._change(request_id, change)

    async def close(self, request_id: str, text: str) -> Sent:
        """End the conversation with a closing message; the transcript's time-to-live starts."""
        sender = ""

        def change(s: Session, req: HandoffRequest) -> Sent:
            nonlocal sender
            sent = self._say(s, req, Reply(text=text, key="utter_handoff_closed"), utcnow())
            sender = req.conversation.rasa_sender
            self.handoffs.release(s, req, close=True)
            return sent

        sent = await self._change(request_id, change)
        with contextlib.suppress(RasaUnavailable):  # the next message starts a new conversation
            await self.rasa.erase(sender)
        return sent

    async def assign(self, request_id: str, staff_id: str, staff_name: str) -> Sent:
        """Transfer to (or reassign to) a named colleague, who is announced like a join."""

        def change(s: Session, req: HandoffRequest) -> Sent:
            self.handoffs.assign(s, req, staff_id, staff_name)
            line = self.render(s, req.conversation, "utter_staff_joined", staff_name=staff_name)
            return self._say(s, req, line, utcnow())

        return await self._change(request_id, change)

    async def requeue(self, request_id: str, language: str) -> Sent:
        """Transfer to another language queue: "another person will join"."""

        def change(s: Session, req: HandoffRequest) -> Sent:
            self.handoffs.requeue(s, req, language)
            line = self.render(s, req.conversation, "utter_handoff_transferred")
            return self._say(s, req, line, utcnow())

        return await self._change(request_id, change)

    # --- the queue-timeout job ---

    async def check_queue(self, now: dt.datetime | None = None) -> int:
        """Nobody accepted in time, or nobody is on duty: say so honestly, once (E3).

        The line has the emergency number, the hotline and the team's hours, and asks whether to
        keep waiting or go back to the assistant. Nobody is dropped; nothing else is ever sent
        (no "are you still there?").
        """
        now = now or utcnow()
        # Read and recorded on a database thread: a database that hangs stalls this check, never
        # the event loop that answers survivors (and the health check that says it hangs).
        due = await self.db.call(self._due, now)
        told = 0
        for request_id, contact_id in due:
            async with self.lock(contact_id):
                try:
                    told_now, events = await self.db.call(
                        self._fall_back_collected, request_id, now
                    )
                except IntegrityError:  # another process recorded it first
                    told_now, events = None, []
                for event in events:
                    self.events.publish(event)
                if told_now is None:
                    continue
                conv_id, sent = told_now
                await self._deliver(contact_id, sent)
                self.events.publish(Event("handoff.fallback", conv_id, {"handoff": request_id}))
                told += 1
        if told:
            log.info("queue fallback sent", extra={"replies": told})
        return told

    def _due(self, now: dt.datetime) -> list[tuple[str, str]]:
        """The queued requests whose notice is due: (request id, contact id) each."""
        timeout = dt.timedelta(minutes=self.settings.handoff_accept_timeout_minutes)
        due: list[tuple[str, str]] = []
        with self.db.session() as s:
            for req in self.handoffs.queue(s):
                state = self.handoffs.state(s, req)
                if state.fallback_at is not None:
                    continue
                if now - state.queued_at >= timeout or not self.handoffs.on_duty(
                    s, req.language, now
                ):
                    due.append((req.id, req.conversation.contact_id))
        return due

    def _fall_back_collected(
        self, request_id: str, now: dt.datetime
    ) -> tuple[tuple[str, Sent] | None, list[Event]]:
        """``_fall_back`` on a database thread, with what it published kept for the loop."""
        with collected() as events:
            told = self._fall_back(request_id, now)
        return told, events

    def _fall_back(self, request_id: str, now: dt.datetime) -> tuple[str, Sent] | None:
        """Record the notice and render it, once per request even with several processes
        watching the queue: ``fallback_at`` is set only where it is still empty (or inserted,
        where a second insert fails on the key)."""
        with self.db.session() as s:
            waiting = s.get(HandoffRequest, request_id)
            if waiting is None or waiting.status != "queued":
                return None
            state = self.handoffs.state(s, waiting)
            if state.fallback_at is not None:
                return None
            if inspect(state).persistent:
                claimed = s.execute(
                    update(HandoffState)
                    .where(
                        HandoffState.handoff_id == request_id, HandoffState.fallback_at.is_(None)
                    )
                    .values(fallback_at=now)
                    .execution_options(synchronize_session=False)
                )
                if getattr(claimed, "rowcount", 0) != 1:
                    return None
            state.fallback_at = now
            conv = waiting.conversation
            ctx = self._ctx(s, conv, now)
            # Within hours: the hours; outside them: when the team is next on duty.
            line = self.renderer.render(
                "utter_handoff_no_answer",
                ctx,
                Directory(s),
                hours=self.hours.describe_next(ctx.now, ctx.language),
            )
            conv.choices = [{"payload": b.payload, "role": b.role} for b in line.buttons]
            return conv.id, self._say(s, waiting, line, now)
