"""Who is in danger from whom: "they will kill me" is a threat (crisis wording, emergency first),
"I will kill myself" is self-harm (its own wording), in every language. The lexicons reach words
through their lemmas, and the lemma of "van" (they go) is the lemma of "voy" (I go): a self-harm
phrase reached that way gives way to a crisis phrase matching the words as written."""

from __future__ import annotations

import pytest

from bot.safety.screen import SafetyScreen

THREATS = [
    "me van a matar",
    "van a matarme",
    "si me voy me van a matar",
    "vão me matar",
    "eles vão me matar",
    "ils vont me tuer",
    "il va me tuer",
    "they are going to kill me",
    "he will kill me",
]
SELF_HARM = [
    "me voy a matar",
    "quiero matarme",
    "vou me matar",
    "je vais me tuer",
    "i will kill myself",
    "i want to kill myself",
]


@pytest.fixture(scope="module")
def screen() -> SafetyScreen:
    return SafetyScreen(["en", "es", "pt", "fr"])


@pytest.mark.parametrize("text", THREATS)
def test_a_threat_is_a_crisis_not_self_harm(screen: SafetyScreen, text: str) -> None:
    found = screen.screen(text)
    assert found.crisis and not found.self_harm


@pytest.mark.parametrize("text", SELF_HARM)
def test_self_harm_keeps_its_own_wording(screen: SafetyScreen, text: str) -> None:
    found = screen.screen(text)
    assert found.crisis and found.self_harm
