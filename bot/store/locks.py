"""One turn or staff action at a time per contact.

The survivor's turn and a staff member's action on the same conversation must never interleave
(a reply sent while the turn that erases the conversation runs). The lock lives in this process
(``ContactLocks``) or, with several processes on PostgreSQL, also in the database
(``bot/store/leases.py``).

A holder that waits outside the process having written nothing (a turn waiting for Rasa) may
lend the contact out meanwhile (``ContactHold.away``): a crisis from the same person is then
answered at once instead of waiting seconds for a slow Rasa. Whoever comes in meanwhile runs as
usual; the holder, back with the lock, learns that it was lent (``lent``) and starts over from
what is now stored (bot/conversation/turns.py), so nothing interleaves within a turn's writes.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class ContactHold(Protocol):
    """A contact's lock, held."""

    @property
    def lent(self) -> bool:
        """Whether someone else held the contact while this holder was ``away``."""
        ...

    def away(self) -> AbstractAsyncContextManager[None]:
        """Let the contact go while waiting outside the process, and take it back afterwards."""
        ...


class ContactLock(Protocol):
    def __call__(self, contact_id: str) -> AbstractAsyncContextManager[ContactHold]: ...


class _Entry:
    """A contact's lock and how many times it was taken (``ContactHold.lent`` compares)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.taken = 0


class LocalHold:
    """``ContactHold`` for ``ContactLocks``."""

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry
        self.holding = True
        self.lent = False

    @asynccontextmanager
    async def away(self) -> AsyncIterator[None]:
        entry = self._entry
        taken = entry.taken
        entry.lock.release()
        self.holding = False
        try:
            yield
        finally:
            # Taken back even when the wait failed: the holder leaves through its own exit,
            # which lets go of the lock once more. Cancelled while waiting for it: not held, and
            # that exit knows (``holding``).
            await entry.lock.acquire()
            self.holding = True
            self.lent = self.lent or entry.taken != taken


class ContactLocks:
    """An ``asyncio.Lock`` per contact, forgotten once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, _Entry] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def __call__(self, contact_id: str) -> AsyncIterator[LocalHold]:
        entry = self._locks.get(contact_id)
        if entry is None:
            entry = _Entry()
            self._locks[contact_id] = entry
        await entry.lock.acquire()
        entry.taken += 1
        hold = LocalHold(entry)
        try:
            yield hold
        finally:
            if hold.holding:
                entry.lock.release()
