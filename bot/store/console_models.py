"""Tables of the staff console: accounts, sessions, the audit log, notes, canned replies.

Owned by the console (issue 4). Notes are encrypted and live as long as their handoff's transcript.
The audit log records who did what and when, never message content.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, new_id, utcnow


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(12), default="staff")  # staff/supervisor/admin
    password_hash: Mapped[str | None] = mapped_column(String(200))
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="en")  # the console's language
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)  # queues they answer
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    invite_token_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Added by migration 0004: a one-time invitation expires; a TOTP code is accepted only once.
    invite_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # Added by migration 0009: the second step counts its own failures (a right password never
    # resets them); a secret made by the server waits here until a code confirms it; recovery
    # codes are kept as hashes, each removed when used.
    totp_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    totp_failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    totp_pending_enc: Mapped[str | None] = mapped_column(Text)
    recovery_hashes: Mapped[list[Any] | None] = mapped_column(JSON)


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hash of the cookie value
    staff_id: Mapped[str] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    second_factor_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # for the idle timeout


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    staff_id: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # enumerated fields only


class HandoffNote(Base):
    __tablename__ = "handoff_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[str] = mapped_column(
        ForeignKey("handoff_requests.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[str | None] = mapped_column(String(32))
    text_enc: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CannedReply(Base):
    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    language: Mapped[str] = mapped_column(String(8), index=True)
    title: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)


# --- Added by migration 0004 ---


class HandoffState(Base):
    """The live side of a handoff that the console and the queue job need; never content.

    ``last_inbound_at`` is the survivor's last message: it defines "their turn" (policy.py) and
    WhatsApp's 24-hour window. ``fallback_at`` records the one honest "nobody has answered yet".
    """

    __tablename__ = "handoff_state"

    handoff_id: Mapped[str] = mapped_column(
        ForeignKey("handoff_requests.id", ondelete="CASCADE"), primary_key=True
    )
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_inbound_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    fallback_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    code_word_failures: Mapped[int] = mapped_column(Integer, default=0)


class HeldReply(Base):
    """A line for the survivor held back by "only when I write" until they next write.

    Rendered in their language and encrypted; delivered first in their next turn, deleted by the
    exit word, by erasure, and by the purge job after the transcript time-to-live.
    """

    __tablename__ = "held_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(40))
    text_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


# --- Added by migration 0020 ---


class SignInFailure(Base):
    """Console sign-in tries per (account address, client address), shared by every process on
    the database, so that the growing delays hold however many processes an attacker reaches and
    across restarts (``bot/console/auth.py``, ``Throttle``).

    Both addresses only as keyed hashes (``Crypto.keyed_digest``): the table names no email and
    no client address. Deleted by a right password, an admin's unlock, and the purge job a day
    after the last try.
    """

    __tablename__ = "signin_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # the pair
    account: Mapped[str] = mapped_column(String(64), index=True)  # the account address alone
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
