"""What the person says about themselves, or asks about us, answered before the model guesses.

The reading comes from ``bot/safety/people.py`` (per-language lists). Three routes:

- ``status``: "will you call the police?", "will I be deported?" get a direct, honest answer
  (``utter_status``; for someone under 18 the one limit of confidentiality too). It comes before
  the crisis route only when the crisis words found are the authority the question names ("vocês
  vão chamar a polícia?" is a question about us, not a call for help); turns.py decides that.
- ``probing``: someone asking for another person's messages, or who owns this number, gets a
  short neutral answer: no introduction, no service names, no crisis reply, nothing from before.
- ``about_person``: an age or a filter. It is remembered on the conversation (young wording, the
  child line, filters for every later list of services); then the model reads the message too,
  because "tengo 15 años y necesito dónde dormir" asks for something as well.
"""

from __future__ import annotations

import logging

from bot.conversation import crisis, dialogue, understanding
from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.needs import CRISIS_INTENTS, NEED_INTENTS
from bot.rasa.client import Parse, RasaUnavailable
from bot.safety.people import FILTERS
from bot.store.models import Awaiting
from bot.types import Reply

log = logging.getLogger("bot.conversation")

# What the model may read in a message that also gives an age or a filter, and that the turn then
# answers as it would without them. Anything else (a greeting, a guess, "report_case" for "hi im
# 15") is the statement itself, answered here.
CARRIES_MORE: frozenset[str] = (NEED_INTENTS - {"report_case"}) | {
    "request_human",
    "ask_privacy",
    "ask_trafficking_info",
    "bot_identity",
    "exit",
    "delete_data",
    "change_language",
}

# At most this many other words ("hi", "bonjour") beside an age or a filter: the message says
# only that, and no model's guess about it ("j'ai 15 ans" read as a health need) is asked for.
SAYS_ONLY_THAT = 2


async def status(p: Parts, ctx: TurnContext) -> None:
    """A direct answer about the police, immigration, deportation or papers."""
    # The documented intent of "will the police or immigration know?" (docs/intents.md); the
    # route ("status") says which step answered.
    ctx.decided("ask_privacy", 1.0)
    newly_young = ctx.people.minor is True and not ctx.conv.minor
    _remember(ctx)
    r, d = ctx.render, ctx.directory
    answer = [p.renderer.render("utter_young", r, d)] if newly_young else []
    answer.append(p.renderer.render("utter_status", r, d))
    if ctx.is_new:
        # A first message: the introduction and the safe-to-chat question as always, the answer
        # right after the introduction.
        start = len(ctx.replies)
        await dialogue.run(p, ctx, "greet")
        _place(ctx, start, answer)
        return
    # No model's guess after it: the question alone reads as a legal need to the model, and
    # "which country are you in?" is not an answer to "will I be deported?". What they need
    # is one tap away.
    ctx.answer(*answer, p.renderer.render("utter_menu_short", r, d), awaiting=None)


def status_applies(ctx: TurnContext) -> bool:
    """Not while a person from the team is in the chat (they answer), nor for a code word."""
    return ctx.people.status and not ctx.live and ctx.conv.awaiting != Awaiting.CODE_WORD


async def probing(p: Parts, ctx: TurnContext) -> None:
    """Nothing about anyone: not who writes here, not what this service is, no past message."""
    ctx.decided("probing", 1.0)
    ctx.introduce = False
    ctx.answer(p.renderer.render("utter_probing", ctx.render, ctx.directory))


def about_person_applies(ctx: TurnContext) -> bool:
    return ctx.people.minor is not None or bool(ctx.people.filters)


async def about_person(p: Parts, ctx: TurnContext) -> None:
    """An age or a filter: remembered, then answered with what the message asks for as well."""
    conv, reading = ctx.conv, ctx.people
    newly_young = reading.minor is True and not conv.minor
    said = [f for f in FILTERS if f in reading.filters]
    parse: Parse | None = None
    if reading.rest_words > SAYS_ONLY_THAT:
        # Something else is said besides the age or the filter: the model reads it.
        ctx.uow.before_waiting()
        try:
            parse = await p.rasa.parse(ctx.text)
        except RasaUnavailable as exc:
            log.warning("rasa unavailable for parse", extra={"error": str(exc)})
            if ctx.screening.matches:
                # Risky words set aside for the model, and no model: the numbers, as in
                # understanding.run (the safer mistake), then the young person's lines.
                _remember(ctx)
                start = len(ctx.replies)
                crisis.answer(p, ctx, ctx.screening.kind)
                _place(ctx, start, _notes(p, ctx, newly_young, said))
                return
    _remember(ctx)
    start = len(ctx.replies)
    if parse is not None:
        ctx.intent, ctx.confidence = parse.intent, parse.confidence
    else:
        ctx.decided("about_person", 1.0)
    notes = _notes(p, ctx, newly_young, said)
    if parse is not None and _carries_more(p, ctx, parse):
        await understanding.understood(p, ctx, parse)
        _place(ctx, start, notes)
        return
    if ctx.is_new:
        # A first message: the introduction and the safe-to-chat question as always, the young
        # person's lines and the filters right after the introduction.
        await dialogue.run(p, ctx, "greet")
        _place(ctx, start, notes)
        return
    replies = list(notes)
    need = (conv.needs or [None])[-1]
    if said and need:
        # "Are any of these safe for trans people?": the last list again, as they asked.
        d, r = ctx.directory, ctx.render
        countries = [conv.country] if conv.country else d.likely_countries(ctx.language, None, 3)
        found = d.find(str(need), countries, limit=3, filters=r.filters)
        replies += p.renderer.service_cards(found, r, conv.country is None, d)
        replies.append(p.renderer.render("utter_offer_human", r, d))
    else:
        replies.append(p.renderer.render("utter_menu_short", ctx.render, ctx.directory))
    ctx.answer(*replies, awaiting=None, pending_intent=None)


def _remember(ctx: TurnContext) -> None:
    """Keep an age or filters on the conversation: young wording and filters from now on."""
    conv, reading = ctx.conv, ctx.people
    filters = set(conv.filters or []) | set(reading.filters)
    if reading.minor is not None:
        conv.minor = reading.minor
        if reading.minor:
            filters.add("children")  # services for young people first
        elif "children" not in reading.filters:
            filters.discard("children")
    conv.filters = [f for f in FILTERS if f in filters]


def _notes(p: Parts, ctx: TurnContext, newly_young: bool, said: list[str]) -> list[Reply]:
    r, d = ctx.render, ctx.directory
    notes = [p.renderer.render("utter_young", r, d)] if newly_young else []
    # "children" comes with the age itself; said on its own ("anything for kids?") it is named.
    named = [f for f in said if not (f == "children" and newly_young)]
    notes += [p.renderer.render(f"utter_filter_{f}", r, d) for f in named]
    return notes


def _carries_more(p: Parts, ctx: TurnContext, parse: Parse) -> bool:
    if parse.share(CRISIS_INTENTS) >= p.settings.crisis_threshold:
        return True
    if parse.confidence >= p.settings.nlu_threshold and parse.intent in CARRIES_MORE:
        return True
    if ctx.conv.awaiting == Awaiting.COUNTRY or parse.intent == "inform_country":
        return p.countries.resolver(ctx.directory).resolve(ctx.text) is not None
    return False


def _place(ctx: TurnContext, start: int, notes: list[Reply]) -> None:
    """Put the notes after the crisis numbers (A1) or the introduction (A7), else first."""
    if not notes:
        return
    said = ctx.replies[start:]
    if ctx.crisis:
        at = len(ctx.replies)
    else:
        intro = next((i for i, r in enumerate(said) if r.key == "utter_first_contact"), None)
        at = start + (intro + 1 if intro is not None else 0)
    ctx.replies[at:at] = notes
