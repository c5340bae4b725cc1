"""A crisis or self-harm message: the numbers first, after half a second of Rasa at most (A1)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.needs import CRISIS_INTENTS
from bot.rasa.client import RasaUnavailable
from bot.safety.people import FILTERS
from bot.safety.screen import CrisisKind, Screening

log = logging.getLogger("bot.conversation")

# Why a phrase was set aside by the second look (Screening.set_aside, ``bot eval``'s reason).
SECOND_LOOK = "model reads no danger"


def kind_of(intent: str, screening: Screening | None = None) -> CrisisKind:
    """The wording for a crisis the model read: its own for self-harm, and the one for someone
    asking on another's behalf when only the ``others`` lexicon saw the danger."""
    if intent == "self_harm":
        return "self_harm"
    if screening is not None and screening.matches and screening.kind == "others":
        return "others"
    return "self"


def second_look_applies(ctx: TurnContext) -> bool:
    """Only a shipped phrase found alone is looked at again: signs of forced labour found
    together are evidence the model weighs badly (they are told calmly), a phrase an admin added
    is their deliberate decision, and a person talking with staff has a human reading along."""
    s = ctx.screening
    return (
        s.crisis
        and not ctx.live
        and ctx.msg.payload is None
        and bool(ctx.text)
        and not any(m.combined or m.added for m in s.matches)
    )


async def second_look(p: Parts, ctx: TurnContext) -> None:
    """The lexicons find words, not meaning: "my chemistry final is gonna kill me", "me matan los
    zapatos nuevos", "tô presa no trânsito, socorro" hold a crisis phrase. Before the numbers go
    out, the model reads the whole message; only when it finds almost no danger in it (below
    ``BOT_CRISIS_SECOND_LOOK``) is the phrase set aside, and the message is answered as what it
    says, the model's crisis bar raised as for any phrase set aside. The look is bounded
    (``BOT_CRISIS_SECOND_LOOK_SECONDS``): a model that is slow, restarting or down never holds
    the numbers back. Nothing irreversible rests on it: the worst it can do is answer an idiom
    as an idiom, and on the development sets no crisis found by a phrase was read below 0.23.
    Rasa's answer is kept by the turn (LendingRasa), so the understanding step asks only once."""
    bar = p.settings.crisis_second_look
    if bar <= 0 or not second_look_applies(ctx):
        return
    ctx.uow.before_waiting()
    try:
        parse = await asyncio.wait_for(
            p.rasa.parse(ctx.text.lstrip("/")), p.settings.crisis_second_look_seconds
        )
    except (RasaUnavailable, TimeoutError) as exc:
        log.info("crisis second look skipped", extra={"error": type(exc).__name__})
        return
    if parse.share(CRISIS_INTENTS) < bar:
        ctx.screening = replace(ctx.screening, set_aside=SECOND_LOOK, tempered=SECOND_LOOK)


def answer(p: Parts, ctx: TurnContext, kind: CrisisKind) -> None:
    """The numbers in the wording for whose danger it is (yours, self-harm, someone else's)."""
    ctx.crisis = True
    ctx.decided("self_harm" if kind == "self_harm" else "emergency")
    conv = ctx.conv
    conv.crisis = True
    p.handoffs.raise_urgency(ctx.session, conv)
    if ctx.people.filters:
        # "je suis sourde, pas téléphone… ils m'ont enfermée": the crisis route comes before
        # the one that remembers filters, and this very reply must already fit them.
        said = set(conv.filters or []) | set(ctx.people.filters)
        conv.filters = [f for f in FILTERS if f in said]
    d = ctx.directory
    if kind != "others" and ctx.msg.payload is None and ctx.text:
        # "me tienen encerrada en Texas", "estoy en Asunción y no me dejan salir": the numbers of
        # where the writer says they are, at once, even over a country known before (a phone's
        # calling code, an earlier answer). Never for someone else's danger (they may be far
        # from the writer), never a place the person comes from or wants to return to
        # (bot/directory/countries.py).
        found = p.countries.resolver(d).find(ctx.text, ctx.language)
        if found.one_listed and not found.elsewhere:
            conv.country = ctx.contact.country = found.one_listed
        elif found.one and not found.elsewhere:
            # A country the directory does not list ("estoy en España"): never "which country
            # are you in?" with other countries' lines; its own number when known, and a person.
            number = p.countries.resolver(d).outside_emergency(found.one)
            r = ctx.render
            replies = [p.renderer.outside_country(r, d, found.one, number)]
            if ctx.is_new and not ctx.introduced:
                replies.append(p.renderer.render("utter_first_contact_crisis", r, d))
            ctx.answer(*replies, awaiting=None)
            return
    r = ctx.render  # with the country just settled
    # A7 still holds for a new conversation, after the numbers (A1), in the short introduction.
    ctx.answer(
        *p.renderer.crisis(
            r, d, kind, conv.language_confirmed, new=ctx.is_new and not ctx.introduced
        )
    )


def in_handoff(p: Parts, ctx: TurnContext, kind: CrisisKind) -> None:
    """In a live handoff: the numbers at once, the message to staff, the request urgent."""
    ctx.crisis = True
    ctx.intent, ctx.confidence = ("self_harm" if kind == "self_harm" else "emergency"), 1.0
    conv = ctx.conv
    conv.crisis = True
    p.handoffs.keep_message(ctx.session, conv, ctx.text, "in")
    p.handoffs.raise_urgency(ctx.session, conv)
    ctx.answer(p.renderer.render("utter_crisis_in_handoff", ctx.render, ctx.directory))
