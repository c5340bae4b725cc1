"""One turn or staff action at a time per contact.

The survivor's turn and a staff member's action on the same conversation must never interleave
(a reply sent while the turn that erases the conversation runs). Today the lock lives in this
process, which is why one bot process serves one database (docs/deploy.md); the port below is
what a lock shared across processes would implement.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class ContactLock(Protocol):
    def __call__(self, contact_id: str) -> AbstractAsyncContextManager[None]: ...


class ContactLocks:
    """An ``asyncio.Lock`` per contact, forgotten once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def __call__(self, contact_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(contact_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[contact_id] = lock
        async with lock:
            yield
