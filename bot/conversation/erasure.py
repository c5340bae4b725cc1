"""Exit, stop and delete: what the person asked to end is gone once the turn commits.

These run only on the exact command (the whole message is the word) or on an explicit yes to the
question ``ask`` puts when the model reads a wish to leave or to erase: never on a model's guess.
Rasa's trackers are erased after the commit, so a turn that fails erases nothing and its retry
erases everything.

Every trace goes in the same commit (``erase_traces``): the conversation and what hangs on it
(handoff, transcript, notes), the consents the person gave, the audit rows that name an erased
conversation (one row without any id keeps their count, so the log still adds up), and every
message the outbox still holds for them, dead letters included. Only the reply to this very
command, queued after the commit, goes out.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.events import Event
from bot.handoff import late
from bot.platforms import platform
from bot.rasa.client import RasaUnavailable
from bot.store.channel_models import OutboxMessage
from bot.store.console_models import AuditEvent
from bot.store.models import Consent, Contact, Conversation
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
    _end_conversation(p, ctx, "exit")
    ctx.extras["erase_chat"] = True


def stop(p: Parts, ctx: TurnContext) -> None:
    ctx.replies.append(p.renderer.render("utter_stop", ctx.render, ctx.directory))
    _end_conversation(p, ctx, "stop")


def delete_everything(p: Parts, ctx: TurnContext) -> None:
    """F4: erase everything kept about this contact, Rasa's trackers included."""
    ctx.replies.append(p.renderer.render("utter_deleted", ctx.render, ctx.directory))
    s, contact_id = ctx.session, ctx.contact.id
    _ended(p, ctx)
    s.flush()  # a contact first seen in this very turn is erased too
    senders = set(
        s.scalars(select(Conversation.rasa_sender).where(Conversation.contact_id == contact_id))
    )
    conversations = set(
        s.scalars(select(Conversation.id).where(Conversation.contact_id == contact_id))
    )
    erase_traces(s, contact_id, conversations | {ctx.conv.id}, "delete")
    s.execute(delete(Contact).where(Contact.id == contact_id))
    p.rate.forget(contact_id)
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
        conversations = set(
            s.scalars(select(Conversation.id).where(Conversation.contact_id == contact_id))
        )
        erase_traces(s, contact_id, conversations, "delete")
        s.execute(delete(Contact).where(Contact.id == contact_id))
    p.rate.forget(contact_id)
    return senders


def erase_traces(
    s: Session, contact_id: str, conversation_ids: Collection[str], how: str
) -> dict[str, int]:
    """What outlives a conversation's or a contact's own rows, erased in the caller's unit of
    work; returns how many rows of each kind went (for the tests and the count-only audit row).

    - consents: given inside the conversation that is being erased, and by this person;
    - audit rows naming an erased conversation: staff's actions stay accountable as a number
      (``erasure.audit_rows``, no conversation, no staff id), not as a trail to this person;
    - the outbox: pending and held replies, and dead letters, which were kept 72 hours for
      staff and named the contact;
    - the permission to reopen a WhatsApp chat after 24 hours (``bot/handoff/late.py``).
    """
    late.withdraw(s, contact_id)
    gone = {
        "consents": _count(s.execute(delete(Consent).where(Consent.contact_id == contact_id))),
        "outbox": _count(
            s.execute(delete(OutboxMessage).where(OutboxMessage.contact_id == contact_id))
        ),
        "audit": 0,
    }
    if conversation_ids:
        named = AuditEvent.conversation_id.in_(list(conversation_ids))
        gone["audit"] = _count(s.execute(delete(AuditEvent).where(named)))
    if gone["audit"]:
        s.add(
            AuditEvent(
                staff_id=None,
                action="erasure.audit_rows",
                conversation_id=None,
                detail={"rows": gone["audit"], "by": how},
            )
        )
    return gone


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def erase_trackers(p: Parts, senders: set[str]) -> None:
    for sender in senders:
        try:
            await p.rasa.erase(sender)
        except RasaUnavailable:
            # Rasa keeps trackers in memory only; a Rasa that cannot be reached keeps nothing
            # that outlives its restart, and the sender id is now linked to nothing.
            log.warning("could not erase rasa tracker")


def _end_conversation(p: Parts, ctx: TurnContext, how: str) -> None:
    s = ctx.session
    _ended(p, ctx)
    s.flush()
    erase_traces(s, ctx.contact.id, {ctx.conv.id}, how)
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
