"""The background job that keeps the queue honest: run by the server every few seconds."""

from __future__ import annotations

import asyncio
import logging

from bot.handoff.live import LiveHandoff

log = logging.getLogger("bot.handoff")


async def watch_queue(live: LiveHandoff, every_seconds: float) -> None:
    """Forever: tell people nobody accepted (or nobody is on duty), once each (E3)."""
    while True:
        try:
            await live.check_queue()
        except Exception:
            log.exception("queue check failed")
        await asyncio.sleep(every_seconds)
