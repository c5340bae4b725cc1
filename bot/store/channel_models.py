"""Tables of the messaging channels: the durable outbox, platform message ids, inbound queue.

Owned by the channels (issue 3). Message text here is always encrypted and short-lived: an outbox
row is deleted once sent; platform message ids are kept only as long as they can be deleted (48 h on
Telegram); an inbox row is deleted once its message has been handled.

The outbox and the platform message ids are keyed by the contact's pseudonym without a foreign key
(migration 0003): after DELETE the contact row is gone at once, yet the confirmation must still be
sent and the chat's recent messages deleted on Telegram. The outbox drops rows of contacts erased
any other way, and the purge removes orphaned ids (bot/channels/outbox.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class OutboxMessage(Base):
    """One message to send, kept until the platform accepted it (or it is dead-lettered)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    payload_enc: Mapped[str] = mapped_column(Text)  # encrypted JSON: text, buttons, kind
    # pending → deleted once sent; held: WhatsApp's window is closed; dead: gave up, staff can see
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(String(80))  # an error code, never content
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # The bot process sending it now, until when (migration 0013): with several processes on one
    # database, a chat's head row goes out from one of them only (bot/store/leases.py).
    lease_owner: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # It answers a crisis, self-harm, exit or delete: sent without waiting for a free slot.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class InboxMessage(Base):
    """An inbound message acknowledged to the platform but not yet handled (survives a crash)."""

    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_key: Mapped[str] = mapped_column(String(40), unique=True)
    contact_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    payload_enc: Mapped[str] = mapped_column(Text)  # encrypted Inbound
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # The bot process running its turn now, until when (migration 0013; bot/store/leases.py).
    lease_owner: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Crisis, self-harm, exit, delete, language or person (the screen at the webhook): never waits
    # for a turn slot, nor behind the same person's earlier message that waits for Rasa.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Not tried again before this (a failed turn's backoff, or Rasa away): in the row, so any
    # process, or this one after a restart, keeps to it.
    not_before: Mapped[dt.datetime | None] = mapped_column(DateTime)


class PlatformMessage(Base):
    """A platform message id in a chat, so the exit word can delete recent messages (Telegram)."""

    __tablename__ = "platform_messages"
    __table_args__ = (UniqueConstraint("contact_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class ChannelWindow(Base):
    """WhatsApp's 24-hour customer-service window and contact opt-in, per contact."""

    __tablename__ = "channel_windows"

    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    last_inbound_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    opted_in_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
