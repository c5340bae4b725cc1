"""The Telegram channel as the rest of the bot sees it (``Channel`` in ``bot/channels/base.py``):
its webhook (the secret checked in constant time, the update stored in the durable inbox keyed by
``update_id`` before Telegram gets its 200; ids are not monotonic, so dedupe is by set membership),
polling in development, every tap answered with ``answerCallbackQuery``, a blocked bot marking the
contact blocked, and ``plan``, ``send`` and ``purge`` handed to the modules that do them. It holds
the running parts (the API client, the inbox, the outbox, background tasks), so the modules beside
it can stay plain functions."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram.error import TelegramError

from bot.channels.base import SendResult, loads_object, read_body
from bot.channels.inbox import ACCEPT_SECONDS, Inbox
from bot.channels.outbox import Outbox
from bot.channels.parts import ChannelParts
from bot.channels.telegram import erasure
from bot.channels.telegram.api import ALLOWED_UPDATES, Api, retry_after, webhook_secret
from bot.channels.telegram.replies import plan as plan_replies
from bot.channels.telegram.replies import send_text
from bot.channels.telegram.updates import NAME, Read, is_int
from bot.channels.telegram.updates import parse as parse_update
from bot.channels.telegram.updates import read as read_update
from bot.settings import Settings
from bot.store.models import Contact
from bot.types import Reply

log = logging.getLogger("bot.channels.telegram")
MAX_BODY = 1_000_000
POLL_TIMEOUT = 25  # seconds of long polling per getUpdates call


class TelegramChannel:
    name = NAME

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
        update = parse_update(data, self.bot) if data is not None else None
        read = read_update(update) if update is not None else None
        if read is None:
            # 200 all the same: a payload we cannot use must not be redelivered for a day.
            log.info("telegram update ignored")
            return Response(status_code=200)
        try:
            await self.store(read)
        except SQLAlchemyError as exc:
            log.warning("telegram update not stored", extra={"error": type(exc).__name__})
            return Response(status_code=503)  # Telegram retries: nothing is lost
        return Response(status_code=200)

    async def store(self, read: Read) -> None:
        """Store the message (or the block) durably, on a database thread; answer a tap once,
        not on redelivery."""
        if read.membership is not None:
            await self.runtime.db.call(self._membership, *read.membership, timeout=ACCEPT_SECONDS)
            return
        fresh = read.intake is None or await self.inbox.receive(read.intake)
        if not fresh:
            log.info("telegram duplicate dropped")
        if fresh and read.query_id:
            self._spawn(self._answer(read.query_id))

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
                await asyncio.sleep(self.outbox.backoff(attempts, retry_after(exc)))
                continue
            for update in updates:
                if not is_int(update.update_id):
                    continue
                read = read_update(update)
                try:
                    if read is not None:
                        await self.store(read)
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
        return plan_replies(replies, address=address, language=language, erase=erase)

    async def send(self, contact_id: str, payload: dict[str, Any]) -> SendResult:
        chat_id = int(payload["chat_id"])
        if payload.get("kind") == "erase":
            return await erasure.erase(self.runtime, self.bot, contact_id, chat_id, payload)
        if payload.get("kind") == "forget":
            return await erasure.forget(self.bot, chat_id, str(payload.get("message_id", "")))
        return await send_text(
            self.bot, chat_id, str(payload["text"]), payload.get("buttons") or []
        )

    def after_turn(
        self, s: Session, contact_id: str, address: str, inbound_at: dt.datetime
    ) -> None:
        return None

    def purge(self) -> None:
        erasure.purge(self.runtime.db)
