"""Urgent database work (a crisis's, an exit's, a delete's) never queues behind ordinary work:
with every ordinary database thread busy, and every connection ordinary work may hold taken, an
urgent call and an urgent unit of work are still served. Events, not times: the ordinary threads
are held until the test lets them go, and the pool's checkout timeout is short, so an urgent
unit of work that had to wait for an ordinary connection fails instead of being slow."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from bot.store.db import POOL_SPARE, Database, DatabaseLimits

LIMITS = DatabaseLimits(threads=2, urgent_threads=1, turns=2, pool_timeout=1.0)


@pytest.fixture
def db(backend: str, tmp_path: Path) -> Iterator[Database]:
    database = Database(backend or f"sqlite:///{tmp_path / 'lane.sqlite3'}", LIMITS)
    yield database
    database.dispose()


async def test_urgent_work_is_served_while_every_ordinary_thread_is_busy(db: Database) -> None:
    release = threading.Event()
    started = threading.Semaphore(0)

    def ordinary() -> None:
        started.release()
        release.wait()

    busy = [asyncio.ensure_future(db.call(ordinary)) for _ in range(LIMITS.threads * 3)]
    for _ in range(LIMITS.threads):  # every ordinary thread is held now; the rest queue
        await asyncio.to_thread(started.acquire)
    try:
        assert await db.call(lambda: "served", urgent=True) == "served"
        async with db.unit_of_work(urgent=True) as uow:
            assert uow.session.execute(text("SELECT 1")).scalar() == 1
        assert not any(task.done() for task in busy)  # ordinary work still waits
    finally:
        release.set()
        await asyncio.gather(*busy)


async def test_urgent_work_finds_a_connection_when_ordinary_work_holds_all_of_its_own(
    db: Database, backend: str
) -> None:
    if not backend:
        pytest.skip("SQLite's file pool is not bounded the same way")
    # Every connection ordinary work can hold at once: a thread each, a turn each (across Rasa),
    # and the spare ones (the event loop, Rasa's callbacks).
    ordinary = LIMITS.threads + LIMITS.turns + POOL_SPARE
    held: list[Connection] = [db.engine.connect() for _ in range(ordinary)]
    try:
        async with db.unit_of_work(urgent=True) as uow:
            assert uow.session.execute(text("SELECT 1")).scalar() == 1
    finally:
        for conn in held:
            conn.close()
    assert db.engine.pool.size() == LIMITS.pool_size() == ordinary + LIMITS.urgent_threads  # type: ignore[attr-defined]
