"""What the conversation does with the crisis decision: the wording for whose danger it is, the
model's crisis share as a second net, and the reason ``bot eval`` shows, in every language.

The model's reading is scripted (tests/fakes/scripted.py): these tests are about the decision
given a reading, whatever the real model would say. The screen and its lexicons are real.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import make_settings
from fakes.scripted import ScriptedRasa, script

from bot.runtime import Runtime, build_runtime
from bot.types import Inbound, TurnResult

OTHERS = {
    "en": "some men took my daughter and she is not answering her phone",
    "es": "se llevaron a mi hija de 13 años y no contesta",
    "pt": "levaram minha filha de 13 anos e ela não atende",
    "fr": "des hommes ont enlevé ma fille de 13 ans et elle ne répond pas",
}
# Words the lexicons do not know, read by the (scripted) model.
PLAIN = {
    "en": "the lady says my mother back home will pay if i talk",
    "es": "la señora dice que mi mamá allá va a pagar si hablo",
    "pt": "a dona diz que minha mãe lá vai pagar se eu falar",
    "fr": "la dame dit que ma mère au pays va payer si je parle",
}


@pytest.fixture(scope="module")
def runtime(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = build_runtime(make_settings(tmp_path_factory.mktemp("decision"), backend))
    yield rt
    rt.db.dispose()


@pytest.fixture
def rasa(runtime: Runtime) -> ScriptedRasa:
    scripted = script(runtime)
    scripted.intent, scripted.confidence = "report_case", 0.9
    return scripted


async def say(runtime: Runtime, user: str, language: str, text: str) -> TurnResult:
    runtime.conversations.prepare("telegram", user, language, "MX")
    return await runtime.conversations.handle(Inbound("telegram", user, f"{user}-1", text=text))


@pytest.mark.parametrize("language", list(OTHERS))
async def test_someone_else_in_danger_gets_the_numbers_worded_for_them(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    result = await say(runtime, f"others-{language}", language, OTHERS[language])
    assert result.crisis and result.intent == "emergency"
    assert result.replies[0].key == "utter_crisis_others"
    assert "911" in result.replies[0].text  # Mexico's number, first
    assert result.reason.startswith(f"lexicon {language}/others:")
    assert rasa.sent == []  # never waited for the model


@pytest.mark.parametrize("language", list(PLAIN))
async def test_the_models_crisis_share_is_a_crisis_whatever_came_first(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    # Danger split between emergency and self-harm, neither first: together they reach the bar.
    rasa.intent, rasa.confidence = "need_labour", 0.4
    rasa.others = [("emergency", 0.35), ("self_harm", 0.2), ("report_case", 0.05)]
    result = await say(runtime, f"share-{language}", language, PLAIN[language])
    assert result.crisis and result.intent == "emergency"
    assert result.replies[0].key == "utter_crisis"
    assert result.reason.startswith("model emergency 0.55, danger 0.55")


@pytest.mark.parametrize("language", list(PLAIN))
async def test_a_crisis_intent_first_but_below_the_bar_is_not_a_crisis(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    rasa.intent, rasa.confidence = "self_harm", 0.4
    rasa.others = [("out_of_scope", 0.35)]
    result = await say(runtime, f"below-{language}", language, PLAIN[language])
    assert not result.crisis
    assert result.reason.startswith("model self_harm 0.40, danger 0.40")


async def test_a_joke_set_aside_by_the_screen_is_left_to_the_model(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    rasa.intent, rasa.confidence = "out_of_scope", 0.8
    result = await say(runtime, "joke", "en", "my boss will kill me if I'm late again lol")
    assert not result.crisis
    assert "(set aside: joke)" in result.reason and result.reason.startswith("model out_of_scope")


async def test_a_tempered_message_needs_a_surer_model(runtime: Runtime, rasa: ScriptedRasa) -> None:
    # "die of shame" is an everyday idiom: 0.6 of danger is not enough there (bar 0.8), though
    # it is for words with no such context (bar 0.5).
    rasa.intent, rasa.confidence = "self_harm", 0.6
    rasa.others = [("out_of_scope", 0.4)]
    idiom = await say(runtime, "tempered-idiom", "en", "I could die of shame, I forgot her name")
    assert not idiom.crisis
    assert idiom.reason == "model self_harm 0.60, danger 0.60 (tempered: idiom)"
    plain = await say(runtime, "tempered-plain", "en", PLAIN["en"])
    assert plain.crisis and plain.reason.startswith("model self_harm 0.60")
    rasa.intent, rasa.confidence = "self_harm", 0.85
    rasa.others = [("out_of_scope", 0.15)]
    surer = await say(runtime, "tempered-surer", "en", "I could die of shame, I forgot her name")
    assert surer.crisis and surer.replies[0].key == "utter_self_harm"


async def test_the_threshold_is_a_setting(tmp_path_factory: pytest.TempPathFactory) -> None:
    rt = build_runtime(make_settings(tmp_path_factory.mktemp("threshold"), crisis_threshold=0.3))
    try:
        rasa = script(rt)
        rasa.intent, rasa.confidence = "need_labour", 0.6
        rasa.others = [("emergency", 0.3)]
        assert (await say(rt, "low-bar", "en", PLAIN["en"])).crisis
    finally:
        rt.db.dispose()


async def test_words_set_aside_get_the_numbers_when_the_model_cannot_read_them(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    rasa.down = True
    joke = await say(runtime, "down-joke", "en", "my boss will kill me if I'm late again lol")
    assert joke.crisis and joke.replies[0].key == "utter_crisis"
    plain = await say(runtime, "down-plain", "en", PLAIN["en"])
    assert not plain.crisis
