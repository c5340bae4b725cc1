"""Laying replies out for Telegram and sending one: a turn's replies become outbox payloads with
inline keyboards (only the question a typed number answers is titled "1. …", "2. …"; a payload
over the 64 bytes of callback data travels as its number; long texts are split under 4,096
characters), and one payload goes out with link previews off and ``protect_content`` on. Planning
runs inside a turn and sending runs later from the outbox, so both live here, apart from reading
updates, and the erasure's closing line is sent through the same ``send_text``."""

from __future__ import annotations

from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import TelegramError

from bot.channels.base import Outcome, SendResult, numbered_index, split_text
from bot.channels.telegram.api import MAX_CALLBACK_DATA, MAX_TEXT, failure
from bot.types import Reply


def _title(n: int, title: str, numbered: bool) -> str:
    return f"{n}. {title}" if numbered else title


def plan(replies: list[Reply], *, address: str, language: str, erase: bool) -> list[dict[str, Any]]:
    if erase:
        text = "\n".join(r.text for r in replies if r.text)
        return [{"kind": "erase", "chat_id": address, "text": text, "language": language}]
    numbered = numbered_index(replies)
    rows: list[dict[str, Any]] = []
    for i, reply in enumerate(replies):
        buttons = []
        for n, button in enumerate(reply.buttons, 1):
            data = button.payload
            if not 0 < len(data.encode()) <= MAX_CALLBACK_DATA:
                if numbered != i:
                    continue  # cannot be tapped nor typed: left out rather than broken
                data = str(n)
            buttons.append({"title": _title(n, button.title, numbered == i), "data": data})
        parts = split_text(reply.text, MAX_TEXT)
        for j, part in enumerate(parts):
            last = j == len(parts) - 1
            rows.append(
                {
                    "kind": "message",
                    "chat_id": address,
                    "text": part,
                    "buttons": buttons if last else [],
                }
            )
    return rows


async def send_text(bot: Bot, chat_id: int, text: str, buttons: list[Any]) -> SendResult:
    markup = (
        InlineKeyboardMarkup(
            [[InlineKeyboardButton(b["title"], callback_data=b["data"])] for b in buttons]
        )
        if buttons
        else None
    )
    try:
        message = await bot.send_message(
            chat_id=chat_id,
            text=text,
            reply_markup=markup,
            protect_content=True,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
    except TelegramError as exc:
        return failure(exc)
    return SendResult(Outcome.SENT, message_ids=(str(message.message_id),))
