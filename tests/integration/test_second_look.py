"""The model's second look at a crisis phrase found alone (bot/conversation/crisis.py).

A phrase such as "going to kill me" is in the lexicons, and so are idioms that hold it. Before the
numbers go out, the model reads the whole message; when it reads almost no danger, the phrase is
set aside and the message answered as what it says. These tests are about that decision given a
reading (tests/fakes/scripted.py), in every language; what the real model reads is in
tests/e2e/test_second_look.py. The screen, its lexicons and the rest of the turn are real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Iterator

import pytest
from conftest import make_settings
from fakes.scripted import ScriptedRasa, script

from bot.conversation import Conversations
from bot.conversation.crisis import SECOND_LOOK
from bot.rasa.client import Parse
from bot.runtime import Runtime, build_runtime
from bot.store.models import Mode
from bot.types import Inbound, TurnResult

# Everyday complaints that hold a crisis phrase of their language's lexicon.
IDIOM = {
    "en": "my boss is going to kill me, i forgot the report again",
    "es": "la tarea de química me va a matar",
    "pt": "meu chefe vai me matar, esqueci o relatório de novo",
    "fr": "mon chef va me tuer, j'ai encore oublié le rapport",
}
# Signs of forced labour found together (indicators.yml), no single crisis phrase.
SIGNS = {
    "en": "they took my passport and i work every day without pay",
    "es": "me quitaron el pasaporte y trabajo todos los días sin paga",
    "pt": "pegaram meu passaporte e trabalho todo dia sem pagamento",
    "fr": "ils ont pris mon passeport et je travaille tous les jours sans salaire",
}
BAR = 0.15


@pytest.fixture(scope="module")
def runtime(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    settings = make_settings(
        tmp_path_factory.mktemp("second-look"),
        backend,
        crisis_second_look=BAR,
        crisis_second_look_seconds=0.5,
    )
    rt = build_runtime(settings)
    yield rt
    rt.db.dispose()


@pytest.fixture
def rasa(runtime: Runtime) -> Iterator[ScriptedRasa]:
    scripted = script(runtime)
    yield scripted
    runtime.screen.set_lexicon_entries({})


def reads(rasa: ScriptedRasa, danger: float) -> None:
    """The model reads ``danger`` (emergency and self-harm together), the rest out of scope."""
    rasa.intent, rasa.confidence = "out_of_scope", round(1 - danger, 4)
    rasa.others = [("emergency", danger * 0.7), ("self_harm", danger * 0.3)]


async def say(runtime: Runtime, user: str, language: str, text: str) -> TurnResult:
    runtime.conversations.prepare("telegram", user, language, "MX")
    return await runtime.conversations.handle(
        Inbound("telegram", user, f"{user}-{uuid.uuid4().hex}", text=text)
    )


def screened(runtime: Runtime, language: str, text: str) -> bool:
    return runtime.screen.screen(text, language).crisis


@pytest.mark.parametrize("language", list(IDIOM))
async def test_an_idiom_the_model_reads_as_harmless_is_answered_as_what_it_says(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    text = IDIOM[language]
    assert screened(runtime, language, text)  # the phrase alone would give the numbers
    reads(rasa, 0.05)
    result = await say(runtime, f"idiom-{language}", language, text)
    assert not result.crisis
    assert not any(r.key.startswith("utter_crisis") for r in result.replies)
    assert f"set aside: {SECOND_LOOK}" in result.reason
    assert rasa.parsed == [text]  # the look and the understanding share one reading


@pytest.mark.parametrize("language", list(IDIOM))
async def test_the_same_words_with_danger_in_them_give_the_numbers(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    reads(rasa, 0.3)  # above the bar: the phrase decides
    result = await say(runtime, f"danger-{language}", language, IDIOM[language])
    assert result.crisis and result.replies[0].key == "utter_crisis"
    assert "911" in result.replies[0].text  # Mexico's number, first
    assert result.reason.startswith(f"lexicon {language}/crisis:")


@pytest.mark.parametrize("language", list(IDIOM))
async def test_a_slow_model_never_holds_the_numbers_back(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    reads(rasa, 0.05)
    rasa.delay = 2.0  # longer than the look may wait
    result = await say(runtime, f"slow-{language}", language, IDIOM[language])
    assert result.crisis and result.replies[0].key == "utter_crisis"
    assert SECOND_LOOK not in result.reason


@pytest.mark.parametrize("language", list(IDIOM))
async def test_a_model_that_is_down_never_holds_the_numbers_back(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    rasa.down = True
    result = await say(runtime, f"down-{language}", language, IDIOM[language])
    assert result.crisis and result.replies[0].key == "utter_crisis"
    assert "911" in result.replies[0].text


@pytest.mark.parametrize("language", list(SIGNS))
async def test_signs_found_together_are_not_looked_at_again(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    text = SIGNS[language]
    screening = runtime.screen.screen(text, language)
    assert screening.crisis and all(m.combined for m in screening.matches)
    reads(rasa, 0.02)  # the model weighs such signs badly; they stand
    result = await say(runtime, f"signs-{language}", language, text)
    assert result.crisis
    assert SECOND_LOOK not in result.reason


async def test_a_phrase_an_admin_added_is_not_overruled_by_the_model(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    runtime.screen.set_lexicon_entries({"en": {"crisis": ["zorblax quarrel"]}})
    reads(rasa, 0.0)
    result = await say(runtime, "admin-phrase", "en", "there is a zorblax quarrel at the farm")
    assert result.crisis and result.replies[0].key == "utter_crisis"
    assert SECOND_LOOK not in result.reason


async def test_while_a_person_from_the_team_is_involved_the_phrase_decides(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    user = "second-look-live"
    runtime.conversations.prepare("telegram", user, "en", "MX")
    queued = await runtime.conversations.handle(
        Inbound("telegram", user, f"{user}-1", payload="/handoff_yes")
    )
    assert queued.mode == Mode.QUEUED, [r.key for r in queued.replies]
    reads(rasa, 0.01)
    result = await runtime.conversations.handle(
        Inbound("telegram", user, f"{user}-2", text=IDIOM["en"])
    )
    assert result.crisis
    assert SECOND_LOOK not in result.reason


async def test_turned_off_the_phrase_decides_without_asking_the_model(
    runtime: Runtime, rasa: ScriptedRasa, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.settings, "crisis_second_look", 0.0)
    reads(rasa, 0.01)
    result = await say(runtime, "look-off", "en", IDIOM["en"])
    assert result.crisis and result.replies[0].key == "utter_crisis"
    assert rasa.parsed == []  # the numbers never waited for the model


class HeldRasa(ScriptedRasa):
    """A model that never answers the look in time, and says when it is being asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    async def parse(self, text: str) -> Parse:
        self.asked.set()
        await asyncio.sleep(30)
        return await super().parse(text)


async def test_a_look_cut_short_while_the_person_wrote_again_starts_over(
    runtime: Runtime, rasa: ScriptedRasa, caplog: pytest.LogCaptureFixture
) -> None:
    held = HeldRasa()
    runtime.conversations = Conversations(
        dataclasses.replace(runtime.conversations.parts, rasa=held)
    )
    user = "second-look-overtaken"
    runtime.conversations.prepare("telegram", user, "en", "MX")
    first = asyncio.create_task(
        runtime.conversations.handle(Inbound("telegram", user, f"{user}-1", text=IDIOM["en"]))
    )
    await held.asked.wait()  # the look waits, the contact lent meanwhile
    caplog.set_level(logging.INFO, logger="bot.conversation")
    # Signs together are never looked at: this turn uses the contact while the first one waits.
    second = await runtime.conversations.handle(
        Inbound("telegram", user, f"{user}-2", text=SIGNS["en"])
    )
    result = await asyncio.wait_for(first, timeout=60)  # a guard against a hang, not a measure
    assert second.crisis
    # What the first turn read before the wait may be stale: it started over, then its phrase
    # gave the numbers (the model never answered in time).
    assert any(r.getMessage() == "turn starts over" for r in caplog.records)
    assert result.crisis and result.replies[0].key == "utter_crisis"
