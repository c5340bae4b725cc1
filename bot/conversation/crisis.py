"""A crisis or self-harm message: the numbers first, never waiting for Rasa (A1)."""

from __future__ import annotations

from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.safety.people import FILTERS
from bot.safety.screen import CrisisKind, Screening


def kind_of(intent: str, screening: Screening | None = None) -> CrisisKind:
    """The wording for a crisis the model read: its own for self-harm, and the one for someone
    asking on another's behalf when only the ``others`` lexicon saw the danger."""
    if intent == "self_harm":
        return "self_harm"
    if screening is not None and screening.matches and screening.kind == "others":
        return "others"
    return "self"


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
