"""PostgreSQL failing under the bot, staged by a real TCP proxy (bench/dbproxy.py): a black hole
is noticed within the health check's timeout without stopping the event loop; connections cut
at once are replaced (no pre-ping); and when the platform accepted a message but the commit that
records it failed, the commit is tried again, never the send.

The proxy runs on the test's event loop, so every database call here goes through
``Database.call`` (a thread), as the bot's own do: one made on the loop would wait for a proxy that
cannot run."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import make_settings
from fakes.people import wait_until
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from bench.dbproxy import DatabaseProxy
from bot.channels.base import Outcome, SendResult
from bot.channels.outbox import Outbox
from bot.store.channel_models import OutboxMessage
from bot.store.crypto import Crypto
from bot.store.db import Database, DatabaseLimits, DatabaseTimeout, unavailable
from bot.store.models import Contact


class LoopTicks:
    """Counts the event loop's 10 ms ticks inside the block: proof that it never stood still."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.ticks += 1

    async def __aenter__(self) -> LoopTicks:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


@pytest.fixture(params=["postgres"])  # the PostgreSQL half of the suite (--databases)
async def proxied(scratch_postgres: str) -> AsyncIterator[tuple[DatabaseProxy, Database]]:
    """A database reached through the proxy, with short limits so faults show quickly."""
    direct = Database(scratch_postgres)
    direct.migrate()
    direct.dispose()
    url = make_url(scratch_postgres)
    proxy = DatabaseProxy(url.host or "127.0.0.1", url.port or 5432)
    port = await proxy.start()
    limits = DatabaseLimits(
        connect_timeout=2, statement_timeout=5, lock_timeout=2, threads=4, loop_timeout=1
    )
    db = Database(url.set(port=port).render_as_string(hide_password=False), limits)
    yield proxy, db
    await proxy.stop()
    db.dispose()


async def test_black_hole_is_seen_by_the_health_check_and_the_loop_keeps_running(
    proxied: tuple[DatabaseProxy, Database],
) -> None:
    proxy, db = proxied
    assert await db.ping(2.0) is True
    proxy.blackhole(30)
    async with LoopTicks() as loop:  # the event loop runs while the database does not answer
        assert await db.ping(0.5) is False
        with pytest.raises(DatabaseTimeout) as caught:
            await db.call(db.run, lambda s: s.execute(text("SELECT 1")), timeout=0.5)
        assert unavailable(caught.value)
    assert loop.ticks > 10
    proxy.blackhole(0)  # the path is back: the stalled work finishes, new work answers
    await wait_until(lambda: not proxy.blackholed, timeout=5)
    assert await db.ping(5.0) is True


async def test_a_call_on_the_event_loop_gives_up_instead_of_stopping_it(
    proxied: tuple[DatabaseProxy, Database],
) -> None:
    """What still runs on the loop (a turn's reads) meets the black hole: after the loop's
    deadline the connection is given up and the caller sees the database as away (the inbox then
    lets the message wait); the pool is replaced when the path is back."""
    proxy, db = proxied
    assert await db.ping(2.0) is True  # a pooled connection, soon stalled
    proxy.blackhole(30)
    with pytest.raises(OperationalError) as caught:
        db.run(lambda s: s.execute(text("SELECT 1")), retries=0)  # on the loop, on purpose
    assert unavailable(caught.value)
    proxy.blackhole(0)
    await wait_until(lambda: not proxy.blackholed, timeout=5)
    assert await db.call(db.run, lambda s: s.execute(text("SELECT 1")).scalar()) == 1


async def test_after_one_stall_the_loop_waits_on_the_database_no_more_until_it_answers(
    proxied: tuple[DatabaseProxy, Database],
) -> None:
    """Several turns caught by one black hole would each hold the loop for its deadline in
    turn: after the first, reads on the loop fail at once, until a database thread gets an
    answer again."""
    proxy, db = proxied
    assert await db.ping(2.0) is True
    proxy.blackhole(30)
    with pytest.raises(OperationalError, match="did not answer within"):
        db.run(lambda s: s.execute(text("SELECT 1")), retries=0)  # on the loop: the deadline
    with pytest.raises(OperationalError, match="has not answered since") as caught:
        db.run(lambda s: s.execute(text("SELECT 1")), retries=0)  # at once
    assert unavailable(caught.value)
    proxy.blackhole(0)
    await wait_until(lambda: not proxy.blackholed, timeout=5)

    async def on_a_loop() -> object:
        return db.run(lambda s: s.execute(text("SELECT 2")).scalar(), retries=0)

    def elsewhere() -> object:
        # An event loop of its own in another thread: this one must keep serving the proxy.
        return asyncio.run(on_a_loop())

    # Still refused on a loop until a thread has heard from the database...
    with pytest.raises(OperationalError, match="has not answered since"):
        await asyncio.to_thread(elsewhere)
    assert await db.call(db.run, lambda s: s.execute(text("SELECT 1")).scalar()) == 1
    # ...and a loop reads again once one has.
    assert await asyncio.to_thread(elsewhere) == 2


async def test_a_turns_unit_of_work_commits_on_a_thread_and_a_black_hole_holds_only_it(
    proxied: tuple[DatabaseProxy, Database],
) -> None:
    """A turn takes its connection and commits on a database thread (``unit_of_work``): the
    proxy runs on this loop, so a commit made on the loop could never pass it. A black hole
    caught at the commit holds that turn until the path is back, and the loop runs meanwhile."""
    proxy, db = proxied
    crypto = Crypto("k" * 32)
    run = uuid.uuid4().hex[:8]
    assert await db.ping(2.0) is True
    async with db.unit_of_work() as uow:  # nothing read on the loop: the writes wait for commit
        uow.session.add(Contact(id=f"{run}-1", channel="telegram", address_enc=crypto.encrypt("1")))
    async with LoopTicks() as loop, db.unit_of_work() as uow:
        uow.session.add(Contact(id=f"{run}-2", channel="telegram", address_enc=crypto.encrypt("2")))
        proxy.blackhole(1.5)  # the path stops between the turn's start and its commit
    assert not proxy.blackholed
    assert loop.ticks > 50  # 1.5 s of a loop that never stood still

    def ids() -> list[str]:
        with db.session() as s:
            return sorted(s.scalars(select(Contact.id).where(Contact.id.startswith(run))))

    assert await db.call(ids) == [f"{run}-1", f"{run}-2"]


async def test_a_turn_that_fails_at_its_commit_is_rolled_back_off_the_loop(
    proxied: tuple[DatabaseProxy, Database],
) -> None:
    """The commit fails (a duplicate key): the caller gets the database's error, and the
    rollback and clean-up run on threads too; the next turn works."""
    proxy, db = proxied
    crypto = Crypto("k" * 32)
    dup, after = uuid.uuid4().hex, uuid.uuid4().hex
    async with db.unit_of_work() as uow:
        uow.session.add(Contact(id=dup, channel="telegram", address_enc=crypto.encrypt("1")))
    with pytest.raises(IntegrityError):
        async with db.unit_of_work() as uow:
            uow.session.add(Contact(id=dup, channel="telegram", address_enc=crypto.encrypt("1")))
    async with db.unit_of_work() as uow:
        uow.session.add(Contact(id=after, channel="telegram", address_enc=crypto.encrypt("2")))
    assert proxy.blackholes == 0


async def test_connections_reset_at_once_are_replaced(
    proxied: tuple[DatabaseProxy, Database],
) -> None:
    proxy, db = proxied

    def fill_pool() -> None:  # several pooled connections, all to be cut
        held = [db.engine.connect() for _ in range(3)]
        for conn in held:
            conn.execute(text("SELECT 1"))
            conn.close()

    def select_one() -> int:
        with db.session() as s:
            return int(s.execute(text("SELECT 1")).scalar_one())

    await db.call(fill_pool)
    proxy.reset()
    # The first use of a dead connection fails and invalidates the pool; run() tries again once.
    assert await db.call(db.run, lambda s: s.execute(text("SELECT 1")).scalar()) == 1
    # The other pooled connections were invalidated with it: no failure left to meet.
    for _ in range(3):
        assert await db.call(select_one) == 1


class CutAfterSend:
    """Accepts every message, then cuts the database's connections and holds new ones for a
    moment: the commit that records the send meets a dead connection."""

    name = "telegram"

    def __init__(self, proxy: DatabaseProxy) -> None:
        self.proxy = proxy
        self.sent: list[str] = []

    def plan(self, replies: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return []

    def address_ok(self, address: str) -> bool:
        return True

    async def send(self, contact_id: str, payload: dict[str, Any]) -> SendResult:
        self.sent.append(payload["text"])
        self.proxy.reset()
        self.proxy.blackhole(1.0)
        return SendResult(Outcome.SENT, message_ids=(str(len(self.sent)),))


async def test_commit_after_a_send_is_tried_again_not_the_send(
    proxied: tuple[DatabaseProxy, Database],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, db = proxied
    caplog.set_level(logging.INFO)
    settings = make_settings(tmp_path, outbox_poll_seconds=0.05, outbox_backoff_seconds=0.01)
    crypto = Crypto(settings.secret_key)
    box = Outbox(SimpleNamespace(db=db, crypto=crypto, settings=settings))
    channel = CutAfterSend(proxy)
    box.channels = {"telegram": channel}  # type: ignore[dict-item]

    def setup() -> None:
        with db.session() as s:
            s.add(Contact(id="a", channel="telegram", address_enc=crypto.encrypt("1")))
            s.flush()
            box.enqueue(s, "a", "telegram", [{"text": "one"}, {"text": "two"}])

    def left() -> int:  # the test's own reads meet the cut connections too: asked again
        try:
            return db.run(lambda s: len(list(s.scalars(select(OutboxMessage)))))
        except OperationalError:
            return -1

    await db.call(setup)
    await box.start()
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while await db.call(left) or len(channel.sent) < 2:
            assert asyncio.get_running_loop().time() < deadline, channel.sent
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # time for a wrong second send to happen
    finally:
        await box.stop()
    assert channel.sent == ["one", "two"]  # each once, in order
    retried = [r for r in caplog.records if r.getMessage() == "outbox commit retried"]
    assert len(retried) >= 2  # both commits met the cut connection and were tried again
    assert box.unrecorded == 0 and box.resent_risk == 0
