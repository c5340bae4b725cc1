"""Retraining from admins' phrases: checked, gated, and a switch that loses no message (requests
wait; exit and delete never do). Training and switching to a real new model: tests/e2e."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fakes.rasa import FakeRasa
from kit import wait_until

from bot.rasa.model import domain_intents
from bot.rasa.retrain import ExampleRefused, Figures, add_example, verdict
from bot.runtime import Runtime
from bot.types import Inbound


def test_gate_blocks_a_crisis_recall_drop_and_a_large_accuracy_drop() -> None:
    before = Figures({"es": 0.94, "fr": 0.90}, {"es": 1.0, "fr": 0.98})
    assert (
        verdict(before, Figures({"es": 0.935, "fr": 0.91}, {"es": 1.0, "fr": 0.98}), 0.01) is None
    )
    assert "crisis recall" in str(
        verdict(before, Figures({"es": 0.95, "fr": 0.95}, {"es": 0.99, "fr": 1.0}), 0.01)
    )
    assert "accuracy" in str(
        verdict(before, Figures({"es": 0.90, "fr": 0.95}, {"es": 1.0, "fr": 1.0}), 0.01)
    )


def test_phrases_are_checked_before_they_are_kept(stack: Runtime) -> None:
    intents = domain_intents()
    with stack.db.session() as s:
        with pytest.raises(ExampleRefused, match="no intent"):
            add_example(s, intents, "make_coffee", "es", "un cafe", "admin")
        with pytest.raises(ExampleRefused, match="already an example"):
            add_example(s, intents, "greet", "es", "hola", "admin")
        s.rollback()


async def test_held_messages_are_answered_after_the_switch(
    stack: Runtime, fake_rasa: FakeRasa
) -> None:
    user = f"held-{uuid.uuid4().hex[:8]}"

    def waiting_at_the_hold() -> bool:
        # A turn waiting for Rasa has written nothing (one unit of work): what can be seen is
        # the client's hold, with a request waiting behind it.
        gate = stack.rasa._open
        return gate is not None and bool(getattr(gate, "_waiters", None))

    parses = fake_rasa.count("/model/parse")
    stack.rasa.hold()
    try:
        task = asyncio.create_task(
            stack.conversations.handle(
                Inbound("telegram", user, "held-1", text="necesito un abogado")
            )
        )
        # A turn runs without pausing until it needs Rasa (no fixed sleep: the condition, bounded).
        await wait_until(waiting_at_the_hold, timeout=10)
        assert not task.done()  # waiting, not failing
        assert fake_rasa.count("/model/parse") == parses  # nothing reached Rasa while held
    finally:
        stack.rasa.release()
    result = await asyncio.wait_for(task, 30)
    assert result.intent == "need_legal"
    assert [r.key for r in result.replies] == [
        "utter_first_contact",
        "utter_language_offer",
        "utter_ask_safe_to_chat",
    ]
    assert fake_rasa.count("/model/parse") == parses + 1


async def test_exit_and_delete_never_wait_behind_a_model_switch(stack: Runtime) -> None:
    await stack.conversations.handle(Inbound("telegram", "switch-exit", "se-1", text="hola"))
    await stack.conversations.handle(Inbound("telegram", "switch-del", "sd-1", text="hola"))
    stack.rasa.hold()
    try:
        exit_ = await asyncio.wait_for(
            stack.conversations.handle(Inbound("telegram", "switch-exit", "se-2", text="SALIR")), 20
        )
        deleted = await asyncio.wait_for(
            stack.conversations.handle(Inbound("telegram", "switch-del", "sd-2", text="BORRAR")), 20
        )
        crisis = await asyncio.wait_for(
            stack.conversations.handle(
                Inbound("telegram", "switch-c", "sc-1", text="me van a matar")
            ),
            20,
        )
    finally:
        stack.rasa.release()
    assert exit_.mode == "closed" and deleted.replies[0].key == "utter_deleted"
    assert crisis.crisis
