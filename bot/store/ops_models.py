"""Tables admins use to run the service (issue 5): teams, operating hours and holidays, extra exit
words and extra crisis-lexicon entries. They override the deployment's defaults (``BOT_TEAM_*``,
``BOT_EXIT_WORDS``, the shipped lexicon files) and take effect without a restart.

None of them holds anything a survivor wrote: only names of teams, times, dates and phrases the
admins chose.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.store.models import Base, utcnow


class Team(Base):
    """A group of people who answer the same languages' queues."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[str] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class OperatingSetting(Base):
    """One operating value set from the console: ``hours``, ``timezone``, ``holidays``."""

    __tablename__ = "operating_settings"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(400))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Holiday(Base):
    """A local date with nobody on duty (used once the ``holidays`` setting exists)."""

    __tablename__ = "holidays"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    label: Mapped[str | None] = mapped_column(String(80))


class ExitWord(Base):
    """An exit word added by an admin for one language, on top of the built-in ones."""

    __tablename__ = "exit_words"
    __table_args__ = (UniqueConstraint("folded", name="uq_exit_words_folded"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    language: Mapped[str] = mapped_column(String(8), index=True)
    word: Mapped[str] = mapped_column(String(40))
    folded: Mapped[str] = mapped_column(String(40))
    staff_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LexiconEntry(Base):
    """A phrase an admin added to one language's crisis, self-harm or not-crisis list."""

    __tablename__ = "lexicon_entries"
    __table_args__ = (
        UniqueConstraint("language", "kind", "phrase", name="uq_lexicon_entries_phrase"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    language: Mapped[str] = mapped_column(String(8), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # crisis / self_harm / not_crisis
    phrase: Mapped[str] = mapped_column(String(120))
    staff_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


def team_languages(session: Session, staff_ids: Iterable[str] | None = None) -> dict[str, set[str]]:
    """Per person, the languages their teams answer (people in no team are absent)."""
    query = select(TeamMember.staff_id, Team.languages).join(Team, Team.id == TeamMember.team_id)
    if staff_ids is not None:
        query = query.where(TeamMember.staff_id.in_(list(staff_ids)))
    out: dict[str, set[str]] = {}
    for staff_id, languages in session.execute(query):
        out.setdefault(staff_id, set()).update(languages or [])
    return out


def answers(own: Iterable[str], teams: Iterable[str], language: str) -> bool:
    """A person answers a language in their own list or their teams'; nothing at all: every one."""
    languages = set(own) | set(teams)
    return not languages or language in languages


class KeyCheck(Base):
    """A keyed digest of the deployment's secret key (never the key): every process that opens
    the database must have the same key, or pseudonyms and encrypted data would not match
    (``bot/store/keys.py``)."""

    __tablename__ = "key_checks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class BotProcess(Base):
    """One running ``bot run`` on a PostgreSQL database, announced at start and renewed while it
    lives (``bot/store/processes.py``), so that a second process whose Rasa would keep its own
    dialogue state is refused at start. Machine name and process ids only: nothing about people.
    """

    __tablename__ = "bot_processes"

    owner: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    # The database session that keeps the row alive: gone with the process, however it ended.
    backend_pid: Mapped[int] = mapped_column(Integer)
    # Where its Rasa keeps trackers: "memory" (its own), or "redis:" and a digest of the Redis
    # server, database and key prefix (never the password).
    rasa_state: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
