"""Events across two bot processes on one PostgreSQL database (LISTEN/NOTIFY): what one process
publishes after a commit reaches the other's console streams once, and never twice its own; a
settings change, an approved text and a model switch made in one are acted on by the other; a
lost listening connection comes back and re-reads everything; and a process with another secret
key refuses to start on the database.

The two "processes" are two complete stacks (server, inbox, outbox, relay, each its own fake
Rasa) in this test process, on one real database; each has its own relay connections, exactly as
two processes would.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import psycopg
import pytest
from conftest import (
    POSTGRES_URL,
    SHARED_REDIS,
    _create_database,
    _drop_database,
    _require_postgres,
    make_settings,
    wired_stack,
)
from fakes.people import wait_until

from bot.events import MESSAGES_CHANGED, MODEL_SWITCHED, Event
from bot.runtime import Runtime, build_runtime
from bot.store.content_models import MessageEdit
from bot.store.keys import KeyMismatch
from bot.store.models import utcnow
from bot.store.notify import CHANNEL, RECONNECTED
from bot.store.ops_models import ExitWord


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    _require_postgres()
    url = _create_database()
    yield url
    _drop_database(url)


@pytest.fixture(scope="module")
async def pair(database: str) -> AsyncIterator[tuple[Runtime, Runtime]]:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        async with AsyncExitStack() as stacks:
            runtimes = []
            for tmp in (one, two):
                wired = await stacks.enter_async_context(
                    wired_stack(make_settings(Path(tmp), database, redis_url=SHARED_REDIS))
                )
                runtimes.append(wired.runtime)
            a, b = runtimes
            for runtime in (a, b):
                assert runtime.relay is not None
                await asyncio.wait_for(runtime.relay.listening.wait(), 30)
            yield a, b


async def drain(queue: asyncio.Queue[Event], seconds: float = 1.0) -> list[Event]:
    """Everything the queue receives within ``seconds``."""
    got: list[Event] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            got.append(await asyncio.wait_for(queue.get(), left))
        except TimeoutError:
            break
    return got


async def test_an_event_reaches_the_other_process_once_and_its_own_once(
    pair: tuple[Runtime, Runtime],
) -> None:
    a, b = pair
    event = Event("handoff.requested", "conv-1", {"handoff": "req-1", "language": "es"})
    async with a.events.subscribe() as on_a, b.events.subscribe() as on_b:
        with a.events.held() as held:  # a turn: held until its commit, then delivered
            a.events.publish(event)
            await asyncio.sleep(0.5)
            assert on_a.empty() and on_b.empty()  # nothing before the commit, anywhere
        a.events.deliver(held)
        assert [await asyncio.wait_for(on_b.get(), 10)] == [event]
        assert await drain(on_a) == [event]  # its own notification is not delivered again
        assert await drain(on_b, 0.5) == []


async def test_a_settings_change_in_one_process_is_in_force_in_the_other(
    pair: tuple[Runtime, Runtime],
) -> None:
    a, b = pair
    assert "ZAFIRO" not in b.screen.exit_words.get("es", [])
    with a.db.session() as s:
        s.add(ExitWord(language="es", word="ZAFIRO", folded="zafiro", staff_id=None))
    a.reload_operations()  # what the console calls after the change committed
    assert "ZAFIRO" in a.screen.exit_words["es"]
    await wait_until(lambda: "ZAFIRO" in b.screen.exit_words.get("es", []), timeout=10)


async def test_an_approved_text_in_one_process_is_live_in_the_other(
    pair: tuple[Runtime, Runtime],
) -> None:
    a, b = pair
    key, language = "utter_language_offer", "fr"
    edited = "Je peux écrire en français, en anglais, en espagnol ou en portugais."
    assert b.catalog.text(key, language) != edited
    with a.db.session() as s:
        s.add(
            MessageEdit(
                key=key,
                language=language,
                text=edited,
                status="approved",
                author="admin-1",
                approver="admin-2",
                decided_at=utcnow(),
            )
        )
    a.reload_messages()
    a.events.publish(Event(MESSAGES_CHANGED))  # what the console's editor does after its commit
    assert a.catalog.text(key, language) == edited
    await wait_until(lambda: b.catalog.text(key, language) == edited, timeout=10)


async def test_a_model_switch_reaches_the_other_process(pair: tuple[Runtime, Runtime]) -> None:
    a, b = pair
    seen: list[Event] = []

    async def heard(event: Event) -> None:
        seen.append(event)

    b.events.on(MODEL_SWITCHED, heard)
    a.events.publish(Event(MODEL_SWITCHED, data={"model": "model-0123.tar.gz"}))
    await wait_until(lambda: seen, timeout=10)
    assert seen == [Event(MODEL_SWITCHED, None, {"model": "model-0123.tar.gz"})]


async def test_a_lost_listening_connection_comes_back_and_rereads_everything(
    pair: tuple[Runtime, Runtime],
) -> None:
    a, b = pair
    reread: list[Event] = []

    async def counted(event: Event) -> None:
        reread.append(event)

    b.events.on(RECONNECTED, counted)
    # A database restart, as far as b's listener can tell: its connection is cut.
    with a.db.session() as s:
        s.add(ExitWord(language="pt", word="SAFIRA", folded="safira", staff_id=None))
    database = a.settings.sqlalchemy_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        cut = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND query ILIKE %s",
            (database, f"LISTEN {CHANNEL}%"),
        ).fetchone()
    assert cut is not None and cut[0] == 2  # both processes' listeners
    # Nobody was told about SAFIRA (no event was sent): the reconnection re-reads it.
    await wait_until(lambda: reread, timeout=30)
    await wait_until(lambda: "SAFIRA" in b.screen.exit_words.get("pt", []), timeout=10)
    assert b.relay is not None
    await asyncio.wait_for(b.relay.listening.wait(), 10)
    # And events flow again.
    async with b.events.subscribe() as on_b:
        a.events.publish(Event("presence.changed"))
        assert (await asyncio.wait_for(on_b.get(), 10)).kind == "presence.changed"


async def test_a_process_with_another_secret_key_refuses_to_start(
    pair: tuple[Runtime, Runtime],
) -> None:
    a, _ = pair
    with tempfile.TemporaryDirectory() as tmp:
        # A second host without BOT_SECRET_KEY generates a key of its own in its data folder.
        other = make_settings(Path(tmp), a.settings.sqlalchemy_url, secret_key="")
        with pytest.raises(KeyMismatch) as refused:
            build_runtime(other)
        assert "BOT_SECRET_KEY" in str(refused.value)
        same = make_settings(Path(tmp), a.settings.sqlalchemy_url)  # the shared key: it starts
        runtime = build_runtime(same)
        await runtime.aclose()
