"""Control commands: the whole message is a command word, in any state, before anything else."""

from __future__ import annotations

from bot.conversation import choices, erasure, language
from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.safety.commands import Command
from bot.store.models import Mode
from bot.types import Reply


async def run(p: Parts, ctx: TurnContext) -> None:
    hit = ctx.screening.command
    assert hit is not None
    ctx.intent, ctx.confidence = f"command:{hit.command.value}", 1.0
    command = hit.command
    if command is Command.EXIT:
        erasure.leave(p, ctx)
    elif command is Command.DELETE:
        erasure.delete_everything(p, ctx)
    elif command is Command.STOP:
        erasure.stop(p, ctx)
    elif command is Command.LANGUAGE:
        if hit.choose_language:
            language.choose(p, ctx, hit.choose_language)
        else:
            language.menu(p, ctx)
    elif command is Command.PERSON:
        await choices.run(p, ctx, "/request_human")
    else:
        ctx.answer(_simple(p, ctx, command))


def _simple(p: Parts, ctx: TurnContext, command: Command) -> Reply:
    s, conv, r, d = ctx.session, ctx.conv, ctx.render, ctx.directory
    if command is Command.BACK and ctx.live:
        p.handoffs.withdraw(s, conv)  # out of the queue, or away from staff (E7)
        return p.renderer.render("utter_back_to_bot", r, d)
    if command is Command.MENU and conv.mode == Mode.STAFF:
        return p.desk.with_person_now(s, conv, r, d)
    if command is Command.PRIVACY:
        return p.renderer.render("utter_privacy", r, d)
    if command is Command.PAUSE:
        return p.renderer.render("utter_pause", r, d)
    return p.renderer.render("utter_menu", r, d)  # MENU, or BACK outside a queue
