"""A second bot process on one PostgreSQL database is refused at start when the two Rasas would
not share one dialogue (no ``BOT_REDIS_URL``, or another Redis), with a message saying what to
set; with the same Redis both run; the row of a process that died (its database session gone) or
stood still (its expiry passed) blocks nobody; SQLite is left to ``SingleProcess``; and
``bot run`` prints the reason.

Processes are ``Processes`` announcements and whole stacks (fake Rasa) in this test process,
each on its own connection, as two processes would be; "another process" that died or hangs is a
row written by hand with the session of a connection this test opens and closes.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import (
    SHARED_REDIS,
    _create_database,
    _drop_database,
    _require_postgres,
    make_settings,
)

from bot.server import Stack, rasa_state
from bot.store.db import Database
from bot.store.leases import AnotherProcess
from bot.store.processes import MEMORY, Processes, UnsharedRasa


@pytest.fixture
def database() -> Iterator[str]:
    _require_postgres()
    url = _create_database()
    db = Database(url)
    db.migrate()
    db.dispose()
    yield url
    _drop_database(url)


@pytest.fixture
def db(database: str) -> Iterator[Database]:
    db = Database(database)
    yield db
    db.dispose()


def announced(db: Database, state: str) -> Processes:
    process = Processes(db, state, lease_seconds=30.0)
    process.join()
    return process


def rows(database: str) -> list[tuple[str, str]]:
    with psycopg.connect(database) as conn:
        return [
            (str(owner), str(state))
            for owner, state in conn.execute("SELECT owner, rasa_state FROM bot_processes")
        ]


def foreign_row(conn: psycopg.Connection[tuple[object, ...]], expires_in: str) -> None:
    """Another process's row, kept alive by ``conn``'s session (as its own heartbeat would)."""
    conn.execute(
        "INSERT INTO bot_processes (owner, host, pid, backend_pid, rasa_state, started_at, "
        "expires_at) VALUES ('123-elsewhere', 'other-host', 123, pg_backend_pid(), 'memory', "
        "timezone('utc', now()), timezone('utc', now()) + %s::interval)",
        (expires_in,),
    )
    conn.commit()


def gone(database: str, session: int) -> None:
    """Wait until the server has ended a closed connection's session (it does so at once, but
    not within the client's close call)."""
    with psycopg.connect(database, autocommit=True) as conn:
        for _ in range(500):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (session,)
            ).fetchone()
            if row == (0,):
                return
            time.sleep(0.01)
    raise AssertionError("the closed session did not end")


def test_a_second_process_without_redis_is_refused(database: str, db: Database) -> None:
    first = announced(db, MEMORY)
    with pytest.raises(UnsharedRasa, match="Set BOT_REDIS_URL") as refused:
        announced(db, MEMORY)
    assert "pid" in str(refused.value) and isinstance(refused.value, AnotherProcess)
    # One with Redis is refused as well: the running one keeps its dialogue in memory.
    shared = rasa_state(make_settings(Path("/nonexistent"), redis_url=SHARED_REDIS))
    with pytest.raises(UnsharedRasa, match="without BOT_REDIS_URL"):
        announced(db, shared)
    assert rows(database) == [(first.owner, MEMORY)]  # a refusal writes nothing
    first.leave()
    second = announced(db, MEMORY)  # free again once the first stopped
    second.leave()
    assert rows(database) == []


def test_processes_sharing_one_redis_both_run(database: str, db: Database) -> None:
    def state(prefix: str = "safeharbour") -> str:
        where = Path("/nonexistent")
        return rasa_state(make_settings(where, redis_url=SHARED_REDIS, redis_key_prefix=prefix))

    one, two = announced(db, state()), announced(db, state())
    assert len(rows(database)) == 2
    # The same server under another key prefix is another dialogue.
    with pytest.raises(UnsharedRasa, match="BOT_REDIS_KEY_PREFIX"):
        announced(db, state("elsewhere"))
    with pytest.raises(UnsharedRasa, match="no BOT_REDIS_URL"):
        announced(db, MEMORY)
    one.renew()  # renewing keeps each row, and never refuses a running process
    two.renew()
    assert len(rows(database)) == 2
    one.leave()
    two.leave()


def test_a_dead_or_lapsed_process_blocks_nobody(database: str, db: Database) -> None:
    # Killed (a crash, SIGKILL): its session is gone with it, its expiry not yet passed. The
    # restart that follows a moment later must not be refused by its own predecessor.
    with psycopg.connect(database) as dead:
        foreign_row(dead, "30 seconds")
        session = dead.info.backend_pid
    gone(database, session)
    restarted = announced(db, MEMORY)
    assert rows(database) == [(restarted.owner, MEMORY)]  # the dead row was cleared
    restarted.leave()
    with psycopg.connect(database) as frozen:
        # Stood still, or its host left the network: the session lingers, the expiry passed.
        foreign_row(frozen, "-1 seconds")
        announced(db, MEMORY).leave()
        # Alive: its session answers and its expiry is ahead. Refused, naming it.
        frozen.execute("DELETE FROM bot_processes")
        foreign_row(frozen, "30 seconds")
        with pytest.raises(UnsharedRasa, match="pid 123 on other-host"):
            announced(db, MEMORY)


def test_a_process_whose_connection_was_lost_announces_itself_again(
    database: str, db: Database
) -> None:
    process = announced(db, MEMORY)
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(backend_pid) FROM bot_processes WHERE owner = %s",
            (process.owner,),
        )
    with pytest.raises(Exception):  # noqa: B017 - whichever error the lost session gives
        process.renew()
    process.renew()  # a fresh connection: the row names its new session
    with psycopg.connect(database) as conn:
        live = conn.execute(
            "SELECT count(*) FROM bot_processes p JOIN pg_stat_activity a ON a.pid = p.backend_pid"
        ).fetchone()
    assert live == (1,)
    process.leave()


async def test_stacks_on_postgresql_refuse_a_second_unshared_one(database: str) -> None:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        first = make_settings(Path(one), database)
        second = make_settings(Path(two), database)
        async with Stack(first, start_rasa=False, quiet=True):
            with pytest.raises(UnsharedRasa, match="BOT_REDIS_URL"):
                async with Stack(second, start_rasa=False, quiet=True):
                    pass
        assert rows(database) == []  # a stopped stack takes its row away
        async with Stack(second, start_rasa=False, quiet=True):
            assert len(rows(database)) == 1


async def test_sqlite_stacks_announce_nothing(tmp_path: Path) -> None:
    async with Stack(make_settings(tmp_path), start_rasa=False, quiet=True) as runtime:
        with runtime.db.session() as s:
            count = s.connection().exec_driver_sql("SELECT count(*) FROM bot_processes")
            assert count.scalar() == 0


def test_bot_run_says_why_it_did_not_start(
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot import cli
    from bot.settings import get_settings

    for name, value in {
        "BOT_DATA_DIR": str(tmp_path),
        "BOT_DATABASE_URL": database,
        "BOT_SECRET_KEY": "k" * 40,
        "BOT_PORT": str(make_settings(tmp_path).port),
        "BOT_CONSOLE_ENABLED": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BOT_REDIS_URL", raising=False)
    get_settings.cache_clear()
    with psycopg.connect(database) as other:
        foreign_row(other, "30 seconds")
        try:
            assert cli.main(["run", "--no-rasa"]) == 1
        finally:
            get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "Not started: another bot process already runs on this database" in err
    assert "Set BOT_REDIS_URL" in err
