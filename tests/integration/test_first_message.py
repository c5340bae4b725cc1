"""A new conversation always learns first what this is (A7): an automated chat, the exit word and
the emergency number, whatever the first message asks for, in every language."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import make_settings
from fakes.scripted import ScriptedRasa, script

from bot.runtime import Runtime, build_runtime
from bot.types import Inbound, TurnResult


@pytest.fixture(scope="module")
def runtime(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = build_runtime(make_settings(tmp_path_factory.mktemp("first"), backend))
    yield rt
    rt.db.dispose()


@pytest.fixture
def rasa(runtime: Runtime) -> ScriptedRasa:
    return script(runtime)


async def first(runtime: Runtime, user: str, text: str, hint: str) -> TurnResult:
    msg = Inbound("telegram", user, f"{user}-1", text=text, language_hint=hint)
    return await runtime.conversations.handle(msg)


@pytest.mark.parametrize(
    ("lang", "word"), [("en", "person"), ("es", "persona"), ("pt", "pessoa"), ("fr", "personne")]
)
async def test_asking_for_a_person_first_gets_the_introduction_first(
    runtime: Runtime, rasa: ScriptedRasa, lang: str, word: str
) -> None:
    result = await first(runtime, f"first-person-{lang}", word, lang)
    assert [r.key for r in result.replies] == [
        "utter_first_contact",
        "utter_handoff_explain",
        "utter_ask_handoff_consent",
    ]
    assert result.language == lang


@pytest.mark.parametrize("lang", ["en", "es", "pt", "fr"])
async def test_a_model_read_request_for_a_person_gets_the_introduction_first(
    runtime: Runtime, rasa: ScriptedRasa, lang: str
) -> None:
    rasa.intent = "request_human"
    result = await first(runtime, f"first-human-{lang}", "can i talk to someone real", lang)
    keys = [r.key for r in result.replies]
    assert keys[0] == "utter_first_contact" and keys[1:] == [
        "utter_handoff_explain",
        "utter_ask_handoff_consent",
    ]


async def test_the_introduction_comes_once(runtime: Runtime, rasa: ScriptedRasa) -> None:
    rasa.intent = "greet"
    result = await first(runtime, "first-hola", "hola", "es")
    assert [r.key for r in result.replies].count("utter_first_contact") == 1


async def test_a_crisis_first_gets_the_numbers_then_the_introduction(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    result = await first(runtime, "first-crisis", "me tienen encerrada", "es")
    keys = [r.key for r in result.replies]
    assert keys[0].startswith("utter_crisis") and keys[1].startswith("utter_first_contact")
    assert len(keys) == 2  # the numbers once, the introduction without them


async def test_leaving_first_gets_no_introduction(runtime: Runtime, rasa: ScriptedRasa) -> None:
    result = await first(runtime, "first-exit", "SALIR", "es")
    assert "utter_first_contact" not in [r.key for r in result.replies]
