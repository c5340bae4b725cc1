"""Telegram, through python-telegram-bot 22: the webhook (or polling in development) and sending.

- The webhook checks ``X-Telegram-Bot-Api-Secret-Token`` in constant time, parses with PTB, stores
  the message in the durable inbox keyed by ``update_id`` (Telegram redelivers until it gets a 200;
  ids are not monotonic, so dedupe is by set membership) and answers at once.
- Replies go out with inline keyboards; the buttons of the question a typed number answers are
  titled "1. …", "2. …". Link previews are off and ``protect_content`` is on for every message.
- Every tap gets ``answerCallbackQuery`` (Telegram shows a spinner until then).
- 429 waits ``retry_after``; 403, or a ``my_chat_member`` update saying the bot was blocked, marks
  the contact blocked and stops sending to it.
- The exit word and DELETE delete the chat's messages on both sides that are under 48 hours old
  (ids are kept in ``platform_messages`` just that long), in batches of 100, and the closing line
  says when some could not be deleted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram import (
    Bot,
    CallbackQuery,
    ChatMember,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
    User,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest

from bot.channels.base import (
    Intake,
    Outcome,
    SendResult,
    chunks,
    loads_object,
    numbered_index,
    read_body,
    split_text,
)
from bot.channels.inbox import Inbox
from bot.channels.outbox import Outbox
from bot.channels.parts import ChannelParts
from bot.settings import Settings
from bot.store.channel_models import OutboxMessage, PlatformMessage
from bot.store.crypto import Crypto
from bot.store.models import Contact, utcnow
from bot.types import Inbound, Reply

log = logging.getLogger("bot.channels.telegram")

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
MAX_BODY = 1_000_000
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64  # bytes
DELETE_BATCH = 100
# Telegram lets a bot delete a private chat's messages for 48 hours; a margin for clock skew.
DELETABLE_FOR = dt.timedelta(hours=48) - dt.timedelta(minutes=10)
# Stands in platform_messages for "this chat has messages the bot can no longer delete".
UNDELETABLE = "-"
POLL_TIMEOUT = 25  # seconds of long polling per getUpdates call
MAX_WEBHOOK_CONNECTIONS = 5  # few parallel deliveries: fewer updates out of order

# Appended to the exit line when some messages stayed. Safety-critical text: it belongs in the
# reviewed catalogs (bot/nlg/messages.py) and lives here until a catalog key exists for it.


@dataclass(frozen=True)
class Read:
    """What one update asks of us: a message to store, a tap to answer, a (un)block."""

    intake: Intake | None = None
    query_id: str | None = None
    membership: tuple[int, bool] | None = None  # chat id, blocked


def webhook_secret(settings: Settings, crypto: Crypto) -> str:
    """The secret Telegram sends back in every webhook: configured, or derived from the key
    (hex: within the 1-256 characters of A-Z, a-z, 0-9, _ and - that Telegram accepts)."""
    return settings.telegram_secret or crypto.internal_token("telegram-webhook")[:64]


class Api:
    """A PTB ``Bot`` aimed at BOT_TELEGRAM_API_URL, with the HTTP clients we open and close
    ourselves (``Bot.initialize`` would call getMe, which start-up does not need)."""

    def __init__(self, settings: Settings, poll_timeout: float = 0) -> None:
        base = settings.telegram_api_url.rstrip("/")
        self.requests = (
            HTTPXRequest(
                connection_pool_size=16,
                connect_timeout=5.0,
                read_timeout=15.0,
                write_timeout=15.0,
                pool_timeout=5.0,
            ),
            HTTPXRequest(
                connection_pool_size=1, connect_timeout=5.0, read_timeout=poll_timeout + 15.0
            ),
        )
        self.bot = Bot(
            settings.telegram_token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=self.requests[0],
            get_updates_request=self.requests[1],
        )

    async def close(self) -> None:
        for request in self.requests:
            await request.shutdown()


async def set_webhook(settings: Settings, crypto: Crypto, url: str) -> bool:
    """Register the webhook with our secret and only the update kinds the bot uses."""
    api = Api(settings)
    try:
        return await api.bot.set_webhook(
            url,
            secret_token=webhook_secret(settings, crypto),
            allowed_updates=ALLOWED_UPDATES,
            max_connections=MAX_WEBHOOK_CONNECTIONS,
        )
    finally:
        await api.close()


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _language(user: User | None) -> str | None:
    code = getattr(user, "language_code", None)
    return code[:2].lower() if isinstance(code, str) and code else None


def _title(n: int, title: str, numbered: bool) -> str:
    return f"{n}. {title}" if numbered else title


class TelegramChannel:
    name = "telegram"

    def __init__(self, runtime: ChannelParts, inbox: Inbox, outbox: Outbox) -> None:
        self.runtime = runtime
        self.settings: Settings = runtime.settings
        self.inbox = inbox
        self.outbox = outbox
        self.secret = webhook_secret(self.settings, runtime.crypto).encode()
        self.api = Api(self.settings, POLL_TIMEOUT if self.settings.telegram_polling else 0)
        self.bot = self.api.bot
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None

    # --- lifecycle ---

    def routes(self) -> list[BaseRoute]:
        return [Route("/webhooks/telegram", self.webhook, methods=["POST"])]

    async def start(self) -> None:
        if self.settings.telegram_polling:
            self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        tasks = [t for t in (self._poller, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.api.close()

    def _spawn(self, coro: Any) -> None:
        """Fire-and-forget calls whose failure changes nothing (answering a tap)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- receiving ---

    async def webhook(self, request: Request) -> Response:
        token = request.headers.get("x-telegram-bot-api-secret-token", "").encode("latin-1")
        if not hmac.compare_digest(token, self.secret):
            log.warning("telegram webhook refused", extra={"error": "secret"})
            return Response(status_code=403)
        body = await read_body(request, MAX_BODY)
        if body is None:
            log.warning("telegram webhook refused", extra={"error": "too_large"})
            return Response(status_code=413)
        try:
            data = loads_object(body)
        except ValueError:
            log.warning("telegram webhook refused", extra={"error": "not_json"})
            return Response(status_code=400)
        update = self.parse(data) if data is not None else None
        read = self.read(update) if update is not None else None
        if read is None:
            # 200 all the same: a payload we cannot use must not be redelivered for a day.
            log.info("telegram update ignored")
            return Response(status_code=200)
        try:
            self.store(read)
        except SQLAlchemyError:
            log.exception("telegram update not stored")
            return Response(status_code=503)  # Telegram retries: nothing is lost
        return Response(status_code=200)

    def parse(self, data: dict[str, Any]) -> Update | None:
        try:
            update = Update.de_json(data, self.bot)
        except Exception:  # PTB raises TypeError/KeyError/ValueError on broken payloads
            return None
        return update if _int(update.update_id) else None

    def read(self, update: Update) -> Read | None:
        """What an update asks of us, or None for anything we do not use or cannot trust
        (wrong types, group chats, service messages). Touches nothing."""
        try:
            if update.my_chat_member is not None:
                return self._from_membership(update.my_chat_member)
            if update.callback_query is not None:
                query = update.callback_query
                query_id = query.id if isinstance(query.id, str) and query.id else None
                intake = self._from_tap(update.update_id, query)
                return Read(intake, query_id) if intake or query_id else None
            if update.message is not None:
                intake = self._from_message(update)
                return Read(intake) if intake else None
        except (AttributeError, TypeError, ValueError):  # PTB objects built from odd JSON
            return None
        return None

    def store(self, read: Read) -> None:
        """Store the message (or the block) durably; answer a tap once, not on redelivery."""
        if read.membership is not None:
            self._membership(*read.membership)
            return
        fresh = read.intake is None or self.inbox.accept(read.intake)
        if not fresh:
            log.info("telegram duplicate dropped")
        if fresh and read.query_id:
            self._spawn(self._answer(read.query_id))

    def _from_message(self, update: Update) -> Intake | None:
        message = update.message
        if message is None:
            return None
        chat = message.chat
        if chat.type != "private" or not _int(chat.id) or not _int(message.message_id):
            return None
        text = message.text
        if text is not None and not isinstance(text, str):
            return None
        if not text and not message.effective_attachment:
            return None  # a service message (pinned, timer changed): nothing to answer
        inbound = Inbound(
            channel=self.name,
            user_id=str(chat.id),
            message_id=f"u{update.update_id}",
            text=text[:MAX_TEXT] if text else None,
            language_hint=_language(message.from_user),
            unsupported=not text,
        )
        return Intake(inbound, str(chat.id), platform_message_id=str(message.message_id))

    def _from_tap(self, update_id: int, query: CallbackQuery) -> Intake | None:
        message = query.message
        data = query.data
        if message is None or not isinstance(data, str) or not data:
            return None
        if len(data.encode()) > MAX_CALLBACK_DATA:
            return None
        chat = message.chat
        if chat.type != "private" or not _int(chat.id):
            return None
        typed = data.isdigit()  # a button whose payload was too long carries its number
        inbound = Inbound(
            channel=self.name,
            user_id=str(chat.id),
            message_id=f"u{update_id}",
            text=data if typed else None,
            payload=None if typed else data,
            language_hint=_language(query.from_user),
        )
        return Intake(inbound, str(chat.id))

    def _from_membership(self, change: ChatMemberUpdated) -> Read | None:
        chat = change.chat
        status = getattr(change.new_chat_member, "status", None)
        if chat.type != "private" or not _int(chat.id):
            return None
        if status in (ChatMember.BANNED, ChatMember.LEFT):  # "kicked": the person blocked us
            return Read(membership=(chat.id, True))
        if status == ChatMember.MEMBER:
            return Read(membership=(chat.id, False))
        return None

    def _membership(self, chat_id: int, blocked: bool) -> None:
        contact_id = self.runtime.crypto.pseudonym(self.name, str(chat_id))
        with self.runtime.db.session() as s:
            contact = s.get(Contact, contact_id)
            if contact is not None:
                contact.blocked = blocked
            if blocked:
                self.outbox.drop_active(s, contact_id)
        log.info("telegram chat membership", extra={"status": "blocked" if blocked else "member"})

    async def _answer(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as exc:
            log.info("telegram tap not answered", extra={"error": type(exc).__name__})

    async def _poll(self) -> None:
        """Development: getUpdates instead of the webhook (the two exclude each other)."""
        offset: int | None = None
        attempts = 0
        while True:
            try:
                if offset is None:
                    await self.bot.delete_webhook()
                    offset = 0
                updates = await self.bot.get_updates(
                    offset=offset or None, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
                )
                attempts = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempts += 1
                log.warning("telegram polling failed", extra={"error": type(exc).__name__})
                await asyncio.sleep(self.outbox.backoff(attempts, _retry_after(exc)))
                continue
            for update in updates:
                if not _int(update.update_id):
                    continue
                read = self.read(update)
                try:
                    if read is not None:
                        self.store(read)
                except SQLAlchemyError:
                    log.exception("telegram update not stored")
                    break  # not confirmed: getUpdates returns it again
                offset = update.update_id + 1

    # --- sending ---

    def address_ok(self, address: str) -> bool:
        return address.removeprefix("-").isdigit()

    def plan(
        self, replies: list[Reply], *, address: str, language: str, erase: bool
    ) -> list[dict[str, Any]]:
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

    async def send(self, contact_id: str, payload: dict[str, Any]) -> SendResult:
        chat_id = int(payload["chat_id"])
        if payload.get("kind") == "erase":
            return await self._erase(contact_id, chat_id, payload)
        return await self._send_text(chat_id, str(payload["text"]), payload.get("buttons") or [])

    async def _send_text(self, chat_id: int, text: str, buttons: list[Any]) -> SendResult:
        markup = (
            InlineKeyboardMarkup(
                [[InlineKeyboardButton(b["title"], callback_data=b["data"])] for b in buttons]
            )
            if buttons
            else None
        )
        try:
            message = await self.bot.send_message(
                chat_id=chat_id,
                text=text,
                reply_markup=markup,
                protect_content=True,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except TelegramError as exc:
            return _failure(exc)
        return SendResult(Outcome.SENT, message_ids=(str(message.message_id),))

    async def _erase(self, contact_id: str, chat_id: int, payload: dict[str, Any]) -> SendResult:
        """Delete the chat's recent messages, then send the closing line (with a note when some
        stayed). Progress is written as it goes, so a retry deletes nothing twice."""
        db = self.runtime.db
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
                failed = await self._delete(chat_id, [m for _, m in batch])
            except TelegramError as exc:
                return _failure(exc)
            with db.session() as s:
                s.execute(
                    delete(PlatformMessage).where(PlatformMessage.id.in_([i for i, _ in batch]))
                )
                if failed:
                    _mark_undeletable(s, contact_id)
        with db.session() as s:
            some_stayed = _undeletable(s, contact_id)
        text = str(payload.get("text") or "")
        if some_stayed:
            note = self.runtime.catalog.text("exit_not_deleted_line", str(payload.get("language")))
            text = f"{text}\n{note}" if text else note
        result = await self._send_text(chat_id, text, []) if text else SendResult(Outcome.SENT)
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

    async def _delete(self, chat_id: int, message_ids: list[int]) -> int:
        """Delete one batch; how many could not be deleted. deleteMessages skips ids it cannot
        find; when it refuses the batch, each id is tried alone to know which stayed."""
        try:
            await self.bot.delete_messages(chat_id, message_ids)
            return 0
        except BadRequest:
            pass
        failed = 0
        for message_id in message_ids:
            try:
                await self.bot.delete_message(chat_id, message_id)
            except BadRequest:
                failed += 1
        return failed

    def after_turn(
        self, s: Session, contact_id: str, address: str, inbound_at: dt.datetime
    ) -> None:
        return None

    def purge(self) -> None:
        """Ids too old to delete are dropped; one marker remembers that the chat has some."""
        cutoff = utcnow() - DELETABLE_FOR
        with self.runtime.db.session() as s:
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


def _retry_after(exc: BaseException) -> float | None:
    if not isinstance(exc, RetryAfter):
        return None
    with warnings.catch_warnings():  # PTB 22 warns that retry_after will become a timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _failure(exc: TelegramError) -> SendResult:
    """What a Bot API error means for the outbox (PTB maps the HTTP status to the class)."""
    name = type(exc).__name__
    if isinstance(exc, RetryAfter):
        return SendResult(Outcome.RETRY, "429", retry_after=_retry_after(exc))
    if isinstance(exc, Forbidden):
        return SendResult(Outcome.BLOCKED, "403")
    if isinstance(exc, BadRequest | ChatMigrated):  # BadRequest before NetworkError: a subclass
        return SendResult(Outcome.DEAD, "400")
    if isinstance(exc, InvalidToken):
        return SendResult(Outcome.RETRY, "401")  # a configuration error: staff can fix it
    return SendResult(Outcome.RETRY, name)  # NetworkError, TimedOut, 5xx, Conflict
