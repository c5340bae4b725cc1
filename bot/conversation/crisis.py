"""A crisis or self-harm message: the numbers first, never waiting for Rasa (A1)."""

from __future__ import annotations

from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts


def answer(p: Parts, ctx: TurnContext, self_harm: bool) -> None:
    ctx.crisis = True
    ctx.decided("self_harm" if self_harm else "emergency")
    conv = ctx.conv
    conv.crisis = True
    p.handoffs.raise_urgency(ctx.session, conv)
    r, d = ctx.render, ctx.directory
    replies = p.renderer.crisis(r, d, self_harm, conv.language_confirmed)
    if ctx.is_new:  # A7 still holds, after the numbers (A1)
        replies.append(p.renderer.render("utter_first_contact", r, d))
    ctx.answer(*replies)


def in_handoff(p: Parts, ctx: TurnContext, self_harm: bool) -> None:
    """In a live handoff: the numbers at once, the message to staff, the request urgent."""
    ctx.crisis = True
    ctx.intent, ctx.confidence = ("self_harm" if self_harm else "emergency"), 1.0
    conv = ctx.conv
    conv.crisis = True
    p.handoffs.keep_message(ctx.session, conv, ctx.text, "in")
    p.handoffs.raise_urgency(ctx.session, conv)
    ctx.answer(p.renderer.render("utter_crisis_in_handoff", ctx.render, ctx.directory))
