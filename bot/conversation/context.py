"""What one turn carries from the first step to the commit: the message, the state, the replies.

A turn is one unit of work: every step reads and changes the same ``Session`` (``ctx.session``),
and nothing is written until the turn commits. A turn that raises leaves the database as it was,
so the inbox's retry sees exactly the state before it (lines held for the person included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from bot.conversation.rate import Verdict
from bot.directory.service import Directory
from bot.nlg.render import RenderContext
from bot.safety.people import PeopleReading
from bot.safety.screen import Screening
from bot.store.db import UnitOfWork
from bot.store.models import Contact, Conversation, Mode
from bot.types import Inbound, Reply, TurnResult, is_language_offer


@dataclass
class TurnContext:
    msg: Inbound
    uow: UnitOfWork
    contact: Contact
    conv: Conversation
    is_new: bool
    screening: Screening
    default_language: str
    replies: list[Reply] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    crisis: bool = False
    # Set by exit, stop and delete: the conversation is gone once the turn commits.
    closed: bool = False
    extras: dict[str, Any] = field(default_factory=dict)
    route: str = ""
    danger: float | None = None  # the model's crisis share (Parse.share of the crisis intents)
    # What the message says about the person or asks about us (bot/safety/people.py).
    people: PeopleReading = field(default_factory=PeopleReading)
    # False for a message that must reveal nothing, not even what this service is (probing).
    introduce: bool = True
    rate: Verdict = field(default_factory=Verdict)  # above the contact's rate limit?
    # Set by the durable inbox: when Rasa is away, raise ``RasaUnavailable`` (nothing is written,
    # the message waits and is answered once Rasa is back) instead of the fixed apology.
    wait_for_rasa: bool = False
    # Run from the durable inbox: a message above the rate limit can wait there (rate.py).
    may_defer: bool = False
    # A first message whose introduction already went out alone, while Rasa was away
    # (``Conversations.introduce``): answered as the first, without a second introduction.
    introduced: bool = False
    _directory: Directory | None = None

    @property
    def session(self) -> Session:
        return self.uow.session

    @property
    def directory(self) -> Directory:
        """One directory view per turn, so shared facts (numbers, countries) are read once."""
        if self._directory is None:
            self._directory = Directory(self.session)
        return self._directory

    @property
    def text(self) -> str:
        return (self.msg.text or "").strip()

    @property
    def first_person(self) -> bool:
        """The message speaks of the writer and puts no one else at the centre: a report is
        worded for them ("Thank you for telling me"), never "for caring about someone"."""
        return bool(self.msg.text) and not self.people.about_other

    @property
    def language(self) -> str:
        return self.conv.language or self.default_language

    @property
    def render(self) -> RenderContext:
        return RenderContext(
            language=self.language,
            channel=self.msg.channel,
            country=self.conv.country,
            country_hint=self.msg.country_hint,
            young=bool(self.conv.minor),
            filters=frozenset(self.conv.filters or []),
            first_person=self.first_person,
        )

    @property
    def live(self) -> bool:
        """Someone is waiting for, or talking with, a person from the team."""
        return self.conv.mode in (Mode.QUEUED, Mode.STAFF)

    def decided(self, intent: str, confidence: float | None = 1.0) -> None:
        """Record what the turn settled on, unless an earlier step already did."""
        if self.intent is None:
            self.intent, self.confidence = intent, confidence

    def answer(self, *replies: Reply, **changes: Any) -> None:
        """Add this step's replies; the last question's buttons become the typed-number choices."""
        self.replies.extend(replies)
        for key, value in changes.items():
            setattr(self.conv, key, value)
        asked = [r for r in replies if r.buttons and not is_language_offer(r)]
        if asked:
            self.conv.choices = [{"payload": b.payload, "role": b.role} for b in asked[-1].buttons]
        elif replies:
            self.conv.choices = []

    def result(self) -> TurnResult:
        mode = Mode.CLOSED if self.closed else self.conv.mode
        return TurnResult(
            self.replies,
            self.language,
            self.intent,
            self.confidence,
            self.crisis and not self.closed,
            mode,
            extras=dict(self.extras),
            route=self.route,
            reason=self.reason(),
        )

    def reason(self) -> str:
        """Which rule or model decided, in a few words (``bot eval``); never the message."""
        screened = self.screening.reason
        if self.route == "understanding":
            said = f"model {self.intent} {self.confidence or 0.0:.2f}"
            if self.danger is not None:
                said += f", danger {self.danger:.2f}"
            if self.screening.tempered and not self.screening.matches:
                said += f" (tempered: {self.screening.tempered})"
            return f"{said}; {screened}" if screened else said
        if self.route in ("status", "probing", "about_person") and self.people.reasons:
            return "people " + ", ".join(self.people.reasons)
        return screened if self.route in ("crisis", "command") and screened else self.route
