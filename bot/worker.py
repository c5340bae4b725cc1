"""A background loop that fans work out per key (a contact, a chat) and stops gracefully.

The inbox and the outbox share this shape: one polling task, one task per key at most, and on
shutdown the tasks under way get a short grace period before they are cancelled (whatever they
did not finish resumes from the database at the next start).
"""

from __future__ import annotations

import asyncio
import contextlib


class KeyedWorker:
    def __init__(self) -> None:
        self._active: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self, grace: float = 5.0) -> None:
        """Let work under way finish (briefly), then stop; the rest resumes at start-up."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        active = list(self._active.values())
        if active:
            _, late = await asyncio.wait(active, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
