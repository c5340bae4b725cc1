"""The routing slots Rasa needs (language, country) reach a tracker that expired in Redis.

With ``BOT_REDIS_URL`` Rasa's trackers expire ``BOT_TRANSCRIPT_TTL_HOURS`` after their last turn,
while the Rasa process (and so ``rasa.instance``) stays the same: the bot must not trust that
slots synced long ago are still there. (A restarted Rasa with trackers in memory is
tests/integration/test_rasa_wait.py's; the real Rasa on Redis is tests/e2e/test_rasa_redis.py's.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Chat, ChatFactory
from fakes.rasa import FakeRasa
from sqlalchemy import select

from bot.conversation.dialogue import RASA_INSTANCE, RASA_SYNCED_AT
from bot.rasa.endpoints import tracker_expiry_seconds
from bot.runtime import Runtime
from bot.store.models import Conversation


@pytest.fixture
def on_redis(stack: Runtime) -> Iterator[Runtime]:
    """The stack as if its Rasa kept trackers in Redis (the fake Rasa stands in for that Rasa:
    only the bot's side is under test here)."""
    stack.settings.redis_url = "redis://127.0.0.1:6379/0"
    try:
        yield stack
    finally:
        stack.settings.redis_url = ""


def slots(fake: FakeRasa, sender: str) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in fake.tracker(sender) if e.get("event") == "slot"}


def sender_of(runtime: Runtime, chat: Chat) -> str:
    contact = runtime.crypto.pseudonym(chat.channel, chat.user)
    with runtime.db.session() as s:
        sender = s.scalar(
            select(Conversation.rasa_sender).where(Conversation.contact_id == contact)
        )
    assert sender is not None
    return sender


def conversation(runtime: Runtime, sender: str) -> Conversation:
    with runtime.db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.rasa_sender == sender))
        assert conv is not None
        s.expunge(conv)
        return conv


def age_sync(runtime: Runtime, sender: str, seconds: int) -> None:
    with runtime.db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.rasa_sender == sender))
        assert conv is not None
        synced = dict(conv.rasa_slots)
        synced[RASA_SYNCED_AT] = int(synced[RASA_SYNCED_AT]) - seconds
        conv.rasa_slots = synced


async def test_slots_go_again_to_a_tracker_that_may_have_expired(
    on_redis: Runtime, fake_rasa: FakeRasa, chat_factory: ChatFactory
) -> None:
    chat = chat_factory()
    chat.prepare(language="es", country="MX")
    await chat.say("necesito un abogado")
    sender_id = sender_of(on_redis, chat)
    assert slots(fake_rasa, sender_id) == {"language": "es", "country": "MX"}
    first = conversation(on_redis, sender_id).rasa_slots
    assert first[RASA_INSTANCE] == on_redis.rasa.instance and first["language"] == "es"

    # Within half the expiry, nothing is sent again: the tracker is certainly there.
    await on_redis.rasa.erase(sender_id)  # (were it gone, the next turn would not notice)
    await chat.say("gracias")
    assert slots(fake_rasa, sender_id) == {}

    # Later than that, Redis may have dropped the tracker: the slots are sent again.
    age_sync(on_redis, sender_id, tracker_expiry_seconds(on_redis.settings) // 2 + 60)
    await chat.say("necesito un abogado")
    resent = slots(fake_rasa, sender_id)
    assert (resent["language"], resent["country"]) == ("es", "MX")
    again = conversation(on_redis, sender_id).rasa_slots
    assert again[RASA_SYNCED_AT] > first[RASA_SYNCED_AT] - 1


async def test_trackers_in_memory_are_trusted_while_their_rasa_runs(
    stack: Runtime, fake_rasa: FakeRasa, chat_factory: ChatFactory
) -> None:
    chat = chat_factory()
    chat.prepare(language="es", country="MX")
    await chat.say("necesito un abogado")
    sender = sender_of(stack, chat)
    age_sync(stack, sender, 10 * tracker_expiry_seconds(stack.settings))
    sent = fake_rasa.count("/tracker/events", "POST")
    await chat.say("necesito un abogado")
    assert fake_rasa.count("/tracker/events", "POST") == sent  # nothing expires in memory
