"""Retraining from admins' phrases: validated, measured, gated, switched without losing messages."""

from __future__ import annotations

import asyncio

import pytest

from bot.rasa.retrain import ExampleRefused, Figures, Retrainer, add_example, verdict
from bot.runtime import Runtime, domain_intents
from bot.store.content_models import TrainingExample
from bot.types import Inbound

pytestmark = pytest.mark.rasa


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


async def test_held_messages_are_answered_after_the_switch(stack: Runtime) -> None:
    stack.rasa.hold()
    task = asyncio.create_task(
        stack.gateway.handle(Inbound("telegram", "held-user", "held-1", text="necesito un abogado"))
    )
    await asyncio.sleep(0.5)
    assert not task.done()  # waiting, not failing
    stack.rasa.release()
    result = await asyncio.wait_for(task, 30)
    assert result.replies and result.intent != "unavailable"


async def test_a_new_phrase_goes_live_and_is_understood(stack: Runtime, backend: str) -> None:
    if backend:
        pytest.skip("retraining is the same on both databases; measured once, on SQLite")
    intents = domain_intents()
    with stack.db.session() as s:
        for text in ("flumbix", "flumbix por favor", "quiero flumbix ya"):
            add_example(s, intents, "request_human", "es", text, "admin-1")
    before = await stack.rasa.parse("flumbix")
    assert before.intent != "request_human" or before.confidence < 0.5
    result = await Retrainer(stack).retrain(margin=0.02)
    assert result.status == "live", result.reason
    assert set(result.before.accuracy) == {"en", "es", "pt", "fr"}
    after = await stack.rasa.parse("flumbix")
    assert after.intent == "request_human"
    with stack.db.session() as s:
        assert {e.status for e in s.query(TrainingExample)} == {"live"}
    # the gateway still answers, through the new process
    chat = await stack.gateway.handle(Inbound("telegram", "after-switch", "as-1", text="hola"))
    assert chat.replies[0].key == "utter_first_contact"


async def test_exit_and_delete_never_wait_behind_a_model_switch(stack: Runtime) -> None:
    await stack.gateway.handle(Inbound("telegram", "switch-exit", "se-1", text="hola"))
    await stack.gateway.handle(Inbound("telegram", "switch-del", "sd-1", text="hola"))
    stack.rasa.hold()
    try:
        exit_ = await asyncio.wait_for(
            stack.gateway.handle(Inbound("telegram", "switch-exit", "se-2", text="SALIR")), 20
        )
        deleted = await asyncio.wait_for(
            stack.gateway.handle(Inbound("telegram", "switch-del", "sd-2", text="BORRAR")), 20
        )
        crisis = await asyncio.wait_for(
            stack.gateway.handle(Inbound("telegram", "switch-c", "sc-1", text="me van a matar")), 20
        )
    finally:
        stack.rasa.release()
    assert exit_.mode == "closed" and deleted.replies[0].key == "utter_deleted"
    assert crisis.crisis
