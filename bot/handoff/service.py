"""The queue for people: requests with enumerated routing fields, presence, transcripts.

A request's life: ``draft`` (the summary the survivor is looking at) → ``queued`` (sent, waiting
in its language's queue) → ``accepted`` (a named person took it) → ``closed`` (handed back, closed,
withdrawn). The transcript of a closed request is deleted ``BOT_TRANSCRIPT_TTL_HOURS`` later.
"""

from __future__ import annotations

import datetime as dt
import statistics

from sqlalchemy import and_, delete, select, update
from sqlalchemy.orm import Session

from bot.events import Event, Publisher
from bot.handoff.card import Safety
from bot.handoff.hours import TeamHours
from bot.store.console_models import HandoffNote, HandoffState, HeldReply, StaffUser
from bot.store.crypto import Crypto
from bot.store.models import (
    Awaiting,
    Conversation,
    HandoffMessage,
    HandoffRequest,
    Mode,
    StaffPresence,
    utcnow,
)
from bot.store.ops_models import answers, team_languages
from bot.types import Reply

PRESENCE_STALE_AFTER = dt.timedelta(minutes=2)
OPEN = ("queued", "accepted")


class Handoffs:
    def __init__(self, hours: TeamHours, crypto: Crypto, events: Publisher) -> None:
        self.hours = hours
        self.crypto = crypto
        self.events = events

    # --- who is on duty ---

    def on_duty(self, session: Session, language: str, now: dt.datetime | None = None) -> bool:
        """Someone who answers this language (their own or a team's) is signed in and available,
        within team hours."""
        now = now or utcnow()
        if not self.hours.is_open(now):
            return False
        fresh = now - PRESENCE_STALE_AFTER
        present = list(
            session.scalars(
                select(StaffPresence).where(
                    StaffPresence.available.is_(True), StaffPresence.seen_at >= fresh
                )
            )
        )
        if not present:
            return False
        ids = [p.staff_id for p in present]
        # Read languages live (own and teams'), so an admin's change counts at once.
        own: dict[str, list[str]] = {
            uid: list(langs or [])
            for uid, langs in session.execute(
                select(StaffUser.id, StaffUser.languages).where(StaffUser.id.in_(ids))
            )
        }
        teams = team_languages(session, ids)
        return any(
            answers(own.get(p.staff_id, p.languages) or [], teams.get(p.staff_id, ()), language)
            for p in present
        )

    # --- the survivor's side: draft, send, wait, leave ---

    def open_request(self, session: Session, conv: Conversation) -> HandoffRequest | None:
        return session.scalar(
            select(HandoffRequest).where(
                HandoffRequest.conversation_id == conv.id, HandoffRequest.status.in_(OPEN)
            )
        )

    def current_draft(self, session: Session, conv: Conversation) -> HandoffRequest | None:
        return session.scalar(
            select(HandoffRequest).where(
                HandoffRequest.conversation_id == conv.id, HandoffRequest.status == "draft"
            )
        )

    def draft(self, session: Session, conv: Conversation) -> HandoffRequest:
        """A fresh summary from what the conversation knows; earlier choices are kept."""
        previous = session.scalars(
            select(HandoffRequest)
            .where(HandoffRequest.conversation_id == conv.id)
            .order_by(HandoffRequest.created_at.desc())
        ).first()
        safety = Safety.of(previous).as_dict() if previous else Safety().as_dict()
        code_word = previous.code_word_hash if previous else None
        session.execute(
            delete(HandoffRequest).where(
                HandoffRequest.conversation_id == conv.id, HandoffRequest.status == "draft"
            )
        )
        req = HandoffRequest(
            conversation_id=conv.id,
            status="draft",
            language=conv.language or "en",
            country=conv.country,
            needs=list(conv.needs or []),
            urgency=1 if conv.crisis else 0,
            safety=safety,
            code_word_hash=code_word,
        )
        session.add(req)
        session.flush()
        return req

    def submit(
        self,
        session: Session,
        conv: Conversation,
        with_card: bool,
        on_duty: bool,
        now: dt.datetime | None = None,
    ) -> HandoffRequest:
        """Send the request to its language's queue: with the summary, or with the language only."""
        existing = self.open_request(session, conv)
        if existing is not None:
            return existing
        now = now or utcnow()
        req = self.current_draft(session, conv) or self.draft(session, conv)
        req.status = "queued"
        req.card_consent = with_card
        if not with_card:  # E2: without consent, only what routing needs (language) travels
            req.country, req.needs = None, []
        req.on_duty_at_request = on_duty
        req.created_at = now
        session.add(
            HandoffState(
                handoff_id=req.id,
                queued_at=now,
                last_inbound_at=now,
                # Nobody on duty: the honest answer was given in this very turn.
                fallback_at=None if on_duty else now,
            )
        )
        conv.mode = Mode.QUEUED
        conv.queue_notice_sent = False
        conv.awaiting = None
        session.flush()
        self.events.publish(
            Event("handoff.requested", conv.id, {"handoff": req.id, "language": req.language})
        )
        return req

    def request(self, session: Session, conv: Conversation, on_duty: bool) -> HandoffRequest:
        """Send the request with the summary (the path before the summary could be changed)."""
        return self.submit(session, conv, True, on_duty)

    def raise_urgency(self, session: Session, conv: Conversation) -> None:
        req = self.open_request(session, conv)
        if req is not None:
            req.urgency = 1
            self.events.publish(Event("handoff.urgent", conv.id, {"handoff": req.id}))

    def withdraw(self, session: Session, conv: Conversation) -> None:
        """The survivor leaves the queue or the chat with staff: back to the assistant."""
        req = self.open_request(session, conv)
        if req is not None:
            req.status = "closed"
            req.closed_at = utcnow()
            self.events.publish(Event("handoff.withdrawn", conv.id, {"handoff": req.id}))
        conv.mode = Mode.BOT
        conv.choices = []
        _end_code_word_check(conv)

    def state(self, session: Session, req: HandoffRequest) -> HandoffState:
        found = session.get(HandoffState, req.id)
        if found is None:
            found = HandoffState(
                handoff_id=req.id, queued_at=req.created_at, last_inbound_at=req.created_at
            )
            session.add(found)  # not flushed: a turn writes nothing before its commit
        return found

    def touch(self, session: Session, conv: Conversation, now: dt.datetime | None = None) -> None:
        """The survivor wrote: their turn starts again (policy.py)."""
        req = self.open_request(session, conv)
        if req is not None:
            self.state(session, req).last_inbound_at = now or utcnow()

    def keep_message(self, session: Session, conv: Conversation, text: str, direction: str) -> None:
        """Add to the transcript: in (survivor), out (staff), bot (assistant), sys (system line)."""
        req = self.open_request(session, conv)
        if req is not None and text:
            session.add(
                HandoffMessage(
                    handoff_id=req.id, direction=direction, text_enc=self.crypto.encrypt(text)
                )
            )
            self.events.publish(
                Event("handoff.message", conv.id, {"direction": direction, "handoff": req.id})
            )

    # --- the queue ---

    def queue(self, session: Session, languages: list[str] | None = None) -> list[HandoffRequest]:
        """Waiting requests, a crisis first, then the longest wait first."""
        query = select(HandoffRequest).where(HandoffRequest.status == "queued")
        if languages is not None:
            query = query.where(HandoffRequest.language.in_(languages))
        return list(
            session.scalars(
                query.order_by(HandoffRequest.urgency.desc(), HandoffRequest.created_at.asc())
            )
        )

    def position(self, session: Session, req: HandoffRequest) -> int:
        """1 for the next one to be answered in this request's language queue."""
        ordered = self.queue(session, [req.language])
        for n, other in enumerate(ordered, start=1):
            if other.id == req.id:
                return n
        return 0

    def wait_estimate(
        self, session: Session, language: str, now: dt.datetime | None = None
    ) -> int | None:
        """Median minutes to acceptance over the last week's (up to 20) answered requests."""
        since = (now or utcnow()) - dt.timedelta(days=7)
        rows = session.execute(
            select(HandoffRequest.created_at, HandoffRequest.accepted_at)
            .where(
                HandoffRequest.language == language,
                HandoffRequest.accepted_at.is_not(None),
                HandoffRequest.created_at >= since,
            )
            .order_by(HandoffRequest.created_at.desc())
            .limit(20)
        ).all()
        waits = [(b - a).total_seconds() / 60 for a, b in rows if a and b and b >= a]
        if not waits:
            return None
        # "About N minutes", rounded up to at least 2: never promise a faster answer than likely.
        return max(2, round(statistics.median(waits) + 0.5))

    # --- the staff side ---

    def accept(self, session: Session, req: HandoffRequest, staff_id: str, staff_name: str) -> bool:
        """Take a queued request; False if someone else was faster (safe across processes)."""
        now = utcnow()
        done = session.execute(
            update(HandoffRequest)
            .where(and_(HandoffRequest.id == req.id, HandoffRequest.status == "queued"))
            .values(status="accepted", staff_id=staff_id, staff_name=staff_name, accepted_at=now)
        )
        if not int(done.rowcount or 0):  # type: ignore[attr-defined]
            return False
        session.refresh(req)
        conv = req.conversation
        conv.mode = Mode.STAFF
        conv.choices = []
        self.events.publish(Event("handoff.accepted", conv.id, {"handoff": req.id}))
        return True

    def assign(self, session: Session, req: HandoffRequest, staff_id: str, staff_name: str) -> None:
        """Transfer or reassign to a named colleague: it stays accepted, by them now."""
        req.status = "accepted"
        req.staff_id, req.staff_name, req.accepted_at = staff_id, staff_name, utcnow()
        req.code_word_confirmed = False  # the new person confirms the code word again
        _end_code_word_check(req.conversation)
        req.conversation.mode = Mode.STAFF
        req.conversation.choices = []
        self.events.publish(Event("handoff.transferred", req.conversation_id, {"handoff": req.id}))

    def requeue(self, session: Session, req: HandoffRequest, language: str) -> None:
        """Transfer to a language queue: waiting again, with a fresh accept timeout."""
        req.status, req.language = "queued", language
        req.staff_id, req.staff_name, req.accepted_at = None, None, None
        req.code_word_confirmed = False
        _end_code_word_check(req.conversation)
        state = self.state(session, req)
        state.queued_at, state.fallback_at = utcnow(), None
        req.conversation.mode = Mode.QUEUED
        req.conversation.choices = []
        self.events.publish(Event("handoff.transferred", req.conversation_id, {"handoff": req.id}))

    def release(self, session: Session, req: HandoffRequest, close: bool) -> None:
        """Hand back to the assistant (the conversation goes on) or close it (a new one next)."""
        req.status, req.closed_at = "closed", utcnow()
        conv = req.conversation
        _end_code_word_check(conv)
        conv.mode = Mode.CLOSED if close else Mode.BOT
        conv.choices = []
        kind = "handoff.closed" if close else "handoff.released"
        self.events.publish(Event(kind, conv.id, {"handoff": req.id}))

    # --- lines held back until the survivor writes ---

    def hold(self, session: Session, contact_id: str, reply: Reply) -> None:
        session.add(
            HeldReply(
                contact_id=contact_id, key=reply.key, text_enc=self.crypto.encrypt(reply.text)
            )
        )

    def take_held(self, session: Session, contact_id: str) -> list[Reply]:
        held = list(
            session.scalars(
                select(HeldReply)
                .where(HeldReply.contact_id == contact_id)
                .order_by(HeldReply.id.asc())
            )
        )
        replies = []
        for item in held:
            text = self.crypto.decrypt(item.text_enc)
            if text:
                replies.append(Reply(text=text, key=item.key))
            session.delete(item)
        return replies

    def drop_held(self, session: Session, contact_id: str) -> None:
        session.execute(delete(HeldReply).where(HeldReply.contact_id == contact_id))

    # --- retention ---

    def purge(self, session: Session, ttl_hours: int, now: dt.datetime | None = None) -> int:
        """Delete what a closed handoff left once its time-to-live has passed; returns how many
        transcript messages went. Notes, held lines, abandoned summaries and the closed
        conversation itself go at the same time."""
        now = now or utcnow()
        cutoff = now - dt.timedelta(hours=ttl_hours)
        closed = select(HandoffRequest.id).where(
            HandoffRequest.status == "closed", HandoffRequest.closed_at < cutoff
        )
        result = session.execute(
            delete(HandoffMessage).where(HandoffMessage.handoff_id.in_(closed))
        )
        session.execute(delete(HandoffNote).where(HandoffNote.handoff_id.in_(closed)))
        session.execute(delete(HeldReply).where(HeldReply.created_at < cutoff))
        session.execute(
            delete(HandoffRequest).where(
                HandoffRequest.status == "draft", HandoffRequest.created_at < cutoff
            )
        )
        still_open = select(HandoffRequest.conversation_id).where(
            HandoffRequest.status.in_(("queued", "accepted"))
        )
        recently_closed = select(HandoffRequest.conversation_id).where(
            HandoffRequest.status == "closed", HandoffRequest.closed_at >= cutoff
        )
        session.execute(
            delete(Conversation).where(
                Conversation.mode == Mode.CLOSED,
                Conversation.updated_at < cutoff,
                Conversation.id.not_in(still_open),
                Conversation.id.not_in(recently_closed),
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _end_code_word_check(conv: Conversation) -> None:
    """A question for the code word belongs to the person who asked it: when the handoff moves
    on (another person, another queue, back to the assistant), an answer is no longer awaited."""
    if conv.awaiting == Awaiting.CODE_WORD_CHECK:
        conv.awaiting = None
