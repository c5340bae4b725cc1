"""Engine, sessions and migrations. SQLite by default, PostgreSQL (psycopg 3) by URL.

The database is a dependency that can fail: stall (a network black hole), drop every connection
(a failover, a restart) or run out of connections. So, on PostgreSQL:

- every connection is opened with a ``connect_timeout``, a server-side ``statement_timeout`` and
  ``lock_timeout``, TCP keepalives and a ``tcp_user_timeout`` (data the server never acknowledges
  ends the connection instead of waiting for the kernel's quarter of an hour); a checkout waits at
  most ``pool_timeout`` for a free connection (``DatabaseLimits``, from ``BOT_DATABASE_*``);
- no "pre-ping" round trip on every checkout: a connection found dead is invalidated together
  with every other connection of the pool (SQLAlchemy does this on any disconnect error), and
  work that is safe to repeat is tried again once (``Database.run``);
- work of the inbox, the outbox, the webhooks and the health check runs in a bounded pool of
  threads (``Database.call``), so a stalled database stalls only the work that needs it, never
  the event loop (``/healthz/live`` answers, ``/healthz`` tells the truth within its timeout).

A crisis, exit or delete never waits behind ordinary database work: the caller that knows its
work is urgent says so (``urgent=True``), and that work runs on threads of its own
(``BOT_DATABASE_URGENT_THREADS``), with connections the ordinary work cannot take (the pool is
sized for every connection ordinary work may hold at once, plus the urgent threads').

And a unit of work that has written before its end (a handoff request drafted in the turn) holds
its locks, on SQLite the database's one write lock, until it commits: its commit and rollback run
on a thread of their own (``_holding``), never queued behind work that waits for those very
locks. On the shared threads, that queue was a deadlock broken only by SQLite's 30-second busy
timeout: above 30 messages a second every writer, crisis or not, stalled for seconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from bot.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Connections beyond the threads' and the turns': code on the event loop (one at a time, it
# blocks the loop) and Rasa's callbacks. The overflow is for urgent turns, which run on top of the
# inbox's ordinary ones (docs/configuration.md, BOT_DATABASE_URGENT_THREADS).
POOL_SPARE = 4
POOL_OVERFLOW = 20
POOL_RECYCLE_SECONDS = 1800  # older connections are replaced (firewalls forget idle ones)
# TCP keepalives: an idle connection whose peer vanished is noticed within about 25 s.
KEEPALIVES_IDLE, KEEPALIVES_INTERVAL, KEEPALIVES_COUNT = 10, 5, 3
TCP_USER_TIMEOUT_MS = 15_000  # data sent and never acknowledged: the connection is dead

T = TypeVar("T")
log = logging.getLogger("bot.store.db")


@dataclass(frozen=True)
class DatabaseLimits:
    """How long the bot waits for PostgreSQL (seconds; 0 turns a server-side limit off), how
    many threads do database work off the event loop (ordinary, and reserved for urgent work),
    and how many ordinary turns may each hold a connection at once (the inbox's turn slots)."""

    connect_timeout: float = 5.0
    statement_timeout: float = 30.0
    lock_timeout: float = 10.0
    pool_timeout: float = 10.0
    threads: int = 4
    loop_timeout: float = 1.0
    urgent_threads: int = 2
    turns: int = 4

    def pool_size(self) -> int:
        """Every connection ordinary work can hold at once (a thread each, a turn each, the
        event loop's) plus one per urgent thread: however busy the ordinary work, an urgent
        unit of work finds a connection without waiting for an ordinary one to be returned."""
        return self.threads + self.turns + POOL_SPARE + self.urgent_threads

    @classmethod
    def of(cls, settings: Settings) -> DatabaseLimits:
        return cls(
            connect_timeout=settings.database_connect_timeout,
            statement_timeout=settings.database_statement_timeout,
            lock_timeout=settings.database_lock_timeout,
            pool_timeout=settings.database_pool_timeout,
            threads=settings.database_threads,
            loop_timeout=settings.database_loop_timeout,
            urgent_threads=settings.database_urgent_threads,
            turns=settings.inbox_concurrent_turns,
        )


class DatabaseTimeout(SQLAlchemyError):
    """The database did not answer in time (``Database.call``): the caller treats it as any
    other database failure (a webhook answers 503, a row is tried again later)."""


def unavailable(exc: BaseException) -> bool:
    """A failure of the database, not of our code: lost or refused connections, a timeout, the
    pool exhausted. Worth trying again later without counting it against the message."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | PoolTimeout | DatabaseTimeout)


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def postgres_connect_args(limits: DatabaseLimits) -> dict[str, Any]:
    """libpq parameters for every new connection: timeouts, keepalives, server-side limits."""
    options = [
        f"-c statement_timeout={int(limits.statement_timeout * 1000)}",
        f"-c lock_timeout={int(limits.lock_timeout * 1000)}",
    ]
    return {
        # libpq counts whole seconds and treats 1 as 2; 0 would mean "wait forever".
        "connect_timeout": max(2, round(limits.connect_timeout)),
        "keepalives": 1,
        "keepalives_idle": KEEPALIVES_IDLE,
        "keepalives_interval": KEEPALIVES_INTERVAL,
        "keepalives_count": KEEPALIVES_COUNT,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        "options": " ".join(options),
        "application_name": "safe-harbour-bot",
    }


def make_engine(url: str, limits: DatabaseLimits | None = None) -> Engine:
    url = normalise_url(url)
    limits = limits or DatabaseLimits()
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
    elif url.startswith("postgresql"):
        kwargs["connect_args"] = postgres_connect_args(limits)
        kwargs["pool_timeout"] = limits.pool_timeout
        kwargs["pool_recycle"] = POOL_RECYCLE_SECONDS
        kwargs["pool_pre_ping"] = False
    else:
        kwargs["pool_pre_ping"] = True  # another database: the generic safety net
    if "poolclass" not in kwargs:
        # A turn keeps its connection while it waits for Rasa (one unit of work per turn), so
        # the pool must cover every turn in flight (``DatabaseLimits.pool_size``): the inbox's
        # ordinary ones, the database threads, the console and Rasa's callbacks, and the urgent
        # lane on top, so that ordinary work never leaves an urgent turn without a connection.
        kwargs.update(pool_size=limits.pool_size(), max_overflow=POOL_OVERFLOW)
    # An error's text names the statement, never its values (encrypted payloads, pseudonyms):
    # database errors are logged, and nothing a person sent may reach a log.
    engine = create_engine(url, hide_parameters=True, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA secure_delete=ON")  # erased rows are overwritten on disk
            cur.close()

    elif url.startswith("postgresql") and limits.loop_timeout > 0:
        guarded = loop_guarded_connection(limits.loop_timeout)

        @event.listens_for(engine, "do_connect")
        def _guarded_connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            return guarded.connect(*cargs, **cparams)

    return engine


def on_event_loop() -> bool:
    """Whether this thread is running an event loop (a blocking call here stops everything)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def loop_guarded_connection(deadline: float) -> type[Any]:
    """A psycopg connection that gives up on the event loop's thread after ``deadline`` seconds.

    What still runs on the event loop (a turn's reads, the console) must not
    hold it for as long as a stalled database does: libpq has no client-side limit, and
    ``statement_timeout`` is the server's, no help when the server never gets the query. After
    ``deadline`` the connection is closed (its state is unknown) and the caller gets an
    ``OperationalError``, as for any lost connection (the pool is invalidated; a turn waits and
    is tried again). Never a COMMIT: whether one that timed out landed cannot be known, and a
    turn retried after a commit that did land would run twice; it waits as before, bounded by
    ``tcp_user_timeout`` and the keepalives (a turn commits on a database thread:
    ``unit_of_work``). Database threads are not limited here: they wait
    without holding anyone up, and their callers have their own timeouts (``Database.call``).

    One stall is enough to know: after a wait on the loop timed out, the loop does not wait on
    the database again (its reads fail at once, as after the deadline) until a database thread
    gets an answer. Several turns caught by one black hole would otherwise each hold the loop for
    the deadline, one after the other (three turns: 15 s in ``make chaos``).
    """
    import psycopg
    from psycopg.errors import _WaitTimeout

    stalled = threading.Event()  # one per engine: set by a loop's timeout, cleared by an answer

    class LoopGuardedConnection(psycopg.Connection[Any]):
        _committing = False

        @classmethod
        def connect(cls, *args: Any, **kwargs: Any) -> Any:
            """A new connection: refused at once on the loop while the database is stalled (it
            would wait the whole connect timeout), and news that it answers when made."""
            on_loop = on_event_loop()
            if on_loop and stalled.is_set():
                raise psycopg.OperationalError(
                    "the database stalled and has not answered since (event loop)"
                )
            made = super().connect(*args, **kwargs)
            if not on_loop:
                stalled.clear()
            return made

        def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
            on_loop = on_event_loop()
            guard = not self._committing and "timeout" not in kwargs and len(args) < 2 and on_loop
            if not guard:
                answer = super().wait(gen, *args, **kwargs)
                if not on_loop:
                    stalled.clear()  # the database answers again
                return answer
            if stalled.is_set():
                self.close()
                raise psycopg.OperationalError(
                    "the database stalled and has not answered since (event loop)"
                )
            try:
                return super().wait(gen, *args, **{**kwargs, "timeout": deadline})
            except _WaitTimeout:
                stalled.set()
                self.close()
                raise psycopg.OperationalError(
                    f"the database did not answer within {deadline} s (event loop)"
                ) from None

        def commit(self) -> None:
            self._committing = True
            try:
                super().commit()
            finally:
                self._committing = False

    return LoopGuardedConnection


class Database:
    def __init__(self, url: str, limits: DatabaseLimits | None = None) -> None:
        self.url = normalise_url(url)
        self.limits = limits or DatabaseLimits()
        self.engine = make_engine(self.url, self.limits)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self._threads: ThreadPoolExecutor | None = None
        self._urgent_threads: ThreadPoolExecutor | None = None
        self._holding: ThreadPoolExecutor | None = None
        # One shared in-memory connection (tests, `bot chat` without a file) cannot be used
        # from two threads at once: work on it stays on the caller's thread.
        self._inline = isinstance(self.engine.pool, StaticPool)

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

    def run(self, work: Callable[[Session], T], retries: int = 1) -> T:
        """``work`` in a short unit of work, tried again (``retries`` times) if the connection
        turned out to be dead, as after a database restart: the pool was invalidated by the
        first failure, so the next try gets a fresh connection. Only for work that is safe to
        repeat even if the lost connection had committed it (idempotent, or guarded by a key)."""
        attempt = 0
        while True:
            try:
                with self.session() as s:
                    return work(s)
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt >= retries:
                    raise
                attempt += 1
                log.warning("database connection lost, trying again", extra={"attempts": attempt})

    async def call(
        self,
        fn: Callable[..., T],
        *args: Any,
        timeout: float | None = None,
        urgent: bool = False,
    ) -> T:
        """``fn(*args)`` on one of the database threads, so the event loop never waits for the
        database. After ``timeout`` seconds the caller gets ``DatabaseTimeout`` (the thread
        finishes its work on its own, bounded by the statement and TCP timeouts).

        ``urgent``: work for a crisis, exit or delete, on the threads reserved for it, so it
        never queues behind ordinary work that fills the others (a backlog of webhooks, claims
        and commits above saturation, or a slow database)."""
        return await self._on(self._executor(urgent), fn, *args, timeout=timeout)

    async def _on(
        self,
        executor: ThreadPoolExecutor,
        fn: Callable[..., T],
        *args: Any,
        timeout: float | None = None,
    ) -> T:
        if self._inline:
            return fn(*args)
        future = asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args))
        if timeout is None:
            return await future
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise DatabaseTimeout(f"no answer within {timeout} s") from None

    def _executor(self, urgent: bool) -> ThreadPoolExecutor:
        if urgent:
            if self._urgent_threads is None:
                self._urgent_threads = ThreadPoolExecutor(
                    max(self.limits.urgent_threads, 1), thread_name_prefix="db-urgent"
                )
            return self._urgent_threads
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.limits.threads, thread_name_prefix="db")
        return self._threads

    def _holding_thread(self) -> ThreadPoolExecutor:
        """Where a unit of work that holds locks commits: it waits for no lock itself, so work
        here never stalls, and nothing here waits behind work stalled on its locks."""
        if self._holding is None:
            self._holding = ThreadPoolExecutor(2, thread_name_prefix="db-holding")
        return self._holding

    async def ping(self, timeout: float) -> bool:
        """Whether the database answers a query within ``timeout`` seconds."""

        def query() -> None:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await self.call(query, timeout=timeout)
        except Exception as exc:
            log.warning("database not answering", extra={"error": type(exc).__name__})
            return False
        return True

    @asynccontextmanager
    async def unit_of_work(self, urgent: bool = False) -> AsyncIterator[UnitOfWork]:
        """One turn's reads and writes, committed once at the end or not at all.

        Nothing is written before the end (no autoflush): a turn may wait for Rasa in between,
        and a write lock held across that wait would stall every other writer (SQLite has one).
        The connection is taken (and pinged), the commit (with every write of the turn) and the
        clean-up are made on a database thread: a database that hangs when a turn starts or ends
        then holds that turn only, never the loop that answers everyone else and the health
        check that says the database hangs. Reads in between run where the turn runs.

        ``urgent`` (a crisis, exit or delete turn): those three steps on the urgent threads. A
        unit of work that has written already ends on the thread kept for those (module
        docstring): it holds locks that work queued on the other threads may be waiting for."""
        uow = UnitOfWork(Session(self.engine, autoflush=False, expire_on_commit=False))

        def lane() -> ThreadPoolExecutor:
            return self._holding_thread() if uow.written else self._executor(urgent)

        try:
            await self._settled(uow.session.connection, self._executor(urgent))
            yield uow
            await self._settled(uow.session.commit, lane())
        except BaseException:
            with suppress(Exception):  # the first error is the one worth raising
                await self._settled(uow.session.rollback, lane())
            raise
        finally:
            with suppress(Exception):
                await self._settled(uow.session.close, lane())

    async def _settled(self, fn: Callable[[], T], executor: ThreadPoolExecutor) -> T:
        """``fn()`` on a database thread, finished even when the caller is cancelled meanwhile
        (a server stopping): a session is never used by two threads at once.

        Handed to the thread here and now, not by a task that starts at the loop's next turn: a
        session that has written holds SQLite's write lock, and whatever else runs on the loop
        first may write too (a flush waits for that lock, on the loop), which would stop the
        loop until SQLite's 30-second busy timeout with this commit never started."""
        if self._inline:
            return fn()
        work = asyncio.get_running_loop().run_in_executor(executor, fn)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            await asyncio.wait([work])
            raise

    def migrate(self) -> None:
        """Bring the schema up to date. On PostgreSQL through an engine of its own without the
        statement and lock timeouts: a migration of a large table may rightly take longer."""
        engine = self.engine
        if self.url.startswith("postgresql"):
            engine = make_engine(
                self.url, replace(self.limits, statement_timeout=0, lock_timeout=0)
            )
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection_engine"] = engine
        try:
            command.upgrade(cfg, "heads")  # independent branches (channels, console) may coexist
        finally:
            if engine is not self.engine:
                engine.dispose()

    def dispose(self) -> None:
        for threads in (self._threads, self._urgent_threads, self._holding):
            if threads is not None:
                threads.shutdown(wait=False, cancel_futures=True)
        self._threads = self._urgent_threads = self._holding = None
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
