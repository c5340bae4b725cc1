"""With Rasa down, failing or too slow, the safety paths still answer correctly; the rest
apologises with the numbers.

Three ways Rasa fails, made by the fake Rasa of one stack: nothing listens on its port (the
process is gone), it answers HTTP 500, and it answers only after the bot's ``rasa_timeout``.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from conftest import Wired, make_settings, wired_stack
from kit import likely_numbers
from sqlalchemy import select

from bot.runtime import Runtime
from bot.store.models import Contact, Conversation, HandoffRequest
from bot.types import Inbound

TIMEOUT = 0.25  # the bot's rasa_timeout here; the slow fake answers after four times that


@pytest.fixture(scope="module")
async def failing() -> AsyncIterator[Wired]:
    """One stack for the module; each test makes its fake Rasa fail one way."""
    with tempfile.TemporaryDirectory() as tmp:
        async with wired_stack(make_settings(Path(tmp), rasa_timeout=TIMEOUT)) as wired:
            yield wired


@pytest.fixture(params=["down", "error", "slow"])
def runtime(request: pytest.FixtureRequest, failing: Wired) -> Iterator[Runtime]:
    assert failing.fake is not None
    failing.fake.fail(request.param, seconds=4 * TIMEOUT)
    try:
        yield failing.runtime
    finally:
        failing.fake.recover()


async def say(rt: Runtime, user: str, text: str, n: list[int] = [0]) -> list[str]:  # noqa: B006
    """One message from ``user`` (a fresh person for every test: the stack is shared)."""
    n[0] += 1
    result = await rt.conversations.handle(Inbound("telegram", user, f"{user}-{n[0]}", text=text))
    return [r.key for r in result.replies]


@pytest.fixture
def who() -> str:
    return uuid.uuid4().hex[:8]


async def test_first_message_still_gets_the_introduction(runtime: Runtime, who: str) -> None:
    keys = await say(runtime, f"{who}-d1", "hola")
    assert keys == ["utter_first_contact", "utter_language_offer", "utter_ask_safe_to_chat"]


# "They are going to kill me" is a threat from others: the crisis reply, not the self-harm one.
# The lexicons' fuzzy match also finds "me voy a matar" / "vou me matar" (I will kill myself) in
# it, and any self-harm match makes the whole message self-harm (bot/safety/screen.py).
@pytest.mark.parametrize(
    "text,language,key",
    [
        ("me van a matar", "es", "utter_crisis_unknown_country"),
        ("they locked me in", "en", "utter_crisis_unknown_country"),
        ("vão me matar", "pt", "utter_crisis_unknown_country"),
        ("je veux mourir", "fr", "utter_self_harm_unknown_country"),
    ],
)
async def test_crisis(runtime: Runtime, text: str, language: str, key: str) -> None:
    user = f"d-crisis-{uuid.uuid4().hex[:8]}"
    result = await runtime.conversations.handle(Inbound("telegram", user, f"{user}-1", text=text))
    assert result.language == language
    assert result.replies[0].key == key
    # no country known yet: the numbers of the language's likely countries, each named
    assert ", ".join(likely_numbers(runtime, language)) in result.replies[0].text


async def test_exit_and_delete(runtime: Runtime, who: str) -> None:
    await say(runtime, f"{who}-d2", "hola")
    assert await say(runtime, f"{who}-d2", "SALIR") == ["exit_reply"]
    await say(runtime, f"{who}-d3", "hola")
    assert await say(runtime, f"{who}-d3", "BORRAR") == ["utter_deleted"]


async def test_person_is_queued(runtime: Runtime, who: str) -> None:
    await say(runtime, f"{who}-d4", "hello")
    assert await say(runtime, f"{who}-d4", "PERSON") == [
        "utter_handoff_explain",
        "utter_ask_handoff_consent",
    ]
    assert await say(runtime, f"{who}-d4", "1") == ["utter_handoff_no_one"]
    contact_id = runtime.crypto.pseudonym("telegram", f"{who}-d4")
    with runtime.db.session() as s:
        statuses = s.scalars(
            select(HandoffRequest.status)
            .join(Conversation)
            .where(Conversation.contact_id == contact_id)
        ).all()
    assert statuses == ["queued"]


async def test_anything_else_gets_the_fixed_apology(runtime: Runtime, who: str) -> None:
    await say(runtime, f"{who}-d5", "hola")
    keys = await say(runtime, f"{who}-d5", "necesito un abogado")
    assert keys == ["utter_service_unavailable"]
    result = await runtime.conversations.handle(
        Inbound("telegram", f"{who}-d5", f"{who}-d5-x", text="otra cosa")
    )
    assert [r.key for r in result.replies] == ["utter_service_unavailable"]
    with runtime.db.session() as s:
        contact = s.get(Contact, runtime.crypto.pseudonym("telegram", f"{who}-d5"))
        assert contact is not None and contact.country is None
    # in Spanish, with no country known: the likely countries' numbers, each with its country
    named = likely_numbers(runtime, "es")
    assert named[:2] == ["México 911", "Colombia 123"]
    assert ", ".join(named) in result.replies[0].text


def test_no_crash_on_language_command(runtime: Runtime, who: str) -> None:
    # A first message: the introduction first, whatever it asks (A7).
    keys = asyncio.run(say(runtime, f"{who}-d6", "IDIOMA"))
    assert keys == ["utter_first_contact", "utter_language_menu"]
