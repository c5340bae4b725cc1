"""What lets several bot processes share one PostgreSQL database, and stops a second one on SQLite.

- ``Lease``: who this process is (an owner id unique to the process) and how long a claim on an
  inbox or outbox row lasts. A row is claimed in a short transaction (``FOR UPDATE SKIP LOCKED``
  on PostgreSQL), then worked on with no transaction open (a turn waits for Rasa, a send waits for
  the platform); the claim is renewed while the process lives, and lapses ``BOT_LEASE_SECONDS``
  after it dies, when another process takes the row over.
- ``SharedContactLocks``: the per-contact lock (``ContactLock``) as a PostgreSQL advisory lock,
  so a survivor's turn on one process and a staff action or the queue watcher on another never
  interleave. It is a session lock on a connection of its own: a process that dies releases it
  with its connection, and no transaction stays open while it is held.
- ``SingleProcess``: SQLite serves one process; a second one on the same file stops at start with
  a clear message instead of answering everything twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from bot.store.db import DatabaseLimits, make_engine
from bot.store.locks import ContactHold, ContactLocks
from bot.store.models import utcnow

log = logging.getLogger("bot.store")

LOCK_POLL_FIRST = 0.005  # seconds between tries for a contact lock another process holds, doubled
LOCK_POLL_MAX = 0.1


def new_owner() -> str:
    """An id for this process's claims: the pid for people reading the table, and random bits so
    a restarted process with the same pid never mistakes its predecessor's claims for its own."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Lease:
    seconds: float = 30.0
    owner: str = field(default_factory=new_owner)

    def until(self, now: dt.datetime | None = None) -> dt.datetime:
        return (now or utcnow()) + dt.timedelta(seconds=self.seconds)

    def held_by_other(self, owner: str | None, until: dt.datetime | None, now: dt.datetime) -> bool:
        """Another process claimed this row and its claim has not lapsed."""
        return owner is not None and owner != self.owner and until is not None and until > now


def advisory_key(contact_id: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``; the prefix keeps contact keys apart from any
    other use of advisory locks on the same database."""
    digest = hashlib.blake2b(b"safe-harbour:contact:" + contact_id.encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _try_lock(conn: Connection, key: int) -> bool:
    held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
    conn.commit()  # no transaction (nor snapshot) stays open while it is held
    return held


def _unlock(conn: Connection, key: int) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    conn.commit()


class SharedContactLocks:
    """One turn or staff action at a time per contact, across every process on the database.

    Waiters of this process queue on the in-process lock first, so they hold no connection while
    they wait; the one at the front then tries the advisory lock (``pg_try_advisory_lock``, never
    the blocking form: the event loop must not stop) until the other process lets it go.

    A holder that lends the contact while it waits for Rasa (``ContactHold.away``) lends the
    in-process lock only: the advisory lock stays with it, so other processes still wait, and
    whoever this process lets in meanwhile finds the contact already held here (``_owned``).
    """

    def __init__(self, url: str, limits: DatabaseLimits | None = None) -> None:
        # Its own pool: each held lock keeps a connection, and the turns' pool must not run dry.
        self.engine: Engine = make_engine(url, limits)
        self._local = ContactLocks()
        self._owned: set[int] = set()  # advisory locks this process holds

    @asynccontextmanager
    async def __call__(self, contact_id: str) -> AsyncIterator[ContactHold]:
        key = advisory_key(contact_id)
        async with self._local(contact_id) as hold:
            if key in self._owned:
                # Its holder here is away (waiting for Rasa) and lent us the contact.
                yield hold
                return
            # Every database call on a thread: a database that stalls stalls this contact's
            # turn, never the event loop (webhooks, health checks and other contacts go on).
            conn = await asyncio.to_thread(self.engine.connect)
            try:
                delay = LOCK_POLL_FIRST
                while not await asyncio.to_thread(_try_lock, conn, key):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, LOCK_POLL_MAX)
                self._owned.add(key)
                try:
                    yield hold
                finally:
                    self._owned.discard(key)
                    try:
                        await asyncio.to_thread(_unlock, conn, key)
                    except Exception:
                        # The lock goes with the connection: never return it to the pool held.
                        log.exception("contact lock release failed")
                        conn.invalidate()
            finally:
                await asyncio.to_thread(conn.close)

    def dispose(self) -> None:
        self.engine.dispose()


class SingleProcess:
    """An exclusive ``flock`` on ``<database>.lock`` for as long as this process runs: the kernel
    drops it when the process ends, however it ends (no stale lock file to clean up)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AnotherProcess(
                f"another bot process already uses {self.path.with_suffix('')}. SQLite serves "
                "one bot process only: stop the other one, or give every process the same "
                "PostgreSQL database (BOT_DATABASE_URL; docs/deploy.md)."
            ) from None
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AnotherProcess(RuntimeError):
    """A second bot process on one SQLite database."""
