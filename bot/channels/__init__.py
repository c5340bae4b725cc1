"""Messaging channels: Telegram and WhatsApp webhooks and the web chat in, the durable inbox and
outbox, sending.

``Channels`` builds the channels whose tokens are configured (a channel without its token is not
started; the web chat runs when ``BOT_WEBCHAT_ENABLED``), mounts their webhooks, and runs the
inbox worker, the outbox dispatcher and the purge of what they keep. The app creates one and
starts it in its lifespan.

The crisis lifeline (``bot/channels/lifeline.py``) renders its numbers at start and every few
minutes, so that the webhooks can send them while the database is away.

The inbox and outbox share one ``Lease`` (this process's claims on their rows): it is renewed here
every third of ``BOT_LEASE_SECONDS`` while the process lives, and given back when it stops, so
another process on the same database takes the rows over at once instead of after the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import update
from starlette.routing import BaseRoute

from bot.channels.base import Channel
from bot.channels.inbox import Inbox
from bot.channels.lifeline import REFRESH_SECONDS as LIFELINE_REFRESH_SECONDS
from bot.channels.lifeline import Lifeline
from bot.channels.outbox import Outbox, OutboxDelivery
from bot.channels.parts import ChannelParts
from bot.store.channel_models import InboxMessage, OutboxMessage
from bot.store.leases import Lease
from bot.store.once import make_once

log = logging.getLogger("bot.channels")

PURGE_EVERY_SECONDS = 600


class Channels:
    def __init__(self, runtime: ChannelParts) -> None:
        from bot.channels.telegram.channel import TelegramChannel
        from bot.channels.webchat.channel import WebChatChannel
        from bot.channels.whatsapp import WhatsAppChannel

        self.runtime = runtime
        settings = runtime.settings
        self.lease = Lease(settings.lease_seconds)
        self.outbox = Outbox(runtime, self.lease)
        self.once = make_once(settings.redis_url, settings.redis_key_prefix)
        self.lifeline = Lifeline(runtime, self.once)
        self.outbox.on_sent = self.lifeline.sent
        self.inbox = Inbox(runtime, self.outbox, self.lease, self.lifeline)
        self.channels: dict[str, Channel] = {}
        if settings.telegram_token:
            self.channels["telegram"] = TelegramChannel(runtime, self.inbox, self.outbox)
        if settings.whatsapp_access_token and settings.whatsapp_phone_number_id:
            if settings.whatsapp_app_secret:
                self.channels["whatsapp"] = WhatsAppChannel(runtime, self.inbox, self.outbox)
            else:  # unsigned webhooks could come from anyone: refuse to run without the secret
                log.error("whatsapp not started", extra={"error": "no app secret"})
        if settings.webchat_enabled:
            self.channels["webchat"] = WebChatChannel(runtime, self.inbox, self.outbox)
        self.outbox.channels = self.channels
        self.inbox.channels = self.channels
        self._purge: asyncio.Task[None] | None = None
        self._renew: asyncio.Task[None] | None = None
        self._lifeline: asyncio.Task[None] | None = None

    def routes(self) -> list[BaseRoute]:
        return [route for channel in self.channels.values() for route in channel.routes()]

    async def start(self) -> None:
        """Resume what a previous run left in the inbox and outbox, and start sending."""
        if not self.channels:
            return
        self.runtime.delivery.route(OutboxDelivery(self.runtime, self.outbox))
        for channel in self.channels.values():
            await channel.start()
        await self.inbox.start()
        await self.outbox.start()
        self._purge = asyncio.create_task(self._purge_loop())
        self._renew = asyncio.create_task(self._renew_loop())
        self._lifeline = asyncio.create_task(self._lifeline_loop())
        log.info("channels started", extra={"count": len(self.channels)})

    async def stop(self) -> None:
        if not self.channels:
            return
        for task in (self._purge, self._renew, self._lifeline):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.inbox.stop()
        await self.outbox.stop()
        try:
            self.release_leases()
        except Exception:
            log.exception("lease release failed")
        for channel in self.channels.values():
            await channel.stop()
        await self.once.close()
        self.runtime.delivery.route(None)

    async def refresh_lifeline(self) -> None:
        """Render the crisis lifeline's texts again (a failure keeps the last ones)."""
        try:
            await self.runtime.db.call(self.lifeline.refresh, list(self.channels))
        except Exception:
            log.exception("crisis lifeline not refreshed")

    async def _lifeline_loop(self) -> None:
        while True:
            await self.refresh_lifeline()
            await asyncio.sleep(LIFELINE_REFRESH_SECONDS)

    def purge_once(self) -> None:
        self.outbox.purge()
        for channel in self.channels.values():
            channel.purge()

    def renew_leases(self) -> None:
        """Extend this process's claims: a turn or a send may take longer than one lease."""
        until = self.lease.until()
        with self.runtime.db.session() as s:
            for table in (InboxMessage, OutboxMessage):
                s.execute(
                    update(table)
                    .where(table.lease_owner == self.lease.owner)
                    .values(lease_until=until)
                )

    def release_leases(self) -> None:
        """Stopping: what this process still claims is anyone's again (it did not finish it)."""
        with self.runtime.db.session() as s:
            for table in (InboxMessage, OutboxMessage):
                s.execute(
                    update(table)
                    .where(table.lease_owner == self.lease.owner)
                    .values(lease_owner=None, lease_until=None)
                )

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease.seconds / 3)
            try:
                await self.runtime.db.call(self.renew_leases)
            except Exception as exc:
                log.warning("lease renewal failed", extra={"error": type(exc).__name__})

    async def _purge_loop(self) -> None:
        while True:
            try:
                await self.runtime.db.call(self.purge_once)
            except Exception:
                log.exception("channel purge failed")
            await asyncio.sleep(PURGE_EVERY_SECONDS)


__all__ = ["Channels"]
