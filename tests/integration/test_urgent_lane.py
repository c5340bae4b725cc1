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


async def test_a_unit_of_work_that_holds_a_lock_commits_while_every_thread_waits_for_it(
    db: Database,
) -> None:
    """A turn that wrote before its end (a handoff drafted) holds the locks its commit releases:
    SQLite's one write lock, or PostgreSQL's row locks. Every database thread may be busy with
    writers waiting for those very locks; the commit must not queue behind them (it did, and
    only SQLite's 30-second busy timeout broke the wait)."""
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS lane_probe"))
        conn.execute(text("CREATE TABLE lane_probe (id INTEGER PRIMARY KEY, n INTEGER)"))
        conn.execute(text("INSERT INTO lane_probe (id, n) VALUES (1, 0)"))
    started = threading.Semaphore(0)

    def writer() -> None:
        started.release()
        with db.session() as s:
            s.execute(text("UPDATE lane_probe SET n = n + 1 WHERE id = 1"))

    writers = LIMITS.threads + LIMITS.urgent_threads
    async with db.unit_of_work() as uow:
        uow.session.execute(text("UPDATE lane_probe SET n = n + 1 WHERE id = 1"))
        waiting = [asyncio.ensure_future(db.call(writer)) for _ in range(LIMITS.threads)]
        waiting += [
            asyncio.ensure_future(db.call(writer, urgent=True))
            for _ in range(LIMITS.urgent_threads)
        ]
        for _ in range(writers):  # every thread is in a writer now, waiting for the lock
            await asyncio.to_thread(started.acquire)
    await asyncio.gather(*waiting)  # none gave up: the commit did not wait for them
    with db.session() as s:
        assert s.execute(text("SELECT n FROM lane_probe WHERE id = 1")).scalar() == 1 + writers


async def test_a_commit_is_under_way_before_other_work_on_the_loop_waits_for_its_lock(
    db: Database,
) -> None:
    """Another turn's write on the event loop (a flush) that comes up right after a turn that
    holds the lock has finished: it waits for that turn's commit, which must already be on its
    thread; had the commit waited for the loop's next turn, the loop would stand still until
    SQLite's busy timeout (PostgreSQL's loop guard) gave up."""
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS lane_probe"))
        conn.execute(text("CREATE TABLE lane_probe (id INTEGER PRIMARY KEY, n INTEGER)"))
        conn.execute(text("INSERT INTO lane_probe (id, n) VALUES (1, 0)"))
    outcome: list[str] = []

    def write_on_the_loop() -> None:
        try:
            with db.session() as s:
                s.execute(text("UPDATE lane_probe SET n = n + 1 WHERE id = 1"))
            outcome.append("written")
        except Exception as exc:
            outcome.append(type(exc).__name__)

    async with db.unit_of_work() as uow:
        uow.session.execute(text("UPDATE lane_probe SET n = n + 1 WHERE id = 1"))
        asyncio.get_running_loop().call_soon(write_on_the_loop)
    while not outcome:
        await asyncio.sleep(0)
    assert outcome == ["written"]
