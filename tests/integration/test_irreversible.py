"""Nothing irreversible on a model's guess: exit and erase happen only on the exact command or an
explicit yes (a tap, its number, or a plain yes word) to the question that asks, in every language.

The model's reading is scripted (tests/fakes/scripted.py) so that these tests are about what the
conversation does with a reading of "exit" or "delete_data", whatever the real model would say.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import make_settings
from fakes.scripted import ScriptedRasa, script
from sqlalchemy import select

from bot.runtime import Runtime, build_runtime
from bot.store.models import Contact, Conversation
from bot.types import Inbound, TurnResult

# Per language: a message the model reads as exit / delete_data, a plain yes and a plain no.
CASES = {
    "en": ("ok i gotta go now ttyl", "my boss deleted my messages", "yes", "no"),
    "es": ("ya me tengo que ir", "quiero borrar mis antecedentes", "sí", "no"),
    "pt": ("tenho que ir agora", "meu chefe apagou minhas mensagens", "sim", "não"),
    "fr": ("bon je dois y aller", "oublie ça", "oui", "non"),
}


@pytest.fixture(scope="module")
def runtime(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = build_runtime(make_settings(tmp_path_factory.mktemp("irreversible"), backend))
    yield rt
    rt.db.dispose()


@pytest.fixture
def rasa(runtime: Runtime) -> ScriptedRasa:
    return script(runtime)


class Person:
    def __init__(self, runtime: Runtime, name: str, language: str) -> None:
        self.rt, self.user, self.n = runtime, name, 0
        runtime.conversations.prepare("telegram", name, language, None)

    async def say(self, text: str | None = None, payload: str | None = None) -> TurnResult:
        self.n += 1
        msg = Inbound("telegram", self.user, f"{self.user}-{self.n}", text=text, payload=payload)
        return await self.rt.conversations.handle(msg)

    def conversations(self) -> int:
        contact_id = self.rt.crypto.pseudonym("telegram", self.user)
        with self.rt.db.session() as s:
            rows = s.scalars(select(Conversation).where(Conversation.contact_id == contact_id))
            return len(list(rows))

    def known(self) -> bool:
        with self.rt.db.session() as s:
            return s.get(Contact, self.rt.crypto.pseudonym("telegram", self.user)) is not None


async def started(runtime: Runtime, rasa: ScriptedRasa, name: str, language: str) -> Person:
    person = Person(runtime, name, language)
    rasa.intent = "greet"
    await person.say("hola")
    return person


@pytest.mark.parametrize("language", list(CASES))
async def test_a_model_exit_asks_and_a_plain_yes_closes(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    leaving, _, yes, _ = CASES[language]
    person = await started(runtime, rasa, f"exit-yes-{language}", language)
    rasa.intent, rasa.confidence = "exit", 0.9
    asked = await person.say(leaving)
    assert [r.key for r in asked.replies] == ["utter_confirm_exit"]
    assert asked.mode == "bot" and "erase_chat" not in asked.extras
    assert person.conversations() == 1 and rasa.erased == []

    rasa.intent = "affirm"
    closed = await person.say(yes)
    assert closed.mode == "closed" and closed.extras.get("erase_chat") is True
    assert person.conversations() == 0 and len(rasa.erased) == 1


@pytest.mark.parametrize("language", list(CASES))
async def test_a_model_delete_asks_and_a_plain_no_keeps_everything(
    runtime: Runtime, rasa: ScriptedRasa, language: str
) -> None:
    _, erasing, _, no = CASES[language]
    person = await started(runtime, rasa, f"delete-no-{language}", language)
    rasa.intent, rasa.confidence = "delete_data", 0.78
    asked = await person.say(erasing)
    assert [r.key for r in asked.replies] == ["utter_confirm_delete"]
    assert [b.payload for b in asked.replies[0].buttons] == ["/delete_confirmed", "/nothing_erased"]

    rasa.intent = "deny"
    kept = await person.say(no)
    assert [r.key for r in kept.replies] == ["utter_nothing_erased"]
    assert person.known() and person.conversations() == 1 and rasa.erased == []


async def test_the_number_of_the_yes_button_erases_everything(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    person = await started(runtime, rasa, "delete-one", "es")
    rasa.intent = "delete_data"
    await person.say("quiero que borren lo mío")
    erased = await person.say("1")
    assert [r.key for r in erased.replies] == ["utter_deleted"]
    assert not person.known()


async def test_a_yes_only_the_model_reads_asks_again(runtime: Runtime, rasa: ScriptedRasa) -> None:
    person = await started(runtime, rasa, "model-yes", "en")
    rasa.intent = "exit"
    await person.say("i should leave")
    rasa.intent = "affirm"  # not a plain yes word: the model's reading alone
    again = await person.say("yes i guess that would be good")
    assert [r.key for r in again.replies] == ["utter_confirm_exit"]
    assert person.conversations() == 1 and rasa.erased == []


async def test_an_old_confirmation_button_does_not_erase(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    person = await started(runtime, rasa, "old-tap", "pt")
    rasa.intent = "delete_data"
    await person.say("apaga tudo por favor agora")
    rasa.intent = "thanks"
    await person.say("obrigada")  # another question or answer came in between
    tapped = await person.say(payload="/delete_confirmed")
    assert [r.key for r in tapped.replies] == ["utter_confirm_delete"]
    assert person.known()


@pytest.mark.parametrize("word", ["EXIT", "salir", "Sair", "QUITTER"])
async def test_the_exact_exit_word_still_closes_at_once(
    runtime: Runtime, rasa: ScriptedRasa, word: str
) -> None:
    person = await started(runtime, rasa, f"word-{word}", "en")
    closed = await person.say(word)
    assert closed.mode == "closed" and person.conversations() == 0


@pytest.mark.parametrize("word", ["DELETE", "borrar", "apagar", "supprimer"])
async def test_the_exact_delete_word_still_erases_at_once(
    runtime: Runtime, rasa: ScriptedRasa, word: str
) -> None:
    person = await started(runtime, rasa, f"del-{word}", "fr")
    erased = await person.say(word)
    assert [r.key for r in erased.replies] == ["utter_deleted"] and not person.known()
