"""Free text, once nothing deterministic answered it: what the model understood, and what the
conversation was waiting for (a country, a yes or no to the last question)."""

from __future__ import annotations

import logging

from bot.conversation import aside, choices, crisis, dialogue, erasure, language, places
from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.needs import CRISIS_INTENTS
from bot.rasa.client import Parse, RasaUnavailable
from bot.store.models import Awaiting

log = logging.getLogger("bot.conversation")

# A message the model could not read, this short, is looked up as a place ("en Texas").
SHORT_WORDS = 6


async def run(p: Parts, ctx: TurnContext) -> None:
    text = ctx.text
    ctx.uow.before_waiting()
    try:
        parse = await p.rasa.parse(text.lstrip("/")) if text else Parse("nlu_fallback", 0.0, [])
    except RasaUnavailable as exc:
        log.warning("rasa unavailable for parse", extra={"error": str(exc)})
        if ctx.screening.matches:
            # Risky words the screen set aside (a past, a joke) were left for the model to read;
            # with no model to read them, the safer mistake is the numbers.
            crisis.answer(p, ctx, ctx.screening.kind)
            return
        if ctx.wait_for_rasa:
            raise  # the inbox keeps the message until Rasa is back: no apology for our fault
        dialogue.unavailable(p, ctx)
        return
    parse = await after_aside(p, ctx, parse)
    ctx.intent, ctx.confidence = parse.intent, parse.confidence
    await understood(p, ctx, parse)


async def after_aside(p: Parts, ctx: TurnContext, parse: Parse) -> Parse:
    """The request after an aside (bot/conversation/aside.py), read on its own when the whole
    message reads as small talk or as nothing sure; else ``parse``. A whole message the model
    finds dangerous is never split: its crisis reading stands."""
    unsure = parse.confidence < p.settings.nlu_threshold
    if parse.intent not in aside.ASIDE_INTENTS and not unsure:
        return parse
    if parse.share(CRISIS_INTENTS) >= crisis_bar(p, ctx):
        return parse
    part = aside.request_part(ctx.text)
    if part is None:
        return parse
    try:
        second = await p.rasa.parse(part)
    except RasaUnavailable:
        return parse
    if second.intent in aside.NOT_A_REQUEST or second.confidence < p.settings.nlu_threshold:
        return parse
    log.info("request read after an aside", extra={"intent": second.intent})
    return second


def crisis_bar(p: Parts, ctx: TurnContext) -> float:
    """How sure the model must be that a message is a crisis: surer when its own words place it
    in the past, in safety, in a joke or an idiom (the screening's ``tempered``)."""
    if ctx.screening.tempered:
        return max(p.settings.crisis_threshold, p.settings.crisis_threshold_in_context)
    return p.settings.crisis_threshold


def _offers_countries(choices: list[dict[str, object]]) -> bool:
    return any(str(c.get("payload", "")).startswith("/inform_country") for c in choices)


async def understood(p: Parts, ctx: TurnContext, parse: Parse) -> None:
    conv, text = ctx.conv, ctx.text
    intent, confident = parse.intent, parse.confidence >= p.settings.nlu_threshold
    awaiting, last_choices = conv.awaiting, list(conv.choices or [])
    # The country question of a crisis reply is asked with buttons, not ``awaiting``: typing the
    # country's name instead of tapping must work the same.
    crisis_asked = _offers_countries(last_choices)
    if (
        awaiting == Awaiting.COUNTRY
        or crisis_asked
        or intent == "inform_country"
        # "Portugal" read as a wish to change language; "estoy en Buenos Aires" with nothing
        # asked, read as nothing: a short message that names a place is that place.
        or (intent == "change_language" and not language.named(text))
        or (not confident and len(text.split()) <= SHORT_WORDS)
    ):
        found = places.find(p, ctx)
        if found.codes:
            await places.settle(p, ctx, found)
            return
    if awaiting == Awaiting.COUNTRY and intent in ("skip", "deny"):
        await dialogue.run(p, ctx, "skip")
        return
    ctx.danger = danger = parse.share(CRISIS_INTENTS)
    if danger >= crisis_bar(p, ctx):
        ranked = dict(parse.ranking)
        intent = max(CRISIS_INTENTS, key=lambda i: ranked.get(i, 0.0))
        ctx.intent, ctx.confidence = intent, danger
        crisis.answer(p, ctx, crisis.kind_of(intent, ctx.screening))
        return
    if confident and intent in ("exit", "delete_data"):
        # Never on a guess: the exact command does it at once; the model's reading only asks.
        erasure.ask(p, ctx, "exit" if intent == "exit" else "delete")
        return
    if confident and intent == "change_language":
        named = language.named(text)
        if named:
            language.choose(p, ctx, named)
        else:
            language.menu(p, ctx)
        return
    if confident and intent == "request_human":
        ctx.answer(*p.desk.explain(ctx.session, conv, ctx.render, ctx.directory))
        return
    if intent in ("affirm", "deny", "skip") and last_choices:
        role = "yes" if intent == "affirm" else "no"
        for choice in last_choices:
            payload = str(choice["payload"]).lstrip("/")
            if choice.get("role") != role:
                continue
            if payload in erasure.CONFIRMED:
                # A yes read by the model never confirms an erasure (a tap, "1" or "yes" does):
                # the question is asked again.
                erasure.ask(p, ctx, erasure.CONFIRMED[payload])
            else:
                await choices.run(p, ctx, "/" + payload)
            return
    await dialogue.run(p, ctx, intent if confident else "nlu_fallback")
