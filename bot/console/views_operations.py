"""Admins run the service: the operations overview (open now or not, who is on duty per
language, what the deployment has added) and the teams that take handoffs, with the helpers the
operations pages share (a form's whole number, a moment in the team's time zone). Every change is
stored (``bot/store/ops_models.py``), audited with ids, language codes and counts only (never a
word or a phrase), and applied at once with ``Runtime.reload_operations``. Hours and holidays
are in ``views_operations_hours.py``; exit words and crisis phrases are in
``views_operations_safety.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.dates import format_datetime
from sqlalchemy import delete, func, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.http_limits import client_int
from bot.store.console_models import StaffUser
from bot.store.models import utcnow
from bot.store.ops_models import ExitWord, LexiconEntry, Team, TeamMember

TEAM_NAME_MAX = 64


def _languages(console: Console, form: FormData) -> list[str]:
    wanted = {str(x) for x in form.getlist("languages")}
    return [code for code in console.settings.languages if code in wanted]


def _codes(languages: list[str]) -> str:
    """Language codes as one enumerated audit value: "es.pt" ("" for none)."""
    return ".".join(languages)


def int_or_none(value: object) -> int | None:
    return client_int(value)


async def overview(console: Console, request: Request, staff: Staff) -> Response:
    now = utcnow()
    hours = console.rt.hours
    with console.rt.db.session() as s:
        on_duty = {
            lang: console.rt.handoffs.on_duty(s, lang, now) for lang in console.settings.languages
        }
        counts = {
            "teams": s.scalar(select(func.count()).select_from(Team)) or 0,
            "exit_words": s.scalar(select(func.count()).select_from(ExitWord)) or 0,
            "entries": s.scalar(select(func.count()).select_from(LexiconEntry)) or 0,
        }
    return console.html(
        request,
        staff,
        "operations.html",
        open_now=hours.is_open(now),
        next_change_text=local_text(console, request, staff, hours.next_change(now)),
        zone_name=hours.tz.key,
        on_duty=on_duty,
        counts=counts,
    )


def local_text(console: Console, request: Request, staff: Staff, moment: dt.datetime | None) -> str:
    """A moment in the team's time zone, in the reader's language ("" for none)."""
    if moment is None:
        return ""
    language = console.language(request, staff)
    aware = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    return str(
        format_datetime(aware, "EEEE d MMMM y, HH:mm", tzinfo=console.rt.hours.tz, locale=language)
    )


async def teams(console: Console, request: Request, staff: Staff) -> Response:
    problem = request.query_params.get("problem", "")
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        problem = _team_change(console, staff, form)
        if not problem:
            return console.go("/operations/teams?saved=1")
    with console.rt.db.session() as s:
        rows = list(s.scalars(select(Team).order_by(Team.name)))
        members: dict[int, set[str]] = {}
        for m in s.scalars(select(TeamMember)):
            members.setdefault(m.team_id, set()).add(m.staff_id)
        people = list(
            s.scalars(
                select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.display_name)
            )
        )
    return console.html(
        request,
        staff,
        "operations_teams.html",
        status=422 if problem else 200,
        teams=rows,
        members=members,
        people=people,
        problem=problem,
        saved=request.query_params.get("saved") == "1",
    )


def _team_change(console: Console, staff: Staff, form: FormData) -> str:
    """Create, update (name, languages, members) or delete a team; returns a problem key."""
    action = str(form.get("action", ""))
    team_id = int_or_none(form.get("team"))
    name = " ".join(str(form.get("name", "")).split())
    languages = _languages(console, form)
    wanted = {str(x) for x in form.getlist("members")}
    with console.rt.db.session() as s:
        active = set(s.scalars(select(StaffUser.id).where(StaffUser.active.is_(True))))
        team = s.get(Team, team_id) if team_id is not None else None
        if action == "delete":
            if team is None:
                return "missing"
            s.delete(team)
            detail: dict[str, Any] = {"team": team.id}
        elif action in ("create", "update"):
            if not name or len(name) > TEAM_NAME_MAX:
                return "name"
            clash = s.scalar(select(Team.id).where(func.lower(Team.name) == name.lower()))
            if clash is not None and (team is None or clash != team.id):
                return "taken"
            if action == "create":
                team = Team(name=name, languages=languages)
                s.add(team)
                s.flush()
            elif team is None:
                return "missing"
            renamed = team.name != name
            team.name, team.languages = name, languages
            s.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
            chosen = sorted(wanted & active)
            s.add_all(TeamMember(team_id=team.id, staff_id=sid) for sid in chosen)
            detail = {
                "team": team.id,
                "languages": _codes(languages),
                "members": len(chosen),
                "renamed": renamed,
            }
        else:
            return "action"
    console.audit(staff.id, f"team.{action}", **detail)
    return ""


def routes(console: Console) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/operations", console.guard(overview, "admin")),
        Route("/operations/teams", console.guard(teams, "admin"), methods=both),
    ]
