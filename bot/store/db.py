"""Engine, sessions and migrations. SQLite by default, PostgreSQL (psycopg 3) by URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
POOL_SIZE = 24
POOL_OVERFLOW = 24


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True
    if "poolclass" not in kwargs:
        # A turn keeps its connection while it waits for Rasa (one unit of work per turn), so
        # the pool must cover every turn in flight: the inbox runs at most 16 at once, urgent
        # ones beside them, plus the console and Rasa's callbacks.
        kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA secure_delete=ON")  # erased rows are overwritten on disk
            cur.close()

    return engine


class Database:
    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A short unit of work: committed on success, rolled back on error."""
        s = self._factory()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """One turn's reads and writes, committed once at the end or not at all.

        Nothing is written before the end (no autoflush): a turn may wait for Rasa in between,
        and a write lock held across that wait would stall every other writer (SQLite has one).
        """
        uow = UnitOfWork(Session(self.engine, autoflush=False, expire_on_commit=False))
        try:
            yield uow
            uow.session.commit()
        except BaseException:
            uow.session.rollback()
            raise
        finally:
            uow.session.close()

    def migrate(self) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection_engine"] = self.engine
        command.upgrade(cfg, "heads")  # independent branches (channels, console) may coexist

    def dispose(self) -> None:
        self.engine.dispose()


class UnitOfWork:
    """A session that knows whether it has written yet, and work to do once it has committed.

    ``before_waiting`` is called before any wait outside the process (Rasa): by then nothing may
    have been written, so no lock is held while the turn waits.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.written = False
        self._after_commit: list[Callable[[], Any]] = []
        event.listen(session, "after_flush", self._wrote)
        event.listen(session, "do_orm_execute", self._executed)

    def _wrote(self, *_args: Any) -> None:
        self.written = True

    def _executed(self, state: Any) -> None:
        if not state.is_select:
            self.written = True

    def before_waiting(self) -> None:
        if self.written:
            raise UnitOfWorkError("a turn wrote to the database before waiting for Rasa")

    def after_commit(self, work: Callable[[], Any]) -> None:
        """Run ``work`` once the turn is committed (erasing trackers, telling the console)."""
        self._after_commit.append(work)

    def take_after_commit(self) -> list[Callable[[], Any]]:
        work, self._after_commit = self._after_commit, []
        return work


class UnitOfWorkError(RuntimeError):
    """A programming error: the turn would hold a write lock while waiting outside the process."""
