"""A country or place the person typed, settled: the directory's country, a country it does not
list, or a name several countries share.

A named country never gets "I don't know your country": one the directory lists becomes the
conversation's country (its numbers and services follow); one it does not list gets an honest
answer with its emergency number when there is one everybody shares (112 in the EU), and the
offer of a person, never another country's lines; a shared name ("Córdoba") is asked about.
"""

from __future__ import annotations

from bot.conversation import crisis, dialogue
from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.directory.countries import Found
from bot.store.models import Awaiting


def find(p: Parts, ctx: TurnContext) -> Found:
    """What the message names, read in the conversation's language."""
    return p.countries.resolver(ctx.directory).find(ctx.text, ctx.language)


async def settle(p: Parts, ctx: TurnContext, found: Found) -> None:
    """Answer a message that named ``found`` (module docstring)."""
    conv = ctx.conv
    code = found.one_listed
    if code:
        listed(p, ctx, code)
        if conv.crisis and conv.awaiting != Awaiting.COUNTRY:
            crisis.answer(p, ctx, "self")  # that country's exact numbers, as the tap gives
        else:
            await dialogue.run(p, ctx, "inform_country")
        return
    if found.one:
        outside(p, ctx, found.one)
        return
    which(p, ctx, found.codes)


def listed(p: Parts, ctx: TurnContext, code: str) -> None:
    ctx.conv.country = ctx.contact.country = code


def outside(p: Parts, ctx: TurnContext, code: str) -> None:
    """A country the directory does not list: its shared emergency number if known, then a
    person. The conversation's country stays unset (nothing of that country can be shown)."""
    ctx.decided("inform_country")
    number = p.countries.resolver(ctx.directory).outside_emergency(code)
    ctx.answer(p.renderer.outside_country(ctx.render, ctx.directory, code, number), awaiting=None)


def which(p: Parts, ctx: TurnContext, codes: tuple[str, ...]) -> None:
    """A name several countries share: which one, with a button for each."""
    ctx.decided("inform_country")
    reply = p.renderer.which_country(ctx.render, ctx.directory, codes)
    # After a crisis reply the buttons alone say a country is asked (understanding.py), and a tap
    # must bring that country's numbers, not the services of a need.
    ctx.answer(reply, awaiting=None if ctx.conv.crisis else Awaiting.COUNTRY)
