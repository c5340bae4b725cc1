"""The team's hours and holidays in the console: the opening hours and time zone (checked by
``bot/handoff/hours.py`` before they are stored, or reset to the deployment's settings), and the
holidays, which the first change copies from the deployment into their own table. Survivors' hours
text and the on-duty decision change with the next message. It is apart from the teams and the
safety pages because it alone edits the operating settings and renders times in the team's zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.console.views_operations import local_text
from bot.handoff.hours import HoursError, check_hours, zone, zone_names
from bot.store.models import utcnow
from bot.store.ops_models import Holiday, OperatingSetting

HOLIDAY_LABEL_MAX = 80
HOURS_MAX = 400


def _stored(console: Console) -> dict[str, str]:
    with console.rt.db.session() as s:
        return {row.key: row.value for row in s.scalars(select(OperatingSetting))}


def _put(s: Any, key: str, value: str) -> None:
    row = s.get(OperatingSetting, key)
    if row is None:
        s.add(OperatingSetting(key=key, value=value))
    else:
        row.value = value


async def hours_page(console: Console, request: Request, staff: Staff) -> Response:
    problem, part, typed = request.query_params.get("problem", ""), "", None
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        action = str(form.get("action", ""))
        try:
            if action == "hours":
                typed = (str(form.get("hours", "")), str(form.get("timezone", "")))
                _set_hours(console, staff, *typed)
            elif action == "reset":
                _reset_hours(console, staff)
            elif action == "holiday_add":
                _add_holiday(console, staff, str(form.get("day", "")), str(form.get("label", "")))
            elif action == "holiday_remove":
                _remove_holiday(console, staff, str(form.get("day", "")))
            else:
                raise HoursError("action")
        except HoursError as exc:
            problem, part = exc.reason, exc.part
        else:
            return console.go("/operations/hours?saved=1")
    return _hours_view(console, request, staff, problem, part, typed)


def _hours_view(
    console: Console,
    request: Request,
    staff: Staff,
    problem: str,
    part: str,
    typed: tuple[str, str] | None,
) -> Response:
    hours, now = console.rt.hours, utcnow()
    stored = _stored(console)
    with console.rt.db.session() as s:
        labels = {h.day: h.label for h in s.scalars(select(Holiday))}
    return console.html(
        request,
        staff,
        "operations_hours.html",
        status=422 if problem else 200,
        problem=problem,
        part=part,
        spec=typed[0] if typed else stored.get("hours", console.settings.team_hours),
        zone_name=typed[1] if typed else hours.tz.key,
        zones=zone_names(),
        from_console="hours" in stored or "timezone" in stored,
        default_spec=console.settings.team_hours,
        default_zone=console.settings.team_timezone,
        holidays=sorted(hours.holidays),
        holiday_labels=labels,
        open_now=hours.is_open(now),
        hours_zone=hours.tz.key,
        next_change_text=local_text(console, request, staff, hours.next_change(now)),
        local_now_text=local_text(console, request, staff, now),
        described={lang: hours.describe(lang) for lang in console.settings.languages},
        saved=request.query_params.get("saved") == "1",
        today=now.date().isoformat(),
    )


def _set_hours(console: Console, staff: Staff, spec: str, timezone: str) -> None:
    spec = " ".join(spec.replace("\n", ";").split())
    if len(spec) > HOURS_MAX:
        raise HoursError("long")
    windows = check_hours(spec)
    zone(timezone)
    with console.rt.db.session() as s:
        _put(s, "hours", spec)
        _put(s, "timezone", timezone)
    console.rt.reload_operations()
    console.audit(staff.id, "hours.set", windows=len(windows))


def _reset_hours(console: Console, staff: Staff) -> None:
    with console.rt.db.session() as s:
        s.execute(delete(OperatingSetting).where(OperatingSetting.key.in_(["hours", "timezone"])))
    console.rt.reload_operations()
    console.audit(staff.id, "hours.reset")


def _holidays_in_db(s: Any, console: Console) -> None:
    """The first holiday change copies the deployment's holidays, then the table is the list."""
    if s.get(OperatingSetting, "holidays") is None:
        for day in console.rt.hours.holidays:
            if s.get(Holiday, day) is None:
                s.add(Holiday(day=day))
        s.add(OperatingSetting(key="holidays", value="table"))


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise HoursError("date") from None


def _add_holiday(console: Console, staff: Staff, text: str, label: str) -> None:
    day = _day(text)
    with console.rt.db.session() as s:
        _holidays_in_db(s, console)
        s.flush()
        found = s.get(Holiday, day)
        if found is None:
            s.add(Holiday(day=day, label=label.strip()[:HOLIDAY_LABEL_MAX] or None))
        else:
            found.label = label.strip()[:HOLIDAY_LABEL_MAX] or found.label
    console.rt.reload_operations()
    console.audit(staff.id, "holiday.add", day=day.isoformat())


def _remove_holiday(console: Console, staff: Staff, text: str) -> None:
    day = _day(text)
    with console.rt.db.session() as s:
        _holidays_in_db(s, console)
        s.flush()
        s.execute(delete(Holiday).where(Holiday.day == day))
    console.rt.reload_operations()
    console.audit(staff.id, "holiday.remove", day=day.isoformat())


def routes(console: Console) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/operations/hours", console.guard(hours_page, "admin"), methods=both),
    ]
