"""Messaging channels: Telegram and WhatsApp webhooks and the web chat in, the durable inbox and
outbox, sending.

``Channels`` builds the channels whose tokens are configured (a channel without its token is not
started; the web chat runs when ``BOT_WEBCHAT_ENABLED``), mounts their webhooks, and runs the
inbox worker, the outbox dispatcher and the purge of what they keep. The app creates one and
starts it in its lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.routing import BaseRoute

from bot.channels.base import Channel
from bot.channels.inbox import Inbox
from bot.channels.outbox import Outbox, OutboxDelivery
from bot.channels.parts import ChannelParts

log = logging.getLogger("bot.channels")

PURGE_EVERY_SECONDS = 600


class Channels:
    def __init__(self, runtime: ChannelParts) -> None:
        from bot.channels.telegram.channel import TelegramChannel
        from bot.channels.webchat.channel import WebChatChannel
        from bot.channels.whatsapp import WhatsAppChannel

        self.runtime = runtime
        settings = runtime.settings
        self.outbox = Outbox(runtime)
        self.inbox = Inbox(runtime, self.outbox)
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
        log.info("channels started", extra={"count": len(self.channels)})

    async def stop(self) -> None:
        if not self.channels:
            return
        if self._purge is not None:
            self._purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge
        await self.inbox.stop()
        await self.outbox.stop()
        for channel in self.channels.values():
            await channel.stop()
        self.runtime.delivery.route(None)

    def purge_once(self) -> None:
        self.outbox.purge()
        for channel in self.channels.values():
            channel.purge()

    async def _purge_loop(self) -> None:
        while True:
            try:
                self.purge_once()
            except Exception:
                log.exception("channel purge failed")
            await asyncio.sleep(PURGE_EVERY_SECONDS)


__all__ = ["Channels"]
