"""The limits every PostgreSQL connection gets, from ``BOT_DATABASE_*``; which failures count as
the database being away (tried again later, never an apology); and work on the database threads
(no PostgreSQL needed: the engine is built, never connected)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import make_settings
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.store.db import (
    Database,
    DatabaseLimits,
    DatabaseTimeout,
    make_engine,
    postgres_connect_args,
    unavailable,
)


def test_limits_come_from_the_settings(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        database_connect_timeout=3,
        database_statement_timeout=12.5,
        database_lock_timeout=4,
        database_pool_timeout=6,
        database_threads=3,
        database_loop_timeout=2,
    )
    assert DatabaseLimits.of(settings) == DatabaseLimits(3, 12.5, 4, 6, 3, 2)


def test_postgres_connections_have_timeouts_and_keepalives() -> None:
    args = postgres_connect_args(DatabaseLimits(connect_timeout=1, statement_timeout=12.5))
    assert args["connect_timeout"] == 2  # libpq's minimum; 0 would wait forever
    assert "-c statement_timeout=12500" in args["options"]
    assert "-c lock_timeout=10000" in args["options"]
    assert args["keepalives"] == 1 and args["tcp_user_timeout"] > 0
    engine = make_engine("postgresql://bot@127.0.0.1:1/none", DatabaseLimits(pool_timeout=7))
    assert engine.pool.timeout() == 7  # type: ignore[attr-defined]
    assert engine.pool._pre_ping is False  # no round trip on every checkout
    engine.dispose()


def test_database_failures_are_told_from_our_own() -> None:
    assert unavailable(OperationalError("SELECT 1", {}, Exception("server closed")))
    assert unavailable(PoolTimeout())
    assert unavailable(DatabaseTimeout("no answer"))
    assert not unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not unavailable(ValueError("a bug"))


async def test_work_runs_on_a_database_thread_and_a_timeout_is_a_database_error(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'threads.sqlite3'}", DatabaseLimits(threads=2))
    try:
        loop_thread = threading.get_ident()
        assert await db.call(threading.get_ident) != loop_thread
        assert await db.call(db.run, lambda s: s.execute(text("SELECT 41 + 1")).scalar()) == 42
        with pytest.raises(DatabaseTimeout):
            await db.call(time.sleep, 1, timeout=0.05)
        assert await db.ping(5.0) is True
    finally:
        db.dispose()
