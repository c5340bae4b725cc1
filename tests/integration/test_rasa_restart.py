"""A Rasa that stopped answering and answers again was restarted, so its trackers may be empty:
the client makes it a new ``instance`` (each conversation sends its slots again) at the first
request that gets an answer, whichever it is (a turn, the health check, ``follow_restarts``'s
poll), on the fake Rasa over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from fakes.rasa import FakeRasa

from bot.net import free_port
from bot.rasa.client import RasaClient, RasaUnavailable
from bot.rasa.process import follow_restarts

TOKEN = "rasa-api-token"


@pytest.fixture
async def pair() -> AsyncIterator[tuple[FakeRasa, RasaClient]]:
    fake = FakeRasa(TOKEN, "http://127.0.0.1:9", "callback-token").serve(free_port())
    client = RasaClient(f"http://127.0.0.1:{fake.port}", TOKEN, timeout=5)
    client.notices_restarts = True  # as ``follow_restarts`` sets it: nobody here restarts Rasa
    yield fake, client
    await client.aclose()
    fake.stop()


async def test_a_rasa_that_comes_back_is_a_new_instance(
    pair: tuple[FakeRasa, RasaClient], caplog: pytest.LogCaptureFixture
) -> None:
    fake, client = pair
    caplog.set_level(logging.WARNING, "bot.rasa.client")
    assert await client.ready()
    assert client.instance == "initial"
    fake.fail("down")
    assert not await client.ready()
    with pytest.raises(RasaUnavailable):
        await client.parse("hello")
    assert client.instance == "initial"  # nobody answered yet
    fake.recover()
    await client.parse("i need a lawyer")  # a turn is the first to see it: it knows at once
    restarted = client.instance
    assert restarted != "initial"
    assert await client.ready() and client.instance == restarted  # once, not at every request
    assert [r.getMessage() for r in caplog.records] == [
        "rasa answers again; slots will be sent again"
    ]


async def test_the_first_start_is_not_a_restart(pair: tuple[FakeRasa, RasaClient]) -> None:
    fake, client = pair
    fake.fail("down")  # still loading its model
    assert not await client.ready()
    fake.recover()
    assert await client.ready()
    assert client.instance == "initial"


async def test_a_supervised_rasa_is_named_by_its_supervisor(
    pair: tuple[FakeRasa, RasaClient],
) -> None:
    fake, client = pair
    client.notices_restarts = False  # ``bot run``: the supervisor restarts Rasa and names it
    assert await client.ready()
    fake.fail("down")
    assert not await client.ready()
    client.instance = "second"
    fake.recover()
    assert await client.ready()
    assert client.instance == "second"


async def test_errors_are_not_a_restart(pair: tuple[FakeRasa, RasaClient]) -> None:
    fake, client = pair
    fake.fail("error", times=2)
    assert not await client.ready()
    with pytest.raises(RasaUnavailable):
        await client.parse("hello")
    assert await client.ready()
    assert client.instance == "initial"  # the same process answered all along


async def test_follow_restarts_sees_a_restart_between_turns(
    pair: tuple[FakeRasa, RasaClient],
) -> None:
    fake, client = pair
    following = asyncio.create_task(follow_restarts(client, check_seconds=0.05))
    try:
        await asyncio.sleep(0.2)
        assert client.instance == "initial"
        fake.fail("down")
        await asyncio.sleep(0.3)
        fake.recover()
        async with asyncio.timeout(10):
            while client.instance == "initial":
                await asyncio.sleep(0.05)
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
