"""The queue for people: requests with enumerated routing fields, presence, transcripts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.events import Event, EventBus
from bot.handoff.hours import TeamHours
from bot.store.crypto import Crypto
from bot.store.models import (
    Conversation,
    HandoffMessage,
    HandoffRequest,
    Mode,
    StaffPresence,
    utcnow,
)

PRESENCE_STALE_AFTER = dt.timedelta(minutes=2)


class Handoffs:
    def __init__(self, hours: TeamHours, crypto: Crypto, events: EventBus | None = None) -> None:
        self.hours = hours
        self.crypto = crypto
        self.events = events or EventBus()

    def on_duty(self, session: Session, language: str, now: dt.datetime | None = None) -> bool:
        """Someone who reads this language is signed in and available, within team hours."""
        now = now or utcnow()
        if not self.hours.is_open(now):
            return False
        fresh = now - PRESENCE_STALE_AFTER
        for p in session.scalars(
            select(StaffPresence).where(
                StaffPresence.available.is_(True), StaffPresence.seen_at >= fresh
            )
        ):
            if not p.languages or language in p.languages:
                return True
        return False

    def open_request(self, session: Session, conv: Conversation) -> HandoffRequest | None:
        return session.scalar(
            select(HandoffRequest).where(
                HandoffRequest.conversation_id == conv.id,
                HandoffRequest.status.in_(("queued", "accepted")),
            )
        )

    def request(self, session: Session, conv: Conversation, on_duty: bool) -> HandoffRequest:
        existing = self.open_request(session, conv)
        if existing is not None:
            return existing
        req = HandoffRequest(
            conversation_id=conv.id,
            language=conv.language or "en",
            country=conv.country,
            needs=list(conv.needs or []),
            urgency=1 if conv.crisis else 0,
            on_duty_at_request=on_duty,
        )
        session.add(req)
        session.flush()
        conv.mode = Mode.QUEUED
        conv.queue_notice_sent = False
        self.events.publish(Event("handoff.requested", conv.id, {"language": req.language}))
        return req

    def raise_urgency(self, session: Session, conv: Conversation) -> None:
        req = self.open_request(session, conv)
        if req is not None:
            req.urgency = 1
            self.events.publish(Event("handoff.urgent", conv.id))

    def withdraw(self, session: Session, conv: Conversation) -> None:
        req = self.open_request(session, conv)
        if req is not None:
            req.status = "closed"
            req.closed_at = utcnow()
            self.events.publish(Event("handoff.withdrawn", conv.id))
        conv.mode = Mode.BOT

    def keep_message(self, session: Session, conv: Conversation, text: str, direction: str) -> None:
        req = self.open_request(session, conv)
        if req is not None and text:
            session.add(
                HandoffMessage(
                    handoff_id=req.id, direction=direction, text_enc=self.crypto.encrypt(text)
                )
            )
            self.events.publish(Event("handoff.message", conv.id, {"direction": direction}))

    def purge(self, session: Session, ttl_hours: int, now: dt.datetime | None = None) -> int:
        """Delete transcripts of handoffs closed more than ``ttl_hours`` ago; returns how many."""
        cutoff = (now or utcnow()) - dt.timedelta(hours=ttl_hours)
        closed = select(HandoffRequest.id).where(
            HandoffRequest.status == "closed", HandoffRequest.closed_at < cutoff
        )
        result = session.execute(
            delete(HandoffMessage).where(HandoffMessage.handoff_id.in_(closed))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
