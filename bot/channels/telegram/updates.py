"""Reading a Telegram update: what one update asks of us (a message to store, a tap to answer, the
person blocking or unblocking the bot), or nothing for anything we do not use or cannot trust
(group chats, service messages, wrong types, oversized callback data). It stands apart from the
channel because reading touches nothing, neither the database nor the network: the webhook and
development polling read updates through the same functions, and only the channel acts on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import Bot, CallbackQuery, ChatMember, ChatMemberUpdated, Update, User

from bot.channels.base import Intake
from bot.channels.telegram.api import MAX_CALLBACK_DATA, MAX_TEXT
from bot.types import Inbound

NAME = "telegram"  # the channel's name, as in Inbound.channel and bot/platforms.py


@dataclass(frozen=True)
class Read:
    """What one update asks of us: a message to store, a tap to answer, a (un)block."""

    intake: Intake | None = None
    query_id: str | None = None
    membership: tuple[int, bool] | None = None  # chat id, blocked


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _language(user: User | None) -> str | None:
    code = getattr(user, "language_code", None)
    return code[:2].lower() if isinstance(code, str) and code else None


def parse(data: dict[str, Any], bot: Bot) -> Update | None:
    try:
        update = Update.de_json(data, bot)
    except Exception:  # PTB raises TypeError/KeyError/ValueError on broken payloads
        return None
    return update if is_int(update.update_id) else None


def read(update: Update) -> Read | None:
    """What an update asks of us, or None for anything we do not use or cannot trust
    (wrong types, group chats, service messages). Touches nothing."""
    try:
        if update.my_chat_member is not None:
            return _from_membership(update.my_chat_member)
        if update.callback_query is not None:
            query = update.callback_query
            query_id = query.id if isinstance(query.id, str) and query.id else None
            intake = _from_tap(update.update_id, query)
            return Read(intake, query_id) if intake or query_id else None
        if update.message is not None:
            intake = _from_message(update)
            return Read(intake) if intake else None
    except (AttributeError, TypeError, ValueError):  # PTB objects built from odd JSON
        return None
    return None


def _from_message(update: Update) -> Intake | None:
    message = update.message
    if message is None:
        return None
    chat = message.chat
    if chat.type != "private" or not is_int(chat.id) or not is_int(message.message_id):
        return None
    text = message.text
    if text is not None and not isinstance(text, str):
        return None
    if not text and not message.effective_attachment:
        return None  # a service message (pinned, timer changed): nothing to answer
    inbound = Inbound(
        channel=NAME,
        user_id=str(chat.id),
        message_id=f"u{update.update_id}",
        text=text[:MAX_TEXT] if text else None,
        language_hint=_language(message.from_user),
        unsupported=not text,
    )
    return Intake(inbound, str(chat.id), platform_message_id=str(message.message_id))


def _from_tap(update_id: int, query: CallbackQuery) -> Intake | None:
    message = query.message
    data = query.data
    if message is None or not isinstance(data, str) or not data:
        return None
    if len(data.encode()) > MAX_CALLBACK_DATA:
        return None
    chat = message.chat
    if chat.type != "private" or not is_int(chat.id):
        return None
    typed = data.isascii() and data.isdigit()  # a payload too long for a button: its number
    inbound = Inbound(
        channel=NAME,
        user_id=str(chat.id),
        message_id=f"u{update_id}",
        text=data if typed else None,
        payload=None if typed else data,
        language_hint=_language(query.from_user),
    )
    return Intake(inbound, str(chat.id))


def _from_membership(change: ChatMemberUpdated) -> Read | None:
    chat = change.chat
    status = getattr(change.new_chat_member, "status", None)
    if chat.type != "private" or not is_int(chat.id):
        return None
    if status in (ChatMember.BANNED, ChatMember.LEFT):  # "kicked": the person blocked us
        return Read(membership=(chat.id, True))
    if status == ChatMember.MEMBER:
        return Read(membership=(chat.id, False))
    return None
