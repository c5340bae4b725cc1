"""What a deployment adds to the safety screen from the console: exit words (refused when an
ordinary message could be exactly the word: a number, too short, another command, a crisis phrase,
an everyday message or a training example) and crisis or self-harm phrases (their effect on the
language's safety test set shown first: messages newly caught or no longer caught, false alarms
added or removed; a risky one needs a confirmation). Both take effect with the next message. They
share this module, apart from teams and hours, because both are checked by
``bot/safety/changes.py`` against the live safety screen and audited without the words."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.auth import Staff
from bot.console.core import Console
from bot.console.views_operations import int_or_none
from bot.safety.changes import Refusal, check_exit_word, check_phrase, measure
from bot.safety.commands import builtin_exit_words
from bot.safety.lexicon import KINDS
from bot.safety.text import fold_command
from bot.store.content_models import TrainingExample
from bot.store.ops_models import ExitWord, LexiconEntry


async def exit_words(console: Console, request: Request, staff: Staff) -> Response:
    refusal: Refusal | None = None
    typed, typed_language = "", ""
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        if str(form.get("action", "")) == "remove":
            return _remove_exit_word(console, staff, int_or_none(form.get("word")))
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
            return _remove_entry(console, staff, int_or_none(form.get("entry")), language, kind)
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
    done = {
        k: int_or_none(query.get(k)) for k in ("added", "caught", "uncaught", "alarms", "calmed")
    }
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
        Route("/operations/exit-words", console.guard(exit_words, "admin"), methods=both),
        Route("/operations/lexicon", console.guard(lexicon, "admin"), methods=both),
    ]
