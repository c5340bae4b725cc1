"""Directory import jobs: an HSDS file an admin uploaded, checked and applied in the background.

A job is a row, not only a task in memory, so the console shows what happened to it after a
restart: a job that was running when the process stopped is marked interrupted at the next start
(``bot/directory/hsds/jobs.py``). It holds counts, the ids and names of directory entries and the
reasons rows were refused, never anything about survivors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, new_id, utcnow


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    staff_id: Mapped[str | None] = mapped_column(String(32), index=True)  # who uploaded it
    token: Mapped[str] = mapped_column(String(64))  # the kept upload (bot/directory/uploads.py)
    # checking → checked | rejected | refused, then applying → done; cancelled, failed or
    # interrupted (the process stopped) from either running state.
    state: Mapped[str] = mapped_column(String(16), index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)  # entries (services and countries)
    done: Mapped[int] = mapped_column(Integer, default=0)  # entries through the current phase
    written: Mapped[int] = mapped_column(Integer, default=0)  # entries committed by the apply
    errors: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    # {"errors": [{where, code, params, reason}], "created": [ids], "updated": [ids],
    #  "names": {id: name}}, each list cut at REPORT_MAX (the counts above are whole).
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(String(24))  # why refused or failed: a code
    detail: Mapped[str | None] = mapped_column(Text)  # English detail of an unreadable file
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
