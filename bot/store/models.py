"""The database schema: routing fields and consents, never stories.

What is kept, and for how long, is listed in docs/data.md. Message text exists only in
``HandoffMessage`` (encrypted, during a live handoff, deleted after it closes).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Mode(StrEnum):
    """Who answers the person now: the assistant, nobody yet (queued), a person, or nobody ever
    again (closed: the next message starts a new conversation)."""

    BOT = "bot"
    QUEUED = "queued"
    STAFF = "staff"
    CLOSED = "closed"


class Awaiting(StrEnum):
    """The free-text answer the last question waits for, if any (a button's answer needs none)."""

    COUNTRY = "country"  # resolved against country names in every language
    CODE_WORD = "code_word"  # hashed at once, never stored, logged or sent to Rasa
    # Staff asked for the code word in a live handoff: the next text is checked against the hash,
    # never kept in the transcript, logged or sent to Rasa; staff see only whether it matched.
    CODE_WORD_CHECK = "code_word_check"


class Contact(Base):
    """One person on one channel, known only by a keyed hash of their platform id."""

    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address_enc: Mapped[str] = mapped_column(Text)  # chat id / phone, encrypted, for replying only
    language: Mapped[str | None] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(2))
    first_seen_on: Mapped[dt.date] = mapped_column(Date, default=lambda: utcnow().date())
    last_seen_on: Mapped[dt.date] = mapped_column(Date, default=lambda: utcnow().date())
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)  # the user blocked the bot

    conversations: Mapped[list[Conversation]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", passive_deletes=True
    )
    consents: Mapped[list[Consent]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", passive_deletes=True
    )


class Conversation(Base):
    """The live state of a session: mode, language, what the last question offered."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(String(8), default=Mode.BOT)
    # Rasa knows the conversation only by this random id, never by the contact's pseudonym.
    rasa_sender: Mapped[str] = mapped_column(String(32), default=new_id, unique=True)
    language: Mapped[str | None] = mapped_column(String(8))
    language_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    language_candidate: Mapped[str | None] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(2))
    # The question last asked: what typed numbers and yes/no map to.
    awaiting: Mapped[str | None] = mapped_column(String(32))  # an Awaiting value
    # What a first message asked for, answered once the person says it is safe to chat.
    pending_intent: Mapped[str | None] = mapped_column(String(32))
    choices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    needs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    crisis: Mapped[bool] = mapped_column(Boolean, default=False)
    rasa_slots: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queue_notice_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The person said they are under 18 (bot/safety/people.py): wording for young people, the
    # child line first, and what confidentiality means for them. A stated adult age clears it.
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    # Filters the person asked for (bot/safety/people.py FILTERS), applied to every service list.
    filters: Mapped[list[Any] | None] = mapped_column(JSON, default=list)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="conversations")
    handoffs: Mapped[list[HandoffRequest]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True
    )


class Consent(Base):
    """A yes or no the person gave, per kind (handoff, summary, referral, follow-up)."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="consents")


class HandoffRequest(Base):
    """A consented request for a person: enumerated routing fields only, never free text."""

    __tablename__ = "handoff_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(12), default="queued")  # queued/accepted/closed
    language: Mapped[str] = mapped_column(String(8))
    staff_id: Mapped[str | None] = mapped_column(String(32), index=True)  # who accepted it
    staff_name: Mapped[str | None] = mapped_column(String(64))  # their chosen display name
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The handoff card the person saw and agreed to send (E2): enumerated fields only.
    card_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    safety: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # no_calls, never_first...
    code_word_hash: Mapped[str | None] = mapped_column(String(64))
    code_word_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    country: Mapped[str | None] = mapped_column(String(2))
    needs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    urgency: Mapped[int] = mapped_column(Integer, default=0)  # 1 = crisis, served first
    on_duty_at_request: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    conversation: Mapped[Conversation] = relationship(back_populates="handoffs")
    messages: Mapped[list[HandoffMessage]] = relationship(
        back_populates="handoff", cascade="all, delete-orphan", passive_deletes=True
    )


class HandoffMessage(Base):
    """Transcript of a handoff, encrypted; purged a fixed time after the handoff closes."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[str] = mapped_column(
        ForeignKey("handoff_requests.id", ondelete="CASCADE"), index=True
    )
    # in (survivor) / out (staff) / bot / sys / check (a code-word check's result, never the word)
    direction: Mapped[str] = mapped_column(String(8))
    text_enc: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    handoff: Mapped[HandoffRequest] = relationship(back_populates="messages")


class SeenMessage(Base):
    """Inbound message ids already handled (hashed), so a redelivered webhook is answered once."""

    __tablename__ = "seen_messages"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class StaffPresence(Base):
    """Who is on duty now, by language. The console writes it; the conversation reads it."""

    __tablename__ = "staff_presence"

    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(64))
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# --- The service directory (HSDS-shaped: organisation → service, with the safety fields of G1) ---


class Country(Base):
    __tablename__ = "countries"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Every number a reply may show, in order: [{kind, number, label, how, source, verified,
    # confirmed, note?}] (docs/directory.md, "Countries"). Kinds: bot/directory/countries.py.
    numbers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(Text, default="")
    last_verified: Mapped[dt.date | None] = mapped_column(Date)
    verified_by: Mapped[str] = mapped_column(String(200), default="")
    # When the shipped reference list was merged into this country (its ``compiled_on``); merged
    # once, so a number an admin deleted does not come back (bot/directory/seed.py).
    reference_applied: Mapped[str | None] = mapped_column(String(10))
    # The reference's numbers as last merged ([[kind, number], ...]): a newer reference is
    # compared with these, kind by kind, so only what changed upstream is proposed (migration 0017).
    reference_numbers: Mapped[list[Any] | None] = mapped_column(JSON)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(300))

    services: Mapped[list[Service]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True
    )


class Service(Base):
    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # The names the organisation itself uses in other languages of the assistant ({"fr": …}),
    # shown to a person writing in that language; ``name`` is the original, shown otherwise.
    # Never a translation made up here: a name people cannot find or say back is no help.
    names: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text, default="")
    country: Mapped[str] = mapped_column(String(2), index=True)
    region: Mapped[str | None] = mapped_column(String(100))
    categories: Mapped[list[Any]] = mapped_column(JSON, default=list)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    phones: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{number, kind}]
    email: Mapped[str | None] = mapped_column(String(200))
    hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    free: Mapped[bool | None] = mapped_column(Boolean)
    confidential: Mapped[bool | None] = mapped_column(Boolean)
    # Two different risks, shown separately on cards: a line that may call the police is not
    # one that reports to immigration, and a person deciding whether to call needs to know which.
    may_involve_police: Mapped[bool | None] = mapped_column(Boolean)
    may_share_with_immigration: Mapped[bool | None] = mapped_column(Boolean)
    # "women" or "men" for a service only one of them may use; None: anyone. A person who says
    # he is a man is never offered a women-only service (bot/directory/service.py).
    gender_only: Mapped[str | None] = mapped_column(String(8))
    for_children: Mapped[bool] = mapped_column(Boolean, default=False)
    lgbtq_affirming: Mapped[bool | None] = mapped_column(Boolean)
    public_address: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, default="")
    last_verified: Mapped[dt.date | None] = mapped_column(Date)
    verified_by: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(12), default="active")  # active / retired

    organization: Mapped[Organization] = relationship(back_populates="services")
