"""When the team is on duty: weekly hours in the team's time zone, less holidays.

``BOT_TEAM_HOURS`` reads like ``mon-fri 09:00-17:00; sat 10:00-14:00``. Times are local to
``BOT_TEAM_TIMEZONE``; ``BOT_TEAM_HOLIDAYS`` lists ISO dates with nobody on duty. Admins can
replace all three from the console; ``TeamHours.configure`` swaps them in one step, so the
survivors' hours text and the on-duty decision change together, without a restart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import format_datetime, format_time, get_day_names, get_timezone_location

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOKAHEAD_DAYS = 15


class HoursError(ValueError):
    """Why a weekly-hours text or a time zone cannot be used; ``reason`` is an enumerated key."""

    def __init__(self, reason: str, part: str = "") -> None:
        super().__init__(f"{reason}: {part}" if part else reason)
        self.reason = reason
        self.part = part


@dataclass(frozen=True)
class Window:
    day: int  # 0 = Monday
    start: dt.time
    end: dt.time


@dataclass(frozen=True)
class _State:
    windows: tuple[Window, ...]
    tz: ZoneInfo
    holidays: frozenset[dt.date]


def _day(name: str, chunk: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAYS:
        raise HoursError("day", chunk)
    return DAYS.index(key)


def _parse_days(spec: str, chunk: str = "") -> list[int]:
    days: list[int] = []
    for part in spec.split(","):
        part = part.strip().lower()
        if "-" in part:
            a, b = (_day(x, chunk or spec) for x in part.split("-", 1))
            days.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif part:
            days.append(_day(part, chunk or spec))
    return days


def _time(text: str, chunk: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        raise HoursError("time", chunk) from None


def parse_hours(spec: str) -> list[Window]:
    """The windows of a weekly-hours text; ``HoursError`` says which part is wrong and why."""
    windows: list[Window] = []
    for chunk in spec.split(";"):
        chunk = chunk.strip()
        if not chunk:
            continue
        if " " not in chunk:
            raise HoursError("format", chunk)
        days_text, times = chunk.rsplit(" ", 1)
        if times.count("-") != 1:
            raise HoursError("format", chunk)
        start_s, end_s = times.split("-")
        start, end = _time(start_s, chunk), _time(end_s, chunk)
        if start >= end:
            raise HoursError("order", chunk)
        days = _parse_days(days_text, chunk)
        if not days:
            raise HoursError("day", chunk)
        windows.extend(Window(d, start, end) for d in days)
    return windows


def check_hours(spec: str) -> list[Window]:
    """Like ``parse_hours``, but an empty text is refused: nobody would ever be on duty."""
    windows = parse_hours(spec)
    if not windows:
        raise HoursError("empty")
    return windows


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError("timezone", name) from None


def zone_name(tz: dt.tzinfo, language: str) -> str:
    """A time zone as people say it in ``language`` ("hora de México (Ciudad de México)",
    "heure : Mexique (Mexico)"), from CLDR; its key only if CLDR has no name for it."""
    key = getattr(tz, "key", None)
    if not key:
        return str(tz)
    try:
        return str(get_timezone_location(key, locale=language))
    except (LookupError, ValueError):
        return str(key)


def zone_names() -> list[str]:
    """IANA zone names for a select: the Americas first (the region served), then the rest."""
    names = sorted(n for n in available_timezones() if "/" in n and not n.startswith("Etc/"))
    return (
        [n for n in names if n.startswith("America/")]
        + [n for n in names if not n.startswith("America/")]
        + ["UTC"]
    )


def parse_holidays(text: str) -> set[dt.date]:
    return {dt.date.fromisoformat(d.strip()) for d in text.split(",") if d.strip()}


class TeamHours:
    def __init__(self, spec: str, timezone: str, holidays: str = "") -> None:
        self._state = _State(
            tuple(parse_hours(spec)), ZoneInfo(timezone), frozenset(parse_holidays(holidays))
        )

    def configure(self, spec: str, timezone: str, holidays: Iterable[dt.date]) -> None:
        """Replace hours, zone and holidays at once: readers see the old or the new, never a mix."""
        self._state = _State(tuple(parse_hours(spec)), zone(timezone), frozenset(holidays))

    @property
    def windows(self) -> tuple[Window, ...]:
        return self._state.windows

    @property
    def tz(self) -> ZoneInfo:
        return self._state.tz

    @property
    def holidays(self) -> frozenset[dt.date]:
        return self._state.holidays

    def _local(self, now: dt.datetime, state: _State | None = None) -> dt.datetime:
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        return now.astimezone((state or self._state).tz)

    def is_open(self, now: dt.datetime) -> bool:
        return self._open(now, self._state)

    def _open(self, now: dt.datetime, state: _State) -> bool:
        local = self._local(now, state)
        if local.date() in state.holidays:
            return False
        return any(
            w.day == local.weekday() and w.start <= local.time() < w.end for w in state.windows
        )

    def next_open(self, now: dt.datetime) -> dt.datetime | None:
        """The next start of a staffed window (or ``now`` if open); None if there are no hours."""
        state = self._state
        local = self._local(now, state)
        if self._open(now, state):
            return local
        for offset in range(0, LOOKAHEAD_DAYS):
            day = local.date() + dt.timedelta(days=offset)
            if day in state.holidays:
                continue
            starts = sorted(w.start for w in state.windows if w.day == day.weekday())
            for start in starts:
                candidate = dt.datetime.combine(day, start, tzinfo=state.tz)
                if candidate > local:
                    return candidate
        return None

    def next_change(self, now: dt.datetime) -> dt.datetime | None:
        """The next moment the team goes on or off duty (local time); None within two weeks."""
        state = self._state
        local = self._local(now, state)
        open_now = self._open(now, state)
        moments: set[dt.datetime] = set()
        for offset in range(0, LOOKAHEAD_DAYS):
            day = local.date() + dt.timedelta(days=offset)
            moments.add(dt.datetime.combine(day, dt.time(0), tzinfo=state.tz))
            for w in state.windows:
                if w.day == day.weekday():
                    moments.add(dt.datetime.combine(day, w.start, tzinfo=state.tz))
                    moments.add(dt.datetime.combine(day, w.end, tzinfo=state.tz))
        for moment in sorted(m for m in moments if m > local):
            if self._open(moment, state) != open_now:
                return moment
        return None

    def describe(self, language: str) -> str:
        """e.g. "lunes–viernes 9:00–17:00 (hora de México (Ciudad de México))": the zone as people
        say it in the reader's language (CLDR's name for it), never its database key."""
        state = self._state
        if not state.windows:
            return "—"
        names = get_day_names("wide", locale=language)
        groups: dict[tuple[dt.time, dt.time], list[int]] = {}
        for w in state.windows:
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
        return f"{'; '.join(parts)} ({zone_name(state.tz, language)})"

    def describe_next(self, now: dt.datetime, language: str) -> str:
        """When the team is next on duty; within hours (nobody free right now), the hours."""
        if self.is_open(now):
            return self.describe(language)
        nxt = self.next_open(now)
        if nxt is None:
            return "—"
        tz = nxt.tzinfo or self.tz
        return str(format_datetime(nxt, "EEEE HH:mm", tzinfo=tz, locale=language)) + (
            f" ({zone_name(tz, language)})"
        )
