"""Two bot processes on one PostgreSQL database share the load and answer each message once, in
order; the per-contact lock holds across them; a process's claimed rows are taken over when its
lease lapses; and SQLite refuses a second process with a clear message.

The two "processes" are two complete stacks (server, inbox, outbox, each its own fake Rasa) in
this test process, on one database and one fake Telegram; webhooks alternate between them as a
load balancer would send them. tests/integration/test_outbox.py and bench/chaos.py kill real
processes.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

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
from fakes import free_port, running
from fakes.people import TelegramPerson, count, wait_until
from fakes.telegram import FakeTelegram
from kit import Turns
from sqlalchemy import select

from bot.runtime import Runtime
from bot.server import Stack
from bot.store.channel_models import InboxMessage, OutboxMessage
from bot.store.leases import AnotherProcess, advisory_key

SCRIPT = ("hola", "necesito un abogado", "México", "gracias")
PEOPLE = 8


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    _require_postgres()
    url = _create_database()
    yield url
    _drop_database(url)


@pytest.fixture(scope="module")
async def pair(database: str) -> AsyncIterator[tuple[Runtime, Runtime, FakeTelegram]]:
    api = f"http://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        async with AsyncExitStack() as stacks:
            runtimes = []
            for tmp in (one, two):
                # Two turns at a time each: neither process takes everybody's messages.
                settings = make_settings(
                    Path(tmp),
                    database,
                    telegram_api_url=api,
                    lease_seconds=15.0,
                    inbox_concurrent_turns=2,
                    # Both "Rasas" share their dialogue, as two processes must (never contacted:
                    # the fake Rasa keeps nothing between turns that the bot does not send again).
                    redis_url=SHARED_REDIS,
                )
                wired = await stacks.enter_async_context(wired_stack(settings))
                runtimes.append(wired.runtime)
            a, b = runtimes
            fake: FakeTelegram = running(
                FakeTelegram, urlsplit(api).port or 0, token=a.settings.telegram_token
            )
            yield a, b, fake


def empty(runtime: Runtime) -> bool:
    return count(runtime.db, InboxMessage) + count(runtime.db, OutboxMessage) == 0


async def test_two_processes_answer_each_message_once_in_order(
    pair: tuple[Runtime, Runtime, FakeTelegram],
) -> None:
    a, b, fake = pair
    people = [TelegramPerson(a, fake, "es") for _ in range(PEOPLE)]
    ports = itertools.cycle([a.settings.port, b.settings.port])
    with Turns(a) as on_a, Turns(b) as on_b:
        # Every person's messages arrive at once, alternating between the two processes.
        for text in SCRIPT:
            posts = []
            for person in people:
                person.url = f"http://127.0.0.1:{next(ports)}/webhooks/telegram"
                posts.append(person.post(person.message(text)))
            assert {r.status_code for r in await asyncio.gather(*posts)} == {200}
        await wait_until(lambda: empty(a), timeout=120)
    assert on_a.keys and on_b.keys  # both processes ran turns
    for person in people:
        user = str(person.chat_id)
        turns = on_a.keys.get(user, []) + on_b.keys.get(user, [])
        assert len(turns) == len(SCRIPT)  # each message's turn ran once, on one process
        replies = sum(len(keys) for keys in turns)
        assert len(fake.sent(person.chat_id)) == replies  # each reply sent once
    # The same script, one person at a time on one process: the same replies, in the same order.
    alone = TelegramPerson(a, fake, "es")
    expected = [[m["text"] for m in await alone.say(text)] for text in SCRIPT]
    for person in people:
        assert [m["text"] for m in fake.sent(person.chat_id)] == [
            text for texts in expected for text in texts
        ]


def advisory_locks(contact_id: str) -> int:
    key = advisory_key(contact_id)
    classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    with psycopg.connect(POSTGRES_URL) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid::bigint = %s AND objid::bigint = %s",
            (classid, objid),
        ).fetchone()
    return int(row[0]) if row else 0


async def test_the_contact_lock_holds_across_processes(
    pair: tuple[Runtime, Runtime, FakeTelegram],
) -> None:
    """A staff action under way on one process: the same person's turn on the other waits."""
    a, b, _ = pair
    contact_id = "lock-test-contact"
    entered = asyncio.Event()

    async def other_process() -> None:
        async with b.locks(contact_id):
            entered.set()

    async with a.locks(contact_id):
        assert advisory_locks(contact_id) == 1
        waiter = asyncio.create_task(other_process())
        await asyncio.sleep(0.5)  # many tries of the other process's lock meanwhile
        assert not entered.is_set()
    await asyncio.wait_for(waiter, 30)
    assert entered.is_set()
    assert advisory_locks(contact_id) == 0  # released with the context, not left behind


async def test_a_dead_process_claim_lapses_and_the_row_is_answered_once(
    pair: tuple[Runtime, Runtime, FakeTelegram],
) -> None:
    a, b, fake = pair
    person = TelegramPerson(a, fake, "es")
    with Turns(a) as on_a, Turns(b) as on_b:
        # A process claimed the row and died before answering: the row is stored already
        # claimed (a trigger), as that process left it, with two seconds of lease to run.
        trigger = a.db.engine.connect()
        try:
            trigger.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION claimed() RETURNS trigger AS $$ BEGIN "
                "NEW.lease_owner := 'dead-process'; "
                "NEW.lease_until := now() AT TIME ZONE 'utc' + interval '2 seconds'; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            trigger.exec_driver_sql(
                "CREATE TRIGGER claimed BEFORE INSERT ON inbox_messages "
                "FOR EACH ROW EXECUTE FUNCTION claimed()"
            )
            trigger.commit()
            assert (await person.post(person.message("hola"))).status_code == 200
        finally:
            trigger.exec_driver_sql("DROP TRIGGER IF EXISTS claimed ON inbox_messages")
            trigger.commit()
            trigger.close()
        with a.db.session() as s:
            row = s.scalar(select(InboxMessage).where(InboxMessage.contact_id == person.contact_id))
            assert row is not None and row.lease_owner == "dead-process"
        await wait_until(lambda: empty(a), timeout=60)
    user = str(person.chat_id)
    turns = on_a.keys.get(user, []) + on_b.keys.get(user, [])
    assert turns == [["utter_first_contact", "utter_language_offer", "utter_ask_safe_to_chat"]]
    assert len(fake.sent(person.chat_id)) == 3


async def test_sqlite_refuses_a_second_process(tmp_path: Path) -> None:
    first = make_settings(tmp_path)
    second = make_settings(tmp_path)  # the same data directory, so the same SQLite file
    async with Stack(first, start_rasa=False, quiet=True):
        with pytest.raises(AnotherProcess, match="SQLite serves one bot process only"):
            async with Stack(second, start_rasa=False, quiet=True):
                pass
    async with Stack(second, start_rasa=False, quiet=True):  # free again once the first stopped
        pass
