"""A background loop that fans work out per key (a contact, a chat) and stops gracefully.

The inbox and the outbox share this shape: one polling task, one task per key at most, and on
shutdown the tasks under way get a short grace period before they are cancelled (whatever they
did not finish resumes from the database at the next start).

Two ways work is found, because a scan of the whole table costs a transaction and grows with the
backlog: a *kick* names a key that has new work (a message just stored, replies just queued) and
starts its task without asking the database anything; a *scan* (``_due``) looks at the table,
and runs only when something may be ready that nobody kicked: at start-up, on the poll interval
(other processes, rows left by a crash), when a row's wait ends (a backoff, Rasa away), or when
``rescan()`` says so. Above saturation this keeps a crisis from waiting behind a scan of every
ordinary row that is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class KeyedWorker:
    def __init__(self) -> None:
        self._active: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._kicked: dict[str, bool] = {}  # key -> urgent
        self._next_scan = 0.0  # time.monotonic() of the next scan (0: at once)
        self._loop: asyncio.AbstractEventLoop | None = None  # set by ``start``

    def _set(self, event: asyncio.Event) -> None:
        """Set ``event`` from the event loop or from a database thread (``Database.call`` runs
        claims and commits there, and they may ask for a rescan): an asyncio event is set on
        its own loop only."""
        loop = self._loop
        if loop is None or loop.is_closed():
            event.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def _run(self) -> None:
        raise NotImplementedError

    def kick(self, key: str, urgent: bool = False) -> None:
        """``key`` has new work: start it without a scan (or as soon as its task is done)."""
        self._kicked[key] = self._kicked.get(key, False) or urgent
        self._wake_up()

    def rescan(self, after: float = 0.0) -> None:
        """Look at the whole table again in ``after`` seconds (now, by default)."""
        self._next_scan = min(self._next_scan, time.monotonic() + max(after, 0.0))
        if after <= 0:
            self._wake_up()

    def _wake_up(self) -> None:
        raise NotImplementedError

    def _take_kicks(self) -> list[tuple[str, bool]]:
        """The kicked keys whose task is not running, urgent ones first; a key whose task runs
        stays kicked until that task ends (``_done``), so no kick is lost."""
        ready = [(k, u) for k, u in self._kicked.items() if k not in self._active]
        for key, _ in ready:
            del self._kicked[key]
        return sorted(ready, key=lambda item: not item[1])

    def _scan_due(self) -> bool:
        return time.monotonic() >= self._next_scan

    def _scanned(self, wait: float, failed: bool = False) -> None:
        """A scan happened (it saw every kicked key's work too), or failed: next one in ``wait``."""
        self._next_scan = time.monotonic() + wait
        if not failed:
            self._kicked = {k: u for k, u in self._kicked.items() if k in self._active}

    def _until_scan(self) -> float:
        return max(self._next_scan - time.monotonic(), 0.0)

    def _done(self, key: str) -> None:
        """A key's task ended: start any kicked key that could not start before (its own task
        was running, or every turn slot was taken)."""
        self._active.pop(key, None)
        if any(k not in self._active for k in self._kicked):
            self._wake_up()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
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
