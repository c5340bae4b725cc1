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


def _awaiting_code_word(ctx: TurnContext) -> bool:
    return ctx.conv.awaiting == Awaiting.CODE_WORD and bool(ctx.text)


ROUTES: tuple[Route, ...] = (
    Route("unsupported", lambda ctx: ctx.msg.unsupported, _unsupported),
    Route("start", lambda ctx: _command(ctx) is Command.MENU and ctx.is_new, _start),
    Route("command", lambda ctx: _command(ctx) is not None, commands.run),
    # A question about the police or immigration is answered before the crisis route only when
    # its crisis words are the authority it names (turns.py settles that when reading it).
    Route("status", people.status_applies, people.status),
    Route("crisis", lambda ctx: ctx.screening.crisis, _crisis),
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
