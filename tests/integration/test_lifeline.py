"""The crisis lifeline (bot/channels/lifeline.py): a crisis the database cannot store gets the
numbers from the webhook itself, once per message however often the platform redelivers it, and a
full turn once the database is back. Through the real Telegram webhook into a fake Bot API, on
SQLite and PostgreSQL; the database's failure is staged at the inbox's store (a stall that ends in
the error a statement timeout gives, or an error at once). The once-only record on a real Redis,
shared by two "processes", and what happens without Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from fakes import running
from fakes.people import TelegramPerson, settle, wait_until
from fakes.telegram import FakeTelegram
from phrases import LANGS, NUMBER, SAY, WARM
from sqlalchemy.exc import OperationalError

from bot.channels.inbox import Inbox
from bot.channels.lifeline import SENT_STAMP, Lifeline
from bot.runtime import Runtime
from bot.store.once import MemoryOnce, RedisOnce, make_once

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def tg(stack: Runtime) -> FakeTelegram:
    port = urlsplit(stack.settings.telegram_api_url).port
    assert port is not None
    fake: FakeTelegram = running(FakeTelegram, port, token=stack.settings.telegram_token)
    return fake


def failing_store(seconds: float, calls: list[float]) -> Callable[..., bool]:
    """``Inbox._store`` with the database away: it waits, then fails as a stalled statement
    does. Runs on a database thread, as the real one."""

    def store(self: Inbox, intake: Any, urgent: bool) -> bool:
        calls.append(time.monotonic())
        time.sleep(seconds)
        raise OperationalError("INSERT", {}, Exception("canceling statement due to timeout"))

    return store


@pytest.mark.parametrize("lang", LANGS)
async def test_a_crisis_the_database_cannot_store_gets_the_numbers_at_once(
    stack: Runtime, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    assert stack.settings.crisis_lifeline_seconds < 2.5
    person = TelegramPerson(stack, tg, lang)
    update = person.message(SAY[lang]["crisis"])
    calls: list[float] = []
    monkeypatch.setattr(Inbox, "_store", failing_store(2.5, calls))

    posted = asyncio.ensure_future(person.post(update))
    # The numbers reach the person while the store still waits for the database...
    await wait_until(lambda: tg.sent(person.chat_id), timeout=10)
    assert not posted.done()
    # ...and the platform is still told to deliver again: nothing is lost.
    assert (await posted).status_code == 503
    [lifeline] = tg.sent(person.chat_id)
    assert lifeline["text"].startswith(WARM[lang])
    assert NUMBER.search(lifeline["text"])
    assert len(lifeline["text"]) <= 500

    # Redelivered while the database is still away: not a second time.
    assert (await person.post(update)).status_code == 503
    assert len(calls) == 2 and len(tg.sent(person.chat_id)) == 1

    # The database is back: the redelivery is stored and a turn answers it in full.
    monkeypatch.undo()
    assert (await person.post(update)).status_code == 200
    await settle(stack, person.contact_id)
    answered = tg.sent(person.chat_id)[1:]
    assert answered and any(m["text"].startswith(WARM[lang]) for m in answered)


async def test_a_store_that_fails_at_once_sends_the_numbers_before_the_503(
    stack: Runtime, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = TelegramPerson(stack, tg, "es")
    monkeypatch.setattr(Inbox, "_store", failing_store(0.0, []))
    assert (await person.post(person.message(SAY["es"]["crisis"]))).status_code == 503
    [lifeline] = tg.sent(person.chat_id)
    assert lifeline["text"].startswith(WARM["es"])


async def test_ordinary_messages_and_quick_stores_get_no_lifeline(
    stack: Runtime, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An ordinary message the database cannot store: a 503, nothing sent (the platform retries).
    person = TelegramPerson(stack, tg, "pt")
    monkeypatch.setattr(Inbox, "_store", failing_store(0.0, []))
    assert (await person.post(person.message(SAY["pt"]["hello"]))).status_code == 503
    assert tg.sent(person.chat_id) == []
    # A crisis stored in time: the turn answers, and only the turn (no numbers twice, also not
    # from the watch once its time is up).
    monkeypatch.undo()
    other = TelegramPerson(stack, tg, "pt")
    await other.say(SAY["pt"]["crisis"])
    await asyncio.sleep(2 * stack.settings.crisis_lifeline_seconds + 0.5)
    assert sum(m["text"].startswith(WARM["pt"]) for m in tg.sent(other.chat_id)) == 1


def slow_claims(contact_id: str, seconds: float) -> Callable[..., Any]:
    """``Inbox._claim`` for one contact's rows meeting a database stalled for ``seconds`` from
    now: every claim made meanwhile waits for its end (a second task of the contact too)."""
    real = Inbox._claim
    until = time.monotonic() + seconds

    def claim(self: Inbox, claimed: str, urgent_only: bool = False) -> Any:
        if claimed == contact_id:
            time.sleep(max(0.0, until - time.monotonic()))
        return real(self, claimed, urgent_only)

    return claim


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_a_stored_crisis_whose_turn_is_held_up_gets_the_numbers_meanwhile(
    stack: Runtime, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """Stored just before the database stalled: the turn cannot run, and the numbers go out
    twice BOT_CRISIS_LIFELINE_SECONDS after the message was stored; the turn's full reply when
    the database answers again."""
    person = TelegramPerson(stack, tg, lang)
    wait = 2 * stack.settings.crisis_lifeline_seconds
    monkeypatch.setattr(Inbox, "_claim", slow_claims(person.contact_id, wait + 3.0))
    assert (await person.post(person.message(SAY[lang]["crisis"]))).status_code == 200
    stored = time.monotonic()
    await wait_until(lambda: tg.sent(person.chat_id), timeout=10)
    assert time.monotonic() - stored >= wait - 0.1  # not before its time
    [lifeline] = tg.sent(person.chat_id)
    assert lifeline["text"].startswith(WARM[lang]) and NUMBER.search(lifeline["text"])
    await settle(stack, person.contact_id)
    later = tg.sent(person.chat_id)[1:]
    assert any(m["text"].startswith(WARM[lang]) for m in later)  # the turn, once it could run


async def test_the_exit_word_stops_the_watch(
    stack: Runtime, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person in danger sent the crisis, then the exit word (someone came): nothing more
    goes to them from the lifeline after the exit word, whatever the database does. (On a
    loaded machine the crisis itself may take longer than ``BOT_CRISIS_LIFELINE_SECONDS`` to
    store, and then its numbers rightly go before the exit word is even sent.)"""
    person = TelegramPerson(stack, tg, "es")
    wait = 2 * stack.settings.crisis_lifeline_seconds
    thrown: list[tuple[str, float]] = []
    real = Lifeline.throw

    async def throw(self: Lifeline, channel: Any, intake: Any, screening: Any) -> bool:
        thrown.append((intake.address, time.monotonic()))
        return await real(self, channel, intake, screening)

    monkeypatch.setattr(Lifeline, "throw", throw)
    monkeypatch.setattr(Inbox, "_claim", slow_claims(person.contact_id, wait + 2.0))
    assert (await person.post(person.message(SAY["es"]["crisis"]))).status_code == 200
    exit_sent = time.monotonic()
    assert (await person.post(person.message(SAY["es"]["exit"]))).status_code == 200
    await asyncio.sleep(wait + 0.5)
    await settle(stack, person.contact_id)
    after_exit = [
        at for address, at in thrown if address == str(person.chat_id) and at >= exit_sent
    ]
    assert not after_exit


async def test_a_reply_another_process_sent_stops_the_watch(
    stack: Runtime, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes share the load: this one stored the crisis, the other claimed it and sent
    the reply (stamped in Redis). This one's watch hears of it and sends nothing more."""
    person = TelegramPerson(stack, tg, "pt")
    wait = 2 * stack.settings.crisis_lifeline_seconds
    prefix = f"lifelinetest{time.time_ns()}"
    shared, other = RedisOnce(REDIS_URL, prefix), RedisOnce(REDIS_URL, prefix)
    thrown: list[str] = []
    real_watch, real_throw = Lifeline.watch, Lifeline.throw

    def watch(self: Lifeline, channel: Any, intake: Any, screening: Any) -> None:
        self.once = shared  # this process's lifeline on the shared Redis
        real_watch(self, channel, intake, screening)

    async def throw(self: Lifeline, channel: Any, intake: Any, screening: Any) -> bool:
        thrown.append(intake.address)
        return await real_throw(self, channel, intake, screening)

    monkeypatch.setattr(Lifeline, "watch", watch)
    monkeypatch.setattr(Lifeline, "throw", throw)
    monkeypatch.setattr(Inbox, "_claim", slow_claims(person.contact_id, wait + 2.0))
    try:
        assert (await person.post(person.message(SAY["pt"]["crisis"]))).status_code == 200
        await asyncio.sleep(0.3)
        other.stamp(SENT_STAMP + person.contact_id)  # the other process sent the reply
        await asyncio.sleep(wait + 0.5)
        assert str(person.chat_id) not in thrown
        await settle(stack, person.contact_id)
        assert str(person.chat_id) not in thrown
    finally:
        await shared.close()
        await other.close()


async def test_once_per_message_across_processes_on_redis() -> None:
    one, two = RedisOnce(REDIS_URL, "lifelinetest"), RedisOnce(REDIS_URL, "lifelinetest")
    key = f"k{time.time_ns()}"
    try:
        assert await one.first(key) is True
        assert await two.first(key) is False  # the other process sees it
        await two.forget(key)  # nothing reached the person: a redelivery may try again
        assert await one.first(key) is True
    finally:
        await one.close()
        await two.close()


async def test_stamps_are_shared_through_redis() -> None:
    """What the lifeline's watch asks: when a contact last got an urgent reply, from any
    process. The write goes in the background; the other process reads it from Redis."""
    prefix = f"lifelinetest{time.time_ns()}"
    one, two = RedisOnce(REDIS_URL, prefix), RedisOnce(REDIS_URL, prefix)
    try:
        assert await two.stamped("sent:c") is None
        before = time.time()
        at = one.stamp("sent:c")
        assert before <= at <= time.time()
        await wait_until(lambda: not one._writes, timeout=5)
        assert await two.stamped("sent:c") == pytest.approx(at)
        assert await two.stamped("sent:other") is None
    finally:
        await one.close()
        await two.close()


async def test_redis_away_each_process_decides_alone() -> None:
    once = RedisOnce("redis://127.0.0.1:1/0", "lifelinetest")  # nothing listens there
    try:
        assert await once.first("k") is True
        assert await once.first("k") is False  # remembered here
        at = once.stamp("s")
        assert await once.stamped("s") == at  # the stamp too
    finally:
        await once.close()
    assert isinstance(make_once("", "p"), MemoryOnce)
    assert isinstance(make_once(REDIS_URL, "p"), RedisOnce)
