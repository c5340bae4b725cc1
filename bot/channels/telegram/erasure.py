"""Erasing a Telegram chat on the exit word and DELETE: the chat's messages on both sides that are
under 48 hours old are deleted in batches of 100 (their ids are kept in ``platform_messages``
just that long, and one marker remembers that older ones stayed), then the closing line is sent,
with a note when some could not be deleted. Progress is written as it goes, so a retry deletes
nothing twice. It is its own module because it is the one part of the channel that writes the
database while it talks to Telegram, with its own bookkeeping and its own purge of expired ids."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.channels.base import Outcome, SendResult, chunks
from bot.channels.parts import ChannelParts
from bot.channels.telegram.api import failure
from bot.channels.telegram.replies import send_text
from bot.store.channel_models import OutboxMessage, PlatformMessage
from bot.store.db import Database
from bot.store.models import Contact, utcnow

log = logging.getLogger("bot.channels.telegram")

DELETE_BATCH = 100
# Telegram lets a bot delete a private chat's messages for 48 hours; a margin for clock skew.
DELETABLE_FOR = dt.timedelta(hours=48) - dt.timedelta(minutes=10)
# Stands in platform_messages for "this chat has messages the bot can no longer delete".
UNDELETABLE = "-"


async def erase(
    runtime: ChannelParts, bot: Bot, contact_id: str, chat_id: int, payload: dict[str, Any]
) -> SendResult:
    """Delete the chat's recent messages, then send the closing line (with a note when some
    stayed). Progress is written as it goes, so a retry deletes nothing twice."""
    db = runtime.db
    cutoff = utcnow() - DELETABLE_FOR
    with db.session() as s:
        rows = s.execute(
            select(PlatformMessage.id, PlatformMessage.message_id, PlatformMessage.at).where(
                PlatformMessage.contact_id == contact_id,
                PlatformMessage.message_id != UNDELETABLE,
            )
        ).all()
        stale = {r.id for r in rows if r.at < cutoff or not r.message_id.isdigit()}
        if stale:
            s.execute(delete(PlatformMessage).where(PlatformMessage.id.in_(stale)))
            _mark_undeletable(s, contact_id)
    fresh = sorted(
        ((r.id, int(r.message_id)) for r in rows if r.id not in stale),
        key=lambda r: r[1],
    )
    for batch in chunks(fresh, DELETE_BATCH):
        try:
            failed = await _delete(bot, chat_id, [m for _, m in batch])
        except TelegramError as exc:
            return failure(exc)
        with db.session() as s:
            s.execute(delete(PlatformMessage).where(PlatformMessage.id.in_([i for i, _ in batch])))
            if failed:
                _mark_undeletable(s, contact_id)
    with db.session() as s:
        some_stayed = _undeletable(s, contact_id)
    text = str(payload.get("text") or "")
    if some_stayed:
        note = runtime.catalog.text("exit_not_deleted_line", str(payload.get("language")))
        text = f"{text}\n{note}" if text else note
    result = await send_text(bot, chat_id, text, []) if text else SendResult(Outcome.SENT)
    if result.outcome is Outcome.SENT:
        with db.session() as s:
            s.execute(
                delete(PlatformMessage).where(
                    PlatformMessage.contact_id == contact_id,
                    PlatformMessage.message_id == UNDELETABLE,
                )
            )
        log.info("telegram chat erased", extra={"count": len(fresh), "kind": "erase"})
    return result


async def forget(bot: Bot, chat_id: int, message_id: str) -> SendResult:
    """Delete one message the person sent (their code word). A message Telegram will not delete
    any more is not retried: there is nothing a retry could change."""
    if not message_id.isascii() or not message_id.isdigit():
        return SendResult(Outcome.SENT)
    try:
        await bot.delete_message(chat_id, int(message_id))
    except BadRequest:
        log.warning("telegram message not deleted", extra={"kind": "forget"})
        return SendResult(Outcome.SENT)
    except TelegramError as exc:
        return failure(exc)
    return SendResult(Outcome.SENT)


async def _delete(bot: Bot, chat_id: int, message_ids: list[int]) -> int:
    """Delete one batch; how many could not be deleted. deleteMessages skips ids it cannot
    find; when it refuses the batch, each id is tried alone to know which stayed."""
    try:
        await bot.delete_messages(chat_id, message_ids)
        return 0
    except BadRequest:
        pass
    failed = 0
    for message_id in message_ids:
        try:
            await bot.delete_message(chat_id, message_id)
        except BadRequest:
            failed += 1
    return failed


def purge(db: Database) -> None:
    """Ids too old to delete are dropped; one marker remembers that the chat has some."""
    cutoff = utcnow() - DELETABLE_FOR
    with db.session() as s:
        old = list(
            s.scalars(
                select(PlatformMessage.contact_id)
                .where(PlatformMessage.at < cutoff, PlatformMessage.message_id != UNDELETABLE)
                .distinct()
            )
        )
        for contact_id in old:
            s.execute(
                delete(PlatformMessage).where(
                    PlatformMessage.contact_id == contact_id,
                    PlatformMessage.at < cutoff,
                    PlatformMessage.message_id != UNDELETABLE,
                )
            )
            if s.get(Contact, contact_id) is not None:
                _mark_undeletable(s, contact_id)
        # Markers of contacts erased some other way, with no exit left to send.
        s.execute(
            delete(PlatformMessage).where(
                PlatformMessage.message_id == UNDELETABLE,
                ~select(Contact.id).where(Contact.id == PlatformMessage.contact_id).exists(),
                ~select(OutboxMessage.id)
                .where(OutboxMessage.contact_id == PlatformMessage.contact_id)
                .exists(),
            )
        )
    if old:
        log.info("telegram message ids expired", extra={"count": len(old)})


def _mark_undeletable(s: Session, contact_id: str) -> None:
    if not _undeletable(s, contact_id):
        s.add(PlatformMessage(contact_id=contact_id, message_id=UNDELETABLE))


def _undeletable(s: Session, contact_id: str) -> bool:
    return (
        s.scalar(
            select(PlatformMessage.id).where(
                PlatformMessage.contact_id == contact_id,
                PlatformMessage.message_id == UNDELETABLE,
            )
        )
        is not None
    )
