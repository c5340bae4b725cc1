"""The background job that keeps the queue honest: run by the server every few seconds."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.handoff.live import LiveHandoff

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("bot.handoff")


async def watch_queue(runtime: Runtime) -> None:
    """Forever: tell people nobody accepted (or nobody is on duty), once each (E3)."""
    live = LiveHandoff(runtime)
    while True:
        try:
            await live.check_queue()
        except Exception:
            log.exception("queue check failed")
        await asyncio.sleep(runtime.settings.handoff_watch_seconds)
