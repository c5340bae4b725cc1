"""A crisis never waits behind the same person's turn stuck in Rasa (issue 16).

A turn lends its contact while it waits for Rasa (bot/conversation/lending.py): a crisis from the
same person is answered meanwhile; the waiting turn, overtaken, starts over from what the crisis
left, with Rasa's answer kept (the dialogue gets the intent once). An exit or delete that came
meanwhile withdraws it: nothing is answered after the person left, nothing erased comes back.
Ordering, never times: the gated Rasa holds the turn for as long as the test likes. Real
database, both backends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest
from conftest import make_settings
from fakes.gated import GatedRasa, gated
from sqlalchemy import select

from bot.conversation.lending import TurnWithdrawn
from bot.runtime import Runtime, build_runtime
from bot.store.models import Contact, Conversation, Mode
from bot.types import Inbound, TurnResult


@pytest.fixture(scope="module")
def runtime(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = build_runtime(make_settings(tmp_path_factory.mktemp("lending"), backend))
    yield rt
    rt.db.dispose()


@pytest.fixture
def rasa(runtime: Runtime) -> GatedRasa:
    return gated(runtime)


async def _stuck(
    runtime: Runtime,
    rasa: GatedRasa,
    user: str,
    still_wanted: Callable[[], Awaitable[bool]] | None = None,
) -> asyncio.Task[TurnResult]:
    """``user`` had a first contact; their next message's turn is now held in Rasa."""
    await runtime.conversations.handle(Inbound("telegram", user, f"{user}-1", text="hola"))
    rasa.shut()
    message = Inbound("telegram", user, f"{user}-2", text="gracias por todo")
    task = asyncio.create_task(runtime.conversations.handle(message, still_wanted=still_wanted))
    await rasa.waiting.wait()
    return task


def _open_conversation(runtime: Runtime, user: str) -> Conversation | None:
    contact_id = runtime.crypto.pseudonym("telegram", user)
    with runtime.db.session() as s:
        return s.scalar(
            select(Conversation).where(
                Conversation.contact_id == contact_id, Conversation.mode != Mode.CLOSED
            )
        )


async def test_a_crisis_is_answered_while_the_same_persons_turn_waits_for_rasa(
    runtime: Runtime, rasa: GatedRasa
) -> None:
    user = "lend-crisis"
    ordinary = await _stuck(runtime, rasa, user)

    crisis = await asyncio.wait_for(  # a guard against a hang, not a measure of time
        runtime.conversations.handle(
            Inbound("telegram", user, f"{user}-3", text="me tienen encerrada y no me dejan salir")
        ),
        timeout=60,
    )

    assert not ordinary.done()  # still held in Rasa: the crisis did not wait for it
    assert crisis.crisis and crisis.replies[0].key.startswith("utter_crisis")
    rasa.open()
    result = await ordinary
    # The ordinary message is still answered, by Rasa's one answer (never asked twice), from
    # the state the crisis left: the crisis's writes were not overwritten by a stale turn.
    assert rasa.sent == ["greet", "thanks"]
    assert [r.text for r in result.replies if r.text == "answer to thanks"] == ["answer to thanks"]
    assert not result.duplicate
    conv = _open_conversation(runtime, user)
    assert conv is not None and conv.crisis


async def test_a_turn_nobody_overtook_is_not_run_twice(runtime: Runtime, rasa: GatedRasa) -> None:
    user = "lend-alone"
    ordinary = await _stuck(runtime, rasa, user)
    rasa.open()
    result = await ordinary
    assert rasa.sent == ["greet", "thanks"]
    assert [r.text for r in result.replies] == ["answer to thanks"]


async def test_an_exit_meanwhile_withdraws_the_waiting_turn(
    runtime: Runtime, rasa: GatedRasa
) -> None:
    user = "lend-exit"

    async def gone() -> bool:
        return False  # the inbox: the exit dropped this message's row

    ordinary = await _stuck(runtime, rasa, user, still_wanted=gone)
    left = await runtime.conversations.handle(Inbound("telegram", user, f"{user}-3", text="salir"))
    assert left.replies and not ordinary.done()
    rasa.open()
    with pytest.raises(TurnWithdrawn):
        await ordinary
    assert _open_conversation(runtime, user) is None  # nothing reopened after the exit


async def test_a_delete_meanwhile_stays_erased(runtime: Runtime, rasa: GatedRasa) -> None:
    user = "lend-delete"

    async def gone() -> bool:
        return False

    ordinary = await _stuck(runtime, rasa, user, still_wanted=gone)
    await runtime.conversations.handle(Inbound("telegram", user, f"{user}-3", text="borrar"))
    rasa.open()
    with pytest.raises(TurnWithdrawn):
        await ordinary
    with runtime.db.session() as s:
        assert s.get(Contact, runtime.crypto.pseudonym("telegram", user)) is None
