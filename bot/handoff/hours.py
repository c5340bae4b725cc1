"""When the team is on duty: weekly hours in the team's time zone, less holidays.

``BOT_TEAM_HOURS`` reads like ``mon-fri 09:00-17:00; sat 10:00-14:00``. Times are local to
``BOT_TEAM_TIMEZONE``; ``BOT_TEAM_HOLIDAYS`` lists ISO dates with nobody on duty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_time, get_day_names

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    day: int  # 0 = Monday
    start: dt.time
    end: dt.time


def _parse_days(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.split(","):
        part = part.strip().lower()
        if "-" in part:
            a, b = (DAYS.index(x.strip()[:3]) for x in part.split("-", 1))
            days.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif part:
            days.append(DAYS.index(part[:3]))
    return days


def parse_hours(spec: str) -> list[Window]:
    windows: list[Window] = []
    for chunk in spec.split(";"):
        chunk = chunk.strip()
        if not chunk:
            continue
        days, times = chunk.rsplit(" ", 1)
        start_s, end_s = times.split("-")
        start, end = dt.time.fromisoformat(start_s), dt.time.fromisoformat(end_s)
        windows.extend(Window(d, start, end) for d in _parse_days(days))
    return windows


class TeamHours:
    def __init__(self, spec: str, timezone: str, holidays: str = "") -> None:
        self.windows = parse_hours(spec)
        self.tz = ZoneInfo(timezone)
        self.holidays = {dt.date.fromisoformat(d.strip()) for d in holidays.split(",") if d.strip()}

    def _local(self, now: dt.datetime) -> dt.datetime:
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        return now.astimezone(self.tz)

    def is_open(self, now: dt.datetime) -> bool:
        local = self._local(now)
        if local.date() in self.holidays:
            return False
        return any(
            w.day == local.weekday() and w.start <= local.time() < w.end for w in self.windows
        )

    def next_open(self, now: dt.datetime) -> dt.datetime | None:
        """The next start of a staffed window (or ``now`` if open); None if there are no hours."""
        local = self._local(now)
        if self.is_open(now):
            return local
        for offset in range(0, 15):
            day = local.date() + dt.timedelta(days=offset)
            if day in self.holidays:
                continue
            starts = sorted(w.start for w in self.windows if w.day == day.weekday())
            for start in starts:
                candidate = dt.datetime.combine(day, start, tzinfo=self.tz)
                if candidate > local:
                    return candidate
        return None

    def describe(self, language: str) -> str:
        """e.g. "Monday–Friday 9:00 AM–5:00 PM (America/Mexico_City)", in the reader's language."""
        if not self.windows:
            return "—"
        names = get_day_names("wide", locale=language)
        groups: dict[tuple[dt.time, dt.time], list[int]] = {}
        for w in self.windows:
            groups.setdefault((w.start, w.end), []).append(w.day)
        parts = []
        for (start, end), days in groups.items():
            days = sorted(set(days))
            if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
                day_text = f"{names[days[0]]}–{names[days[-1]]}"
            else:
                day_text = ", ".join(names[d] for d in days)
            times = (
                f"{format_time(start, 'short', locale=language)}–"
                f"{format_time(end, 'short', locale=language)}"
            )
            parts.append(f"{day_text} {times}")
        return f"{'; '.join(parts)} ({self.tz.key})"

    def describe_next(self, now: dt.datetime, language: str) -> str:
        """When the team is next on duty; within hours (nobody free right now), the hours."""
        if self.is_open(now):
            return self.describe(language)
        nxt = self.next_open(now)
        if nxt is None:
            return "—"
        return str(format_datetime(nxt, "EEEE HH:mm", tzinfo=self.tz, locale=language)) + (
            f" ({self.tz.key})"
        )
