"""Tables of content that admins edit from the console: message texts (drafts, approvals,
history), example phrases for retraining (issue 5), and changes waiting for a second admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class MessageEdit(Base):
    """One proposed text for one message in one language. The newest approved one is live."""

    __tablename__ = "message_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="draft")  # draft/approved/rejected
    safety_critical: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class TrainingExample(Base):
    """An example phrase an admin added to an intent; used by the next retraining."""

    __tablename__ = "training_examples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending/live/rejected


# --- Added by migration 0010 ---


class PendingChange(Base):
    """A change one admin proposed that waits for a second admin: to a directory entry that a
    crisis or self-harm reply can show, to a country's numbers, or to who is an admin.

    ``payload`` is what would be applied; ``before`` is what was live when it was proposed (the
    diff shown to the approver, and the check that nothing changed in between). Neither holds
    survivor content: directory entries, numbers, and an account's address and role.
    ``author`` is None for a change proposed from the command line on the server.
    """

    __tablename__ = "pending_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    target: Mapped[str] = mapped_column(String(254))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    author: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # pending / approved / rejected / superseded (a newer proposal for the same target)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    approver: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
