"""Retraining for real: a new phrase trained, measured, gated and switched to, on the real Rasa.

The rest of retraining (the gate, the checks on phrases, holding requests during a switch, exit
and delete never waiting behind one) is about the bot and runs on the fake Rasa, in
tests/integration/test_retrain.py.
"""

from __future__ import annotations

import pytest

from bot.rasa.model import domain_intents
from bot.rasa.retrain import Retrainer, add_example
from bot.runtime import Runtime
from bot.store.content_models import TrainingExample
from bot.types import Inbound


async def test_a_new_phrase_goes_live_and_is_understood(real_stack: Runtime, backend: str) -> None:
    if backend:
        pytest.skip("retraining is the same on both databases; measured once, on SQLite")
    stack = real_stack
    intents = domain_intents()
    with stack.db.session() as s:
        for text in ("flumbix", "flumbix por favor", "quiero flumbix ya"):
            add_example(s, intents, "request_human", "es", text, "admin-1")
    before = await stack.rasa.parse("flumbix")
    assert before.intent != "request_human"  # not understood yet
    result = await Retrainer(stack).retrain(margin=0.02)
    assert result.status == "live", result.reason
    assert set(result.before.accuracy) == {"en", "es", "pt", "fr"}
    after = await stack.rasa.parse("flumbix")
    assert after.intent == "request_human"
    with stack.db.session() as s:
        assert {e.status for e in s.query(TrainingExample)} == {"live"}
    # the gateway still answers, through the new process
    chat = await stack.conversations.handle(
        Inbound("telegram", "after-switch", "as-1", text="hola")
    )
    assert chat.replies[0].key == "utter_first_contact"
