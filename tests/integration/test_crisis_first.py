"""A crisis never waits behind ordinary work: with every turn slot taken by ordinary messages
that wait for a slow Rasa, and more of them queued behind, a crisis message from someone else is
screened, answered and sent first. Ordering and counts, not times: the fake Rasa is made slower
than the bot waits for it, so no ordinary message can be answered while it stays slow (each turn
waits, times out having written nothing, and its message waits in the inbox for another try);
then Rasa recovers and every ordinary message is answered, none lost.

And a crisis from someone whose own previous message is stuck in Rasa is answered first too: the
inbox works on the crisis beside that turn, which lends it the contact (a gated Rasa holds the
turn for as long as the test likes); the stuck message is answered afterwards, once.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from fakes import running
from fakes.gated import gated
from fakes.people import TelegramPerson, settle, wait_until
from fakes.rasa import FakeRasa
from fakes.telegram import FakeTelegram
from kit import Turns

from bot.runtime import Runtime

SLOW_SECONDS = 60.0  # above BOT_RASA_TIMEOUT (8 s): the ordinary turns wait, then give up


@pytest.fixture
def tg(stack: Runtime) -> FakeTelegram:
    port = urlsplit(stack.settings.telegram_api_url).port
    assert port is not None
    fake: FakeTelegram = running(FakeTelegram, port, token=stack.settings.telegram_token)
    return fake


async def test_a_crisis_is_answered_before_ordinary_turns_blocked_on_rasa(
    stack: Runtime, tg: FakeTelegram, fake_rasa: FakeRasa
) -> None:
    slots = stack.settings.inbox_concurrent_turns
    people = [TelegramPerson(stack, tg, "es") for _ in range(slots + 6)]
    in_crisis = TelegramPerson(stack, tg, "es")
    for person in [*people, in_crisis]:  # past their first contact, while Rasa is quick
        await person.say("hola")
    before = {p.chat_id: len(tg.sent(p.chat_id)) for p in people}
    crisis_before = len(tg.sent(in_crisis.chat_id))
    parses = fake_rasa.count("/model/parse")

    with Turns(stack) as turns:
        fake_rasa.fail("slow", path="/model/parse", seconds=SLOW_SECONDS)
        for person in people:
            assert (await person.post(person.message("necesito un abogado"))).status_code == 200
        # Every turn slot is now held by a turn waiting for Rasa; the rest queue behind them.
        await wait_until(lambda: fake_rasa.count("/model/parse") - parses >= slots, timeout=30)

        assert (await in_crisis.post(in_crisis.message("me tienen encerrada"))).status_code == 200
        first = await wait_until(lambda: tg.sent(in_crisis.chat_id)[crisis_before:], timeout=30)
        # Sent before any of the blocked or queued ordinary replies...
        assert all(len(tg.sent(p.chat_id)) == before[p.chat_id] for p in people)
        # ...and it is the crisis answer, numbers first, decided without Rasa.
        assert first[0]["text"]
        assert turns.keys[str(in_crisis.chat_id)][0][0].startswith("utter_crisis")
        fake_rasa.recover()

    # And nothing was lost: every ordinary message is answered once Rasa answers.
    for person in people:
        await settle(stack, person.contact_id, timeout=120)
    await asyncio.sleep(0)
    assert all(len(tg.sent(p.chat_id)) > before[p.chat_id] for p in people)


async def test_a_crisis_overtakes_the_same_persons_message_stuck_in_rasa(
    stack: Runtime, tg: FakeTelegram
) -> None:
    person = TelegramPerson(stack, tg, "es")
    await person.say("hola")  # past the first contact
    original = stack.conversations
    rasa = gated(stack)
    try:
        with Turns(stack) as turns:
            before = len(tg.sent(person.chat_id))
            rasa.shut()
            assert (await person.post(person.message("necesito un abogado"))).status_code == 200
            await asyncio.wait_for(rasa.waiting.wait(), timeout=30)  # a guard, not a measure

            assert (await person.post(person.message("me tienen encerrada"))).status_code == 200
            first = await wait_until(lambda: tg.sent(person.chat_id)[before:], timeout=30)
            assert not rasa.gate.is_set()  # the earlier turn is still held in Rasa
            assert rasa.sent == []
            assert "answer to" not in first[0]["text"]
            assert turns.keys[str(person.chat_id)][0][0].startswith("utter_crisis")

            rasa.open()
            await settle(stack, person.contact_id)
        sent = [m["text"] for m in tg.sent(person.chat_id)[before:]]
        # The stuck message is answered after the crisis, once, from one call to Rasa.
        assert rasa.sent == ["thanks"]
        assert sent.count("answer to thanks") == 1 and sent[-1] == "answer to thanks"
    finally:
        stack.conversations = original


async def test_an_exit_overtakes_the_same_persons_message_stuck_in_rasa_which_goes_unanswered(
    stack: Runtime, tg: FakeTelegram
) -> None:
    person = TelegramPerson(stack, tg, "es")
    await person.say("hola")
    original = stack.conversations
    rasa = gated(stack)
    try:
        before = len(tg.sent(person.chat_id))
        rasa.shut()
        assert (await person.post(person.message("necesito un abogado"))).status_code == 200
        await asyncio.wait_for(rasa.waiting.wait(), timeout=30)

        assert (await person.post(person.message("salir"))).status_code == 200
        await wait_until(lambda: tg.sent(person.chat_id)[before:], timeout=30)
        assert not rasa.gate.is_set()  # the exit did not wait for the stuck turn

        rasa.open()
        # Their next message is handled after the stuck one's turn has ended (in order)...
        await person.say("hola")
        assert rasa.sent == ["thanks", "greet"]  # (a new conversation after the exit)
        # ...and that turn's answer was never sent: nothing is answered after the person left.
        texts = [m.get("text", "") for m in tg.sent(person.chat_id)[before:]]
        assert "answer to thanks" not in texts and "answer to greet" in texts
    finally:
        stack.conversations = original
