"""The real model in the flows: phrases it was never trained on, through the gateway and Rasa.

The flows themselves run on the fake Rasa in tests/integration/test_flows.py, with exact training
phrases; what only the real model can show is here: nonsense gets the menu, never a guess, and a
held-out phrasing of a need (data/heldout, never trained on) still leads to the services.
"""

from __future__ import annotations

import pytest
from conftest import ChatFactory
from phrases import LANGS, SAY

from bot.types import TurnResult

NONSENSE = {
    "en": "what is the capital of the moon cheese pizza",
    "es": "cual es la capital de la luna pizza queso",
    "pt": "qual e a capital da lua pizza queijo",
    "fr": "quelle est la capitale de la lune pizza fromage",
}
# A need in words of data/heldout: the model has never seen them.
HELD_OUT_SHELTER = ("pt", "preciso de abrigo")


def keys(result: TurnResult) -> list[str]:
    return [r.key for r in result.replies]


@pytest.mark.parametrize("lang", LANGS)
async def test_low_confidence_gets_the_menu_never_a_guess(
    real_chat_factory: ChatFactory, lang: str
) -> None:
    chat = real_chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["yes"])
    result = await chat.say(NONSENSE[lang])
    assert keys(result) == ["utter_not_understood"]
    assert len(result.replies[0].buttons) == 6


async def test_country_question_can_be_skipped_after_a_held_out_phrase(
    real_chat_factory: ChatFactory,
) -> None:
    lang, shelter = HELD_OUT_SHELTER
    chat = real_chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["yes"])
    asked = await chat.say(shelter)
    assert keys(asked) == ["utter_ask_country"]
    skipped = await chat.tap("/skip")
    assert skipped.replies[0].key == "utter_services_intro_any_country"
    assert skipped.replies[-1].key == "utter_offer_human"
