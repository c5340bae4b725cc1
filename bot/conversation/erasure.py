"""Exit, stop and delete: what the person asked to end is gone once the turn commits.

These run only on the exact command (the whole message is the word) or on an explicit yes to the
question ``ask`` puts when the model reads a wish to leave or to erase: never on a model's guess.
Rasa's trackers are erased after the commit, so a turn that fails erases nothing and its retry
erases everything.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select

from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.events import Event
from bot.platforms import platform
from bot.rasa.client import RasaUnavailable
from bot.store.models import Contact, Conversation
from bot.types import Reply

log = logging.getLogger("bot.conversation")


# The explicit yes to each question below: payloads whose effect cannot be undone.
CONFIRMED = {"exit_confirmed": "exit", "delete_confirmed": "delete"}
ASK = {"exit": "utter_confirm_exit", "delete": "utter_confirm_delete"}


def ask(p: Parts, ctx: TurnContext, what: str) -> None:
    """The model read "exit" or "delete my data": ask first; one tap (or "1", or yes) does it."""
    ctx.answer(p.renderer.render(ASK[what], ctx.render, ctx.directory))


def confirmed(p: Parts, ctx: TurnContext, payload_intent: str) -> None:
    """A yes to ``ask``'s question: do it, exactly as the command would. A yes to a question that
    is no longer the last one asked is asked again, never acted on."""
    what = CONFIRMED[payload_intent]
    offered = {str(c.get("payload", "")) for c in ctx.conv.choices or []}
    if f"/{payload_intent}" not in offered:
        ask(p, ctx, what)
    elif what == "exit":
        leave(p, ctx)
    else:
        delete_everything(p, ctx)


def nothing_erased(p: Parts, ctx: TurnContext) -> None:
    ctx.answer(p.renderer.render("utter_nothing_erased", ctx.render, ctx.directory))


def leave(p: Parts, ctx: TurnContext) -> None:
    """B1: the session's server-side state is gone at once; at most one neutral line."""
    if not platform(ctx.msg.channel).erases_messages:  # the messages stay on the phone: say so
        reply = p.renderer.render("utter_exit_whatsapp_note", ctx.render, ctx.directory)
        ctx.replies.append(reply)
    elif p.settings.exit_reply:
        ctx.replies.append(Reply(p.settings.exit_reply, key="exit_reply"))
    _end_conversation(p, ctx)
    ctx.extras["erase_chat"] = True


def stop(p: Parts, ctx: TurnContext) -> None:
    ctx.replies.append(p.renderer.render("utter_stop", ctx.render, ctx.directory))
    _end_conversation(p, ctx)


def delete_everything(p: Parts, ctx: TurnContext) -> None:
    """F4: erase everything kept about this contact, Rasa's trackers included."""
    ctx.replies.append(p.renderer.render("utter_deleted", ctx.render, ctx.directory))
    s, contact_id = ctx.session, ctx.contact.id
    _ended(p, ctx)
    s.flush()  # a contact first seen in this very turn is erased too
    senders = set(
        s.scalars(select(Conversation.rasa_sender).where(Conversation.contact_id == contact_id))
    )
    s.execute(delete(Contact).where(Contact.id == contact_id))
    _close(p, ctx, senders | {ctx.conv.rasa_sender})
    ctx.extras["erase_chat"] = True


def forget(p: Parts, channel: str, user_id: str) -> set[str]:
    """Erase a contact without a reply (``bot eval`` cleans up this way); returns the Rasa senders
    whose trackers the caller erases next."""
    contact_id = p.crypto.pseudonym(channel, user_id)
    with p.db.session() as s:
        senders = set(
            s.scalars(select(Conversation.rasa_sender).where(Conversation.contact_id == contact_id))
        )
        s.execute(delete(Contact).where(Contact.id == contact_id))
    return senders


async def erase_trackers(p: Parts, senders: set[str]) -> None:
    for sender in senders:
        try:
            await p.rasa.erase(sender)
        except RasaUnavailable:
            # Rasa keeps trackers in memory only; a Rasa that cannot be reached keeps nothing
            # that outlives its restart, and the sender id is now linked to nothing.
            log.warning("could not erase rasa tracker")


def _end_conversation(p: Parts, ctx: TurnContext) -> None:
    s = ctx.session
    _ended(p, ctx)
    s.flush()
    s.execute(delete(Conversation).where(Conversation.id == ctx.conv.id))
    _close(p, ctx, {ctx.conv.rasa_sender})


def _ended(p: Parts, ctx: TurnContext) -> None:
    """The person left during a handoff: the console must know (once the turn commits)."""
    if ctx.live:
        p.events.publish(Event("handoff.ended", ctx.conv.id))
    p.handoffs.drop_held(ctx.session, ctx.contact.id)


def _close(p: Parts, ctx: TurnContext, senders: set[str]) -> None:
    ctx.closed = True

    async def erase() -> None:
        await erase_trackers(p, senders)

    ctx.uow.after_commit(erase)
