"""Admins run the service: teams, hours and holidays, exit words, crisis phrases.

Every change is stored (``bot/store/ops_models.py``), audited with ids, language codes and counts
only (never a word or a phrase), and applied at once with ``Runtime.reload_operations``: the
survivors' hours text, the on-duty decision and the safety screen change for the next message.
"""

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
from bot.handoff.hours import HoursError, check_hours, zone, zone_names
from bot.safety.changes import Refusal, check_exit_word, check_phrase, measure
from bot.safety.commands import builtin_exit_words
from bot.safety.lexicon import KINDS
from bot.safety.text import fold_command
from bot.store.console_models import StaffUser
from bot.store.content_models import TrainingExample
from bot.store.models import utcnow
from bot.store.ops_models import (
    ExitWord,
    Holiday,
    LexiconEntry,
    OperatingSetting,
    Team,
    TeamMember,
)

TEAM_NAME_MAX = 64
HOLIDAY_LABEL_MAX = 80
HOURS_MAX = 400


def _languages(console: Console, form: FormData) -> list[str]:
    wanted = {str(x) for x in form.getlist("languages")}
    return [code for code in console.settings.languages if code in wanted]


def _codes(languages: list[str]) -> str:
    """Language codes as one enumerated audit value: "es.pt" ("" for none)."""
    return ".".join(languages)


def _int(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() else None


# --- overview ---


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
        next_change_text=_local_text(console, request, staff, hours.next_change(now)),
        zone_name=hours.tz.key,
        on_duty=on_duty,
        counts=counts,
    )


def _local_text(
    console: Console, request: Request, staff: Staff, moment: dt.datetime | None
) -> str:
    """A moment in the team's time zone, in the reader's language ("" for none)."""
    if moment is None:
        return ""
    language = console.language(request, staff)
    aware = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    return str(
        format_datetime(aware, "EEEE d MMMM y, HH:mm", tzinfo=console.rt.hours.tz, locale=language)
    )


# --- teams ---


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
    team_id = _int(form.get("team"))
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


# --- hours and holidays ---


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
        next_change_text=_local_text(console, request, staff, hours.next_change(now)),
        local_now_text=_local_text(console, request, staff, now),
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


# --- exit words ---


async def exit_words(console: Console, request: Request, staff: Staff) -> Response:
    refusal: Refusal | None = None
    typed, typed_language = "", ""
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        if str(form.get("action", "")) == "remove":
            return _remove_exit_word(console, staff, _int(form.get("word")))
        typed = " ".join(str(form.get("word", "")).split())
        typed_language = str(form.get("language", ""))
        refusal = _add_exit_word(console, staff, typed, typed_language)
        if refusal is None:
            return console.go(f"/operations/exit-words?added={typed_language}")
    with console.rt.db.session() as s:
        added = list(s.scalars(select(ExitWord).order_by(ExitWord.language, ExitWord.word)))
    return console.html(
        request,
        staff,
        "operations_exit.html",
        status=422 if refusal else 200,
        builtin={lang: builtin_exit_words(lang) for lang in console.settings.languages},
        deployment=console.rt.screen.settings_exit_words,
        added=added,
        refusal=refusal,
        typed=typed if refusal else "",
        typed_language=typed_language or request.query_params.get("added", ""),
        just_added=request.query_params.get("added", ""),
        removed=request.query_params.get("removed") == "1",
    )


def _add_exit_word(console: Console, staff: Staff, word: str, language: str) -> Refusal | None:
    if language not in console.settings.languages:
        return Refusal("language")
    screen = console.rt.screen
    with console.rt.db.session() as s:
        examples = [
            (e.language, e.intent, e.text)
            for e in s.scalars(select(TrainingExample).where(TrainingExample.status != "rejected"))
        ]
    refusal = check_exit_word(
        word, console.settings.languages, screen.commands, screen.lexicons, examples
    )
    if refusal is not None:
        console.audit(staff.id, "exit_word.refused", language=language, reason=refusal.reason)
        return refusal
    with console.rt.db.session() as s:
        row = ExitWord(language=language, word=word, folded=fold_command(word), staff_id=staff.id)
        s.add(row)
        s.flush()
        word_id = row.id
    console.rt.reload_operations()
    console.audit(staff.id, "exit_word.add", language=language, word=word_id)
    return None


def _remove_exit_word(console: Console, staff: Staff, word_id: int | None) -> Response:
    with console.rt.db.session() as s:
        row = s.get(ExitWord, word_id) if word_id is not None else None
        language = row.language if row is not None else ""
        if row is not None:
            s.delete(row)
    if row is not None:
        console.rt.reload_operations()
        console.audit(staff.id, "exit_word.remove", language=language, word=word_id)
    return console.go("/operations/exit-words?removed=1")


# --- crisis lexicon entries ---


def _list_params(console: Console, source: Any) -> tuple[str, str]:
    language = str(source.get("language", "")) or console.settings.languages[0]
    kind = str(source.get("kind", "")) or KINDS[0]
    if language not in console.settings.languages:
        language = console.settings.languages[0]
    return language, kind if kind in KINDS else KINDS[0]


async def lexicon(console: Console, request: Request, staff: Staff) -> Response:
    language, kind = _list_params(console, request.query_params)
    context: dict[str, Any] = {"refusal": None, "impact": None, "typed": "", "confirm": False}
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        language, kind = _list_params(console, form)
        action = str(form.get("action", ""))
        if action == "remove":
            return _remove_entry(console, staff, _int(form.get("entry")), language, kind)
        phrase = " ".join(str(form.get("phrase", "")).split())
        context["typed"] = phrase
        lexicons = console.rt.screen.lexicons
        context["refusal"] = check_phrase(lexicons, language, kind, phrase)
        if context["refusal"] is None:
            impact = measure(lexicons, language, kind, phrase)
            context["impact"] = impact
            confirmed = str(form.get("confirm", "")) == "1"
            if action == "add" and (confirmed or not impact.risky):
                entry_id = _add_entry(console, staff, language, kind, phrase, impact)
                return console.go(
                    f"/operations/lexicon?language={language}&kind={kind}&added={entry_id}"
                    f"&caught={impact.newly_caught}&uncaught={impact.no_longer_caught}"
                    f"&alarms={impact.new_false_alarms}&calmed={impact.fewer_false_alarms}"
                )
            context["confirm"] = action == "add"
        else:
            reason = context["refusal"].reason
            console.audit(staff.id, "lexicon.refused", language=language, kind=kind, reason=reason)
    lex = console.rt.screen.lexicons.by_language[language]
    with console.rt.db.session() as s:
        entries = list(
            s.scalars(
                select(LexiconEntry)
                .where(LexiconEntry.language == language, LexiconEntry.kind == kind)
                .order_by(LexiconEntry.phrase)
            )
        )
    query = request.query_params
    done = {k: _int(query.get(k)) for k in ("added", "caught", "uncaught", "alarms", "calmed")}
    return console.html(
        request,
        staff,
        "operations_lexicon.html",
        status=422 if context["refusal"] else 200,
        language=language,
        kind=kind,
        kinds=KINDS,
        shipped=[p.source for p in lex.shipped(kind).phrases],
        entries=entries,
        done=done if done["added"] is not None else None,
        removed=query.get("removed") == "1",
        **context,
    )


def _add_entry(
    console: Console, staff: Staff, language: str, kind: str, phrase: str, impact: Any
) -> int:
    with console.rt.db.session() as s:
        row = LexiconEntry(language=language, kind=kind, phrase=phrase, staff_id=staff.id)
        s.add(row)
        s.flush()
        entry_id = row.id
    console.rt.reload_operations()
    console.audit(
        staff.id,
        "lexicon.add",
        language=language,
        kind=kind,
        entry=entry_id,
        caught=impact.newly_caught,
        uncaught=impact.no_longer_caught,
        alarms=impact.new_false_alarms,
        calmed=impact.fewer_false_alarms,
    )
    return entry_id


def _remove_entry(
    console: Console, staff: Staff, entry_id: int | None, language: str, kind: str
) -> Response:
    with console.rt.db.session() as s:
        row = s.get(LexiconEntry, entry_id) if entry_id is not None else None
        if row is not None:
            language, kind = row.language, row.kind
            s.delete(row)
    if row is not None:
        console.rt.reload_operations()
        console.audit(staff.id, "lexicon.remove", language=language, kind=kind, entry=entry_id)
    return console.go(f"/operations/lexicon?language={language}&kind={kind}&removed=1")


def routes(console: Console) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/operations", console.guard(overview, "admin")),
        Route("/operations/teams", console.guard(teams, "admin"), methods=both),
        Route("/operations/hours", console.guard(hours_page, "admin"), methods=both),
        Route("/operations/exit-words", console.guard(exit_words, "admin"), methods=both),
        Route("/operations/lexicon", console.guard(lexicon, "admin"), methods=both),
    ]
