"""Which bot processes run on a PostgreSQL database, and whether their Rasas share one dialogue.

Each process has a Rasa, and Rasa keeps a tracker per conversation: the last question it asked,
the slots it filled. Without ``BOT_REDIS_URL`` that tracker lives in the Rasa process's memory.
Two bot processes behind one load balancer then hold two trackers per person, and an answer to
"Which country?" asked by one Rasa reaches the other, which never asked it and reads it as the
start of a new dialogue. Nothing fails loudly: people simply get answers that do not follow.

So every ``bot run`` on PostgreSQL announces itself in ``bot_processes`` (host, pid, where its
Rasa keeps its state) and renews the row while it lives. A process is refused at start, with a
message that says what to set, when it would run beside a live one and either of them keeps
Rasa's state in memory, or both keep it in Redis but not in the same place (another server,
database or ``BOT_REDIS_KEY_PREFIX``). SQLite needs none of this: it serves one process
(``SingleProcess`` in ``bot/store/leases.py``).

Why "live" is two things. A row counts while its expiry (renewed every third of
``BOT_LEASE_SECONDS``) has not passed *and* the database session that renews it still exists.
A process killed or crashed loses its session at once (the kernel closes its socket), so the
restart that systemd makes two seconds later is not refused by its own predecessor's row; a host
that vanished from the network keeps a session the server has not noticed yet, and its row
lapses with the expiry. Every time is the database's ``now()``, never one host's clock.

Two processes starting at once are serialised by a transaction-level advisory lock: the second
one sees the first one's row.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from dataclasses import dataclass

from sqlalchemy import Connection, text

from bot.store.db import Database
from bot.store.leases import AnotherProcess, new_owner

log = logging.getLogger("bot.store")

MEMORY = "memory"
# Serialises announcements: a transaction-level advisory lock, released with the transaction.
ANNOUNCE_KEY = int.from_bytes(
    hashlib.blake2b(b"safe-harbour:bot-processes", digest_size=8).digest(), "big", signed=True
)
NOW = "timezone('utc', now())"  # naive UTC, as every other time in the schema
LIVE = (
    f"p.expires_at > {NOW} AND EXISTS "
    "(SELECT 1 FROM pg_stat_activity a WHERE a.pid = p.backend_pid)"
)


def redis_state(host: str, port: int, db: int, prefix: str) -> str:
    """Where a Rasa keeps its trackers in Redis, as a short digest (the password is not part of
    it, and the address is not spelled out in the table)."""
    where = f"{host.lower()}:{port}/{db}/{prefix}".encode()
    return "redis:" + hashlib.sha256(where).hexdigest()[:32]


@dataclass(frozen=True)
class Peer:
    owner: str
    host: str
    pid: int
    rasa_state: str

    def named(self) -> str:
        return f"pid {self.pid} on {self.host}"


class UnsharedRasa(AnotherProcess):
    """A second bot process on one PostgreSQL database whose Rasas would not share a dialogue."""


def refusal(ours: str, others: list[Peer]) -> str | None:
    """Why this process may not run beside ``others`` (live processes), or None."""
    if not others:
        return None
    other = others[0]
    if ours == MEMORY:
        return (
            f"another bot process already runs on this database ({other.named()}), and this "
            "one has no BOT_REDIS_URL: each Rasa would keep its own dialogue in memory, and a "
            "person's answer reaching the other process would be read as a new conversation. "
            "Set BOT_REDIS_URL (and the same BOT_REDIS_KEY_PREFIX) on every bot process and "
            "its Rasa, or stop the other process (docs/deploy.md, Several bot processes)."
        )
    memory = [peer for peer in others if peer.rasa_state == MEMORY]
    if memory:
        return (
            f"another bot process runs on this database without BOT_REDIS_URL "
            f"({memory[0].named()}): its Rasa keeps its dialogue in memory, which this process "
            "cannot share. Set BOT_REDIS_URL on it too and restart it, then start this one "
            "(docs/deploy.md, Several bot processes)."
        )
    elsewhere = [peer for peer in others if peer.rasa_state != ours]
    if elsewhere:
        return (
            f"another bot process on this database ({elsewhere[0].named()}) keeps Rasa's "
            "dialogue in another Redis, Redis database or BOT_REDIS_KEY_PREFIX than this one. "
            "Give every bot process and its Rasa the same BOT_REDIS_URL and "
            "BOT_REDIS_KEY_PREFIX (docs/deploy.md, Several bot processes)."
        )
    return None


class Processes:
    """This process's row in ``bot_processes``: announced by ``join`` (which may refuse), kept
    alive by ``run`` on a connection of its own, removed by ``leave``."""

    def __init__(self, db: Database, rasa_state: str, lease_seconds: float) -> None:
        self.db = db
        self.rasa_state = rasa_state
        self.seconds = max(1.0, lease_seconds)
        self.owner = new_owner()
        self.host = socket.gethostname()[:255]
        self._conn: Connection | None = None

    def join(self) -> None:
        """Announce this process, or raise ``UnsharedRasa`` with what to set."""
        conn = self._connection()
        try:
            problem = self._announce(conn)
        except BaseException:
            self._drop()
            raise
        if problem is not None:
            self._drop()
            raise UnsharedRasa(problem)

    def renew(self) -> None:
        """Push the expiry on (on this process's own session, whose id the row names). A row
        that was gone (this process stood still past its expiry, or the database lost its
        session) is announced again; a process that started meanwhile is logged, not stopped."""
        try:
            conn = self._connection()
            done = conn.execute(
                text(
                    f"UPDATE bot_processes SET expires_at = {NOW} + make_interval(secs => :s), "
                    "backend_pid = pg_backend_pid() WHERE owner = :o"
                ),
                {"s": self.seconds, "o": self.owner},
            )
            conn.commit()
            if done.rowcount == 0 and self._announce(conn, again=True):
                log.error("bot processes without a shared rasa state on one database")
        except Exception:
            self._drop()  # a lost connection: a fresh one (a new session id) next time
            raise

    async def run(self) -> None:
        """Renew every third of the expiry until cancelled (off the event loop)."""
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                await asyncio.to_thread(self.renew)
            except Exception as exc:
                log.warning("process announcement not renewed", extra={"error": type(exc).__name__})

    def leave(self) -> None:
        """Stopping: the row goes at once, so the next start does not even wait for it."""
        try:
            conn = self._connection()
            conn.execute(text("DELETE FROM bot_processes WHERE owner = :o"), {"o": self.owner})
            conn.commit()
        except Exception as exc:
            log.warning("process announcement not removed", extra={"error": type(exc).__name__})
        finally:
            self._drop()

    def _announce(self, conn: Connection, again: bool = False) -> str | None:
        """Under the announcement lock: forget lapsed rows, compare with the live ones, and add
        ours unless refused (``again``: a running process's row that had gone is added anyway).
        Returns the refusal."""
        with conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ANNOUNCE_KEY})
            conn.execute(
                text(f"DELETE FROM bot_processes p WHERE NOT ({LIVE}) AND p.owner <> :o"),
                {"o": self.owner},
            )
            others = [
                Peer(*row)
                for row in conn.execute(
                    text(
                        "SELECT owner, host, pid, rasa_state FROM bot_processes p "
                        "WHERE p.owner <> :o ORDER BY started_at"
                    ),
                    {"o": self.owner},
                )
            ]
            problem = refusal(self.rasa_state, others)
            if problem is not None and not again:
                return problem  # refused: nothing written
            conn.execute(
                text(
                    "INSERT INTO bot_processes (owner, host, pid, backend_pid, rasa_state, "
                    f"started_at, expires_at) VALUES (:o, :h, :p, pg_backend_pid(), :r, {NOW}, "
                    f"{NOW} + make_interval(secs => :s)) ON CONFLICT (owner) DO UPDATE SET "
                    "backend_pid = excluded.backend_pid, expires_at = excluded.expires_at"
                ),
                {
                    "o": self.owner,
                    "h": self.host,
                    "p": os.getpid(),
                    "r": self.rasa_state,
                    "s": self.seconds,
                },
            )
        return problem

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.db.engine.connect()
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()  # never back to the pool: its session names our row
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
