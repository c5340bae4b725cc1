"""Admins teach the assistant new phrases and retrain it; a new model goes live only if no worse.

- ``/understanding``: every intent with a plain description and its examples per language, and the
  retraining panel ("Retrain and test", its progress, the last result's figures and verdict).
- ``/understanding/{intent}/{language}``: the shipped and the admins' examples (searchable); add
  phrases, one per line, each checked by ``bot.rasa.retrain.add_example``; remove one not yet live.

Retraining (``bot.rasa.retrain.Retrainer``) runs as a background task owned by this module, one at a
time per server; the page polls its progress. The last result is kept in memory (until the next
retraining or a restart); the phrases' statuses (pending / live / rejected) are in the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from babel.numbers import format_decimal, format_percent
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import BASE, Console
from bot.console.parts import ConsoleParts
from bot.evaluation import CRISIS
from bot.http_limits import client_int
from bot.rasa.model import domain_intents
from bot.rasa.retrain import (
    PROJECT_NLU,
    STAGES,
    ExampleRefused,
    Retrainer,
    RetrainResult,
    add_example,
)
from bot.safety.text import fold_command
from bot.store.console_models import StaffUser
from bot.store.content_models import TrainingExample
from bot.store.models import utcnow

MAX_LINES = 50  # phrases per submission: enough for a batch, small enough to review


def _(message: str) -> str:
    """Marks a console string for extraction; templates translate it when the page is shown."""
    return message


# One plain line per intent, from docs/intents.md (which also says where each one's borders are).
DESCRIPTIONS: dict[str, str] = {
    "greet": _("Hello, is anyone there, first words."),
    "goodbye": _("An ordinary goodbye: bye, see you, talk later."),
    "thanks": _("Thank you, that helps."),
    "affirm": _("Yes, OK, sure, go ahead, it is safe to chat."),
    "deny": _("No, not now, I don't want that."),
    "emergency": _(
        "Danger now: locked in, held, hurt or threatened, asking for the police or an ambulance."
    ),
    "self_harm": _("Thoughts of suicide or of self-harm, wanting to die, having a plan."),
    "request_human": _("Talk to a person: a real human, an advisor, someone from the team."),
    "need_shelter": _("A place to sleep or stay, nowhere to go, a safe house."),
    "need_legal": _("A lawyer, papers, visa, residence, rights, court, a complaint."),
    "need_medical": _(
        "A doctor or clinic, hurt or sick, pregnancy, medicines, mental health without a crisis."
    ),
    "need_repatriation": _("Going back to their own country, a ticket home, the consulate."),
    "need_labour": _(
        "Unpaid wages, forced work, a debt to the employer, documents kept by the employer."
    ),
    "report_case": _("Telling about someone else who is exploited or held."),
    "ask_trafficking_info": _("What trafficking or exploitation is, its signs, general facts."),
    "ask_privacy": _("Who reads this, is it saved, will the police or immigration know."),
    "bot_identity": _("Are you a bot, a person, the police? Who runs this?"),
    "exit": _("Leave fast and hide: someone is coming, close this."),
    "delete_data": _("Erase what you have about me, delete my messages, forget me."),
    "change_language": _("Switch language: in Spanish please, falo português."),
    "out_of_scope": _("Anything else: weather, jokes, football, random letters."),
    "inform_country": _("Says which country they are in."),
    "skip": _("Skip, prefer not to say, next question."),
}


# --- the examples: shipped (data/nlu) and the admins' (database) ---


@functools.lru_cache(maxsize=16)
def _shipped_file(path: Path, mtime_ns: int) -> dict[str, list[str]]:
    """intent → example texts of one NLU file; cached until the file changes."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, list[str]] = {}
    for block in data.get("nlu", []):
        texts = out.setdefault(str(block.get("intent")), [])
        for line in str(block.get("examples", "")).splitlines():
            if line.strip().startswith("- "):
                texts.append(line.strip()[2:])
    return out


def shipped(language: str) -> dict[str, list[str]]:
    """intent → the examples shipped with the project in that language."""
    out: dict[str, list[str]] = {}
    for path in sorted((PROJECT_NLU / language).rglob("*.yml")):
        for intent, texts in _shipped_file(path, path.stat().st_mtime_ns).items():
            out.setdefault(intent, []).extend(texts)
    return out


def ordered_intents() -> list[str]:
    """The domain's intents, in the guide's order; any newer ones after, alphabetically."""
    known = domain_intents()
    return [i for i in DESCRIPTIONS if i in known] + sorted(known - set(DESCRIPTIONS))


def matches(text: str, query: str) -> bool:
    return not query or fold_command(query) in fold_command(text)


# --- retraining in the background, one at a time ---


@dataclass
class Run:
    """One retraining started from the console, as its page shows it."""

    by: str  # staff id
    examples: int
    started: dt.datetime = field(default_factory=utcnow)
    stage: str = STAGES[0]  # then the next stages, then "done"
    seconds: float = 0.0
    result: RetrainResult | None = None

    def advance(self, stage: str) -> None:
        self.stage = stage


class Retraining:
    """The server's one retraining: starts it, remembers its progress and its last result."""

    def __init__(self, runtime: ConsoleParts) -> None:
        self.retrainer = Retrainer(runtime)
        self.task: asyncio.Task[None] | None = None
        self.run: Run | None = None

    @property
    def running(self) -> bool:
        return self.retrainer.busy or (self.task is not None and not self.task.done())

    def start(self, console: Console, staff_id: str, examples: int) -> bool:
        """Start a retraining; False when one is already running."""
        if self.running:
            return False
        self.run = Run(staff_id, examples)
        self.task = asyncio.create_task(self._go(console, self.run))
        return True

    async def _go(self, console: Console, run: Run) -> None:
        clock = time.monotonic()
        result = await self.retrainer.retrain(console.settings.retrain_margin, run.advance)
        run.seconds = time.monotonic() - clock
        run.result = result
        run.stage = "done"
        console.audit(
            run.by,
            "understanding.retrain",
            status=result.status,
            reason=result.code or "none",
            language=result.language or "none",
            examples=result.examples or run.examples,
            seconds=round(run.seconds),
        )


_RETRAINING: dict[int, Retraining] = {}


def retraining_for(runtime: ConsoleParts) -> Retraining:
    """The one Retraining of a running runtime (it keeps the runtime alive, so its id is stable)."""
    found = _RETRAINING.get(id(runtime))
    if found is None:
        found = _RETRAINING[id(runtime)] = Retraining(runtime)
    return found


# --- pages ---


def _figures(console: Console, request: Request, staff: Staff) -> dict[str, Any]:
    """Number formatting for the results table, in the admin's language."""
    language = console.language(request, staff)

    def pct(value: float | None) -> str:
        return "—" if value is None else str(format_percent(value, "#,##0.0%", locale=language))

    def points(before: float | None, after: float | None) -> str:
        if before is None or after is None:
            return "—"
        change = round((after - before) * 100, 1)
        if change == 0:
            return str(format_decimal(0, "0.0", locale=language))
        return str(format_decimal(change, "+#,##0.0;-#,##0.0", locale=language))

    def duration(seconds: float) -> str:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes}:{rest:02d}"

    return {"pct": pct, "points": points, "duration": duration}


def _panel_context(console: Console, request: Request, staff: Staff) -> dict[str, Any]:
    job = retraining_for(console.rt)
    with console.rt.db.session() as s:
        pending = s.scalar(
            select(func.count())
            .select_from(TrainingExample)
            .where(TrainingExample.status == "pending")
        )
        starter = s.get(StaffUser, job.run.by) if job.run else None
    return {
        "job": job.run,
        "running": job.running,
        "pending_total": int(pending or 0),
        "stages": STAGES,
        "started_by": starter.display_name if starter else "",
        "margin": console.settings.retrain_margin,
        **_figures(console, request, staff),
    }


async def overview(console: Console, request: Request, staff: Staff, status: int = 200) -> Response:
    intents = ordered_intents()
    languages = console.settings.languages
    counts: dict[tuple[str, str, str], int] = {}
    with console.rt.db.session() as s:
        rows = s.execute(
            select(
                TrainingExample.intent,
                TrainingExample.language,
                TrainingExample.status,
                func.count(),
            ).group_by(TrainingExample.intent, TrainingExample.language, TrainingExample.status)
        )
        for intent, language, state, n in rows:
            counts[(intent, language, state)] = int(n)
    ships = {lang: shipped(lang) for lang in languages}
    table = [
        {
            "name": intent,
            "description": DESCRIPTIONS.get(intent, ""),
            "crisis": intent in CRISIS,
            "cells": [
                {
                    "language": lang,
                    "examples": len(ships[lang].get(intent, []))
                    + counts.get((intent, lang, "live"), 0),
                    "pending": counts.get((intent, lang, "pending"), 0),
                }
                for lang in languages
            ],
        }
        for intent in intents
    ]
    return console.html(
        request,
        staff,
        "understanding.html",
        status=status,
        intents=table,
        notice=request.query_params.get("notice", ""),
        missing=status == 404,
        **_panel_context(console, request, staff),
    )


async def panel(console: Console, request: Request, staff: Staff) -> Response:
    if request.headers.get("hx-request") and not retraining_for(console.rt).running:
        # It finished while the page was polling: load the page anew, so the counts are fresh too.
        return Response(headers={"HX-Redirect": BASE + "/understanding#retraining"})
    return console.html(
        request, staff, "_understanding_retraining.html", **_panel_context(console, request, staff)
    )


async def retrain(console: Console, request: Request, staff: Staff) -> Response:
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    job = retraining_for(console.rt)
    if job.running:
        return console.go("/understanding?notice=already#retraining")
    with console.rt.db.session() as s:
        pending = int(
            s.scalar(
                select(func.count())
                .select_from(TrainingExample)
                .where(TrainingExample.status == "pending")
            )
            or 0
        )
    if not pending:
        return console.go("/understanding?notice=nothing#retraining")
    job.start(console, staff.id, pending)
    console.audit(staff.id, "understanding.retrain", status="started", examples=pending)
    return console.go("/understanding?notice=started#retraining")


def _target(console: Console, request: Request) -> tuple[str, str] | None:
    intent = str(request.path_params["intent"])
    language = str(request.path_params["language"])
    if intent not in domain_intents() or language not in console.settings.languages:
        return None
    return intent, language


def _examples_context(console: Console, intent: str, language: str, query: str) -> dict[str, Any]:
    with console.rt.db.session() as s:
        rows = list(
            s.scalars(
                select(TrainingExample)
                .where(TrainingExample.intent == intent, TrainingExample.language == language)
                .order_by(TrainingExample.created_at.desc(), TrainingExample.id.desc())
            )
        )
        names = {u.id: u.display_name for u in s.scalars(select(StaffUser))}
    ship = shipped(language).get(intent, [])
    return {
        "intent": intent,
        "language": language,
        "query": query,
        "admin_examples": [r for r in rows if matches(r.text, query)],
        "admin_total": len(rows),
        "shipped_examples": [t for t in ship if matches(t, query)],
        "shipped_total": len(ship),
        "names": names,
    }


async def examples(console: Console, request: Request, staff: Staff) -> Response:
    target = _target(console, request)
    if target is None:
        return await overview(console, request, staff, status=404)
    intent, language = target
    added: list[str] = []
    refused: list[tuple[str, ExampleRefused]] = []
    problem = request.query_params.get("notice", "")
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        lines = [line.strip() for line in str(form.get("phrases", "")).splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            problem = "empty"
        elif len(lines) > MAX_LINES:
            problem = "too_many"
        else:
            added, refused = _add(console, staff, intent, language, lines)
    query = request.query_params.get("q", "").strip()[:100]
    return console.html(
        request,
        staff,
        "understanding_intent.html",
        description=DESCRIPTIONS.get(intent, ""),
        crisis=intent in CRISIS,
        added=added,
        refused=refused,
        problem=problem,
        max_lines=MAX_LINES,
        running=retraining_for(console.rt).running,
        **_examples_context(console, intent, language, query),
    )


def _add(
    console: Console, staff: Staff, intent: str, language: str, lines: list[str]
) -> tuple[list[str], list[tuple[str, ExampleRefused]]]:
    """Check and keep each phrase; returns (kept, refused with why)."""
    added: list[str] = []
    refused: list[tuple[str, ExampleRefused]] = []
    intents = domain_intents()
    with console.rt.db.session() as s:
        for line in lines:
            try:
                added.append(add_example(s, intents, intent, language, line, staff.id).text)
            except ExampleRefused as why:
                refused.append((line, why))
    console.audit(
        staff.id,
        "understanding.add_example",
        intent=intent,
        language=language,
        added=len(added),
        refused=len(refused),
    )
    return added, refused


async def examples_list(console: Console, request: Request, staff: Staff) -> Response:
    """The examples alone, for the search box (htmx)."""
    target = _target(console, request)
    if target is None:
        return Response(status_code=404)
    query = request.query_params.get("q", "").strip()[:100]
    return console.html(
        request,
        staff,
        "_understanding_examples.html",
        running=retraining_for(console.rt).running,
        **_examples_context(console, *target, query),
    )


async def remove(console: Console, request: Request, staff: Staff) -> Response:
    """Remove a phrase that is not live (pending or rejected); never during a retraining."""
    target = _target(console, request)
    if target is None:
        return await overview(console, request, staff, status=404)
    intent, language = target
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    back = f"/understanding/{intent}/{language}"
    if retraining_for(console.rt).running:
        return console.go(back + "?notice=busy")
    example_id = str(form.get("example", ""))
    with console.rt.db.session() as s:
        number = client_int(example_id)
        row = s.get(TrainingExample, number) if number is not None else None
        if row is None or (row.intent, row.language) != (intent, language) or row.status == "live":
            return console.go(back + "?notice=not_removed")
        state = row.status
        s.delete(row)
    console.audit(
        staff.id, "understanding.remove_example", intent=intent, language=language, status=state
    )
    return console.go(back + "?notice=removed")


def routes(console: Console) -> list[Route]:
    return [
        Route("/understanding", console.guard(overview, "admin")),
        Route("/understanding/retraining", console.guard(panel, "admin")),
        Route("/understanding/retrain", console.guard(retrain, "admin"), methods=["POST"]),
        Route(
            "/understanding/{intent}/{language}",
            console.guard(examples, "admin"),
            methods=["GET", "POST"],
        ),
        Route("/understanding/{intent}/{language}/list", console.guard(examples_list, "admin")),
        Route(
            "/understanding/{intent}/{language}/remove",
            console.guard(remove, "admin"),
            methods=["POST"],
        ),
    ]
