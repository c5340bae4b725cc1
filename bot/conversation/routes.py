"""The route table: which step answers a message, in order. The first route that applies wins.

Order is the safety design: control commands in every state, then crisis from the lexicons
(numbers first, never waiting for a model), then buttons, then a person's live conversation,
and only then the model. Everything above "understanding" works while Rasa is down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.conversation import choices, commands, crisis, dialogue, people, understanding
from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.conversation.rate import RateLimited
from bot.safety.commands import Command
from bot.store.models import Awaiting


@dataclass(frozen=True)
class Route:
    name: str
    applies: Callable[[TurnContext], bool]
    run: Callable[[Parts, TurnContext], Awaitable[None]]


def _command(ctx: TurnContext) -> Command | None:
    hit = ctx.screening.command
    return hit.command if hit is not None else None


async def _unsupported(p: Parts, ctx: TurnContext) -> None:
    ctx.answer(p.renderer.render("utter_unsupported_message", ctx.render, ctx.directory))


async def _start(p: Parts, ctx: TurnContext) -> None:
    """A new conversation opening with MENU (Telegram's /start) gets the first contact."""
    ctx.intent, ctx.confidence = "greet", 1.0
    await dialogue.run(p, ctx, "greet")


async def _crisis(p: Parts, ctx: TurnContext) -> None:
    if ctx.live:
        crisis.in_handoff(p, ctx, ctx.screening.kind)
    else:
        crisis.answer(p, ctx, ctx.screening.kind)


async def _choice(p: Parts, ctx: TurnContext) -> None:
    payload = ctx.msg.payload or choices.typed(ctx)
    assert payload is not None
    await choices.run(p, ctx, payload)


async def _to_staff(p: Parts, ctx: TurnContext) -> None:
    ctx.intent, ctx.confidence = "to_staff", None
    ctx.answer(*p.desk.to_staff(ctx.session, ctx.conv, ctx.render, ctx.directory, ctx.text))


async def _code_word(p: Parts, ctx: TurnContext) -> None:
    """The code word for the handoff summary: hashed at once, never sent to Rasa."""
    ctx.intent, ctx.confidence = "code_word", 1.0
    ctx.answer(*p.desk.code_word(ctx.session, ctx.conv, ctx.render, ctx.directory, ctx.text))
    ctx.extras["forget_message"] = True  # the channel deletes it from the chat where it can


async def _check_code_word(p: Parts, ctx: TurnContext) -> None:
    """The answer to staff's question for the code word: compared with its hash and forgotten.
    Staff see only the result; the message is deleted from the chat where the platform allows."""
    ctx.intent, ctx.confidence = "code_word", 1.0
    ctx.answer(*p.desk.check_code_word(ctx.session, ctx.conv, ctx.render, ctx.directory, ctx.text))
    ctx.extras["forget_message"] = True


def _checking_code_word(ctx: TurnContext) -> bool:
    """A text answer while staff's question for the code word is open. A command (the exit word
    above all) or a crisis message is routed before this and is never compared."""
    return ctx.conv.awaiting == Awaiting.CODE_WORD_CHECK and ctx.live and bool(ctx.text)


async def _slow_down(p: Parts, ctx: TurnContext) -> None:
    """Above the contact's rate limit (rate.py): told once per window. In a live handoff the
    message is still kept for the team; outside one, from the durable inbox, it is kept there and
    answered when the window ends (``RateLimited``)."""
    ctx.intent, ctx.confidence = "rate_limited", 1.0
    if not ctx.live and ctx.may_defer:
        notes = []
        if ctx.rate.note:
            notes = [p.renderer.render("utter_slow_down_kept", ctx.render, ctx.directory)]
            p.rate.told(ctx.contact.id)
        raise RateLimited(p.rate.resumes_in(ctx.contact.id), notes, ctx.language)
    if ctx.live:
        p.handoffs.keep_message(ctx.session, ctx.conv, ctx.text, "in")
    if ctx.rate.note:
        key = "utter_slow_down_handoff" if ctx.live else "utter_slow_down"
        ctx.answer(p.renderer.render(key, ctx.render, ctx.directory))
        p.rate.told(ctx.contact.id)


def _too_fast(ctx: TurnContext) -> bool:
    """Above the limit, and neither a command, a crisis, a code-word answer (routed before this),
    a button (a tap only does what the last question offered) nor the code word being set (it
    must be hashed and deleted from the chat, not left there unanswered)."""
    setting_code_word = ctx.conv.awaiting == Awaiting.CODE_WORD
    return ctx.rate.over and not ctx.msg.payload and not setting_code_word


ROUTES: tuple[Route, ...] = (
    Route("start", lambda ctx: _command(ctx) is Command.MENU and ctx.is_new, _start),
    Route("command", lambda ctx: _command(ctx) is not None, commands.run),
    # A question about the police or immigration is answered before the crisis route only when
    # its crisis words are the authority it names (turns.py settles that when reading it).
    Route("status", people.status_applies, people.status),
    Route("crisis", lambda ctx: ctx.screening.crisis, _crisis),
    Route("check_code_word", _checking_code_word, _check_code_word),
    Route("slow_down", _too_fast, _slow_down),
    Route("unsupported", lambda ctx: ctx.msg.unsupported, _unsupported),
    Route("choice", lambda ctx: bool(ctx.msg.payload or choices.typed(ctx)), _choice),
    Route("to_staff", lambda ctx: ctx.live, _to_staff),
    Route(
        "code_word",
        lambda ctx: ctx.conv.awaiting == Awaiting.CODE_WORD and bool(ctx.text),
        _code_word,
    ),
    Route("probing", lambda ctx: ctx.people.probing, people.probing),
    Route("about_person", people.about_person_applies, people.about_person),
    Route("understanding", lambda ctx: True, understanding.run),
)


def route_for(ctx: TurnContext) -> Route:
    return next(route for route in ROUTES if route.applies(ctx))
