"""What one message costs, counted rather than timed: database transactions and statements per
message, end to end (webhook → inbox → turn → Rasa and its callbacks → outbox → Bot API stand-in),
and CPU time per answered message from the kernel's accounting of each process.

The database figures come from the bot running in this process (``Stack`` with the real Rasa
process and our model), so ``bot.store.counting.DatabaseWork`` can listen on its engine. The
pollers are given a long interval, so everything counted is work a message caused.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.measure import _children
from bench.telegram_sink import TelegramSink, text_update
from bot.net import free_port
from bot.server import Stack
from bot.settings import get_settings
from bot.store.counting import DatabaseWork, Work

WEBHOOK_SECRET = "bench-costs-secret"
QUIET_SECONDS = 0.5  # nothing counted for this long after the reply: the message is done


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU time of a process (or of its children: Rasa under ``bot run``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _children(pid) if children else [pid]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


async def database_work(
    script: list[tuple[str, str, str]], greeting: dict[str, str], rounds: int
) -> dict[str, Any]:
    """Mean transactions and statements per message, by kind (crisis, ordinary), each message
    from a person who already had their first contact. A port taken by another program between
    choosing it and binding it (a shared machine) is tried again with new ones."""
    for attempt in range(3):
        try:
            return await _database_work(script, greeting, rounds)
        except (SystemExit, OSError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _database_work(
    script: list[tuple[str, str, str]], greeting: dict[str, str], rounds: int
) -> dict[str, Any]:
    sink = TelegramSink("4242:COSTS", free_port())
    sink.start()
    chats = itertools.count(8_000_000)
    updates = itertools.count(1)
    spent: dict[str, list[Work]] = {"crisis": [], "ordinary": []}
    with tempfile.TemporaryDirectory(prefix="bench-costs-") as tmp:
        settings = get_settings().model_copy(
            update={
                "data_dir": Path(tmp),
                "database_url": "",
                "secret_key": "bench-costs-secret-key",
                "port": free_port(),
                "rasa_port": free_port(),
                "log_level": "WARNING",
                "telegram_token": sink.token,
                "telegram_secret": WEBHOOK_SECRET,
                "telegram_api_url": f"http://127.0.0.1:{sink.port}",
                "contact_rate_messages": 0,
                "outbox_poll_seconds": 600.0,
                "handoff_watch_seconds": 600.0,
            }
        )
        webhook = f"http://127.0.0.1:{settings.port}/webhooks/telegram"
        try:
            async with (
                Stack(settings, start_rasa=True, quiet=True) as runtime,
                httpx.AsyncClient(timeout=60) as client,
            ):
                work = DatabaseWork(runtime.db.engine).start()

                async def message(chat: int, language: str, text: str) -> Work:
                    before = work.now()
                    sent = time.monotonic()
                    await client.post(
                        webhook,
                        json=text_update(next(updates), chat, text, language),
                        headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
                    )
                    while sink.first_after(chat, sent) is None and time.monotonic() - sent < 60:
                        await asyncio.sleep(0.02)
                    quiet = work.now()
                    while True:
                        await asyncio.sleep(QUIET_SECONDS)
                        if work.now() == quiet:
                            return work.since(before)
                        quiet = work.now()

                for _ in range(rounds):
                    for kind, language, text in script:
                        chat = next(chats)
                        await message(chat, language, greeting[language])
                        spent[kind].append(await message(chat, language, text))
                work.stop()
        finally:
            sink.stop()
    result: dict[str, Any] = {}
    for kind, works in spent.items():
        total = sum((w for w in works), Work())
        transactions, statements = total.per(len(works))
        result[kind] = {
            "messages": len(works),
            "transactions": round(transactions, 1),
            "statements": round(statements, 1),
        }
    return result
