"""The deterministic safety layer: lexicons, idiom vetoes, control commands (no Rasa needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.safety.check import evaluate
from bot.safety.commands import Command, CommandMatcher
from bot.safety.lexicon import Lexicons, PhraseList, Word, read_lines
from bot.safety.text import fold, fold_command

LANGS = ["en", "es", "pt", "fr"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lexicons() -> Lexicons:
    return Lexicons(LANGS)


@pytest.mark.parametrize("lang", LANGS)
def test_lexicons_are_large_enough(lang: str) -> None:
    base = ROOT / "bot" / "safety" / "lexicons" / lang
    assert len(read_lines(base / "crisis.txt")) >= 50
    assert len(read_lines(base / "self_harm.txt")) >= 50


@pytest.mark.parametrize("lang", LANGS)
def test_safety_set_has_enough_cases(lang: str) -> None:
    data = yaml.safe_load((ROOT / "eval" / "safety" / f"{lang}.yml").read_text())
    assert len(data["crisis"]) >= 50
    assert len(data["not_crisis"]) >= 50


@pytest.mark.parametrize("lang", LANGS)
def test_lexicon_recall_and_false_crisis_rate(lexicons: Lexicons, lang: str) -> None:
    report = evaluate(lexicons, lang)
    recall, false_rate = report["recall"], report["false_crisis_rate"]
    assert isinstance(recall, float) and isinstance(false_rate, float)
    assert recall >= 0.98, report["missed"]
    assert false_rate <= 0.03, report["false_hits"]


@pytest.mark.parametrize(
    "text",
    [
        "me tienen encerrada",
        "me tienen encerrado",
        "me tienen encerada",  # a typo
        "ME TIENEN ENCERRADA!!!",
        "eles me trancaram aqui",
        "ils m'ont enfermée",
        "they locked me in",
        "quiero morirme",
        "SOS",
    ],
)
def test_variants_hit(lexicons: Lexicons, text: str) -> None:
    assert lexicons.scan(text), text


@pytest.mark.parametrize(
    "text",
    [
        "me muero de risa",
        "this heat is killing me",
        "estoy muerta de cansancio",
        "vos sos muy amable",
        "hola buenas tardes",
        "i need a lawyer",
    ],
)
def test_everyday_phrases_do_not_hit(lexicons: Lexicons, text: str) -> None:
    assert not lexicons.scan(text), lexicons.scan(text)


def test_safety_never_depends_on_the_language(lexicons: Lexicons) -> None:
    # A Spanish crisis is caught even when the conversation is in English: all lexicons run.
    # (The module's lexicons are those of the four languages, as the gateway's are.)
    assert {m.language for m in lexicons.scan("me van a matar")} >= {"es"}


@pytest.mark.parametrize(
    "typed,command,lang",
    [
        ("EXIT", Command.EXIT, "en"),
        ("salir", Command.EXIT, "es"),
        ("Sair.", Command.EXIT, "pt"),
        ("/quitter", Command.EXIT, "fr"),
        ("BORRAR", Command.DELETE, "es"),
        ("apagar meus dados", Command.DELETE, "pt"),
        ("supprimer", Command.DELETE, "fr"),
        ("PERSON", Command.PERSON, "en"),
        ("persona", Command.PERSON, "es"),
        ("menú", Command.MENU, None),
        ("privacidad", Command.PRIVACY, "es"),
        ("VOLVER", Command.BACK, "es"),
        ("pause", Command.PAUSE, None),
    ],
)
def test_commands(typed: str, command: Command, lang: str | None) -> None:
    hit = CommandMatcher().match(typed)
    assert hit is not None and hit.command is command
    if lang:
        assert hit.language == lang


def test_language_names_switch_language() -> None:
    hit = CommandMatcher().match("Português")
    assert hit is not None and hit.command is Command.LANGUAGE and hit.choose_language == "pt"


def test_commands_only_match_whole_messages() -> None:
    assert CommandMatcher().match("i want to exit this job") is None


def test_extra_exit_words_are_configurable() -> None:
    hit = CommandMatcher(["mangos"]).match("Mangos")
    assert hit is not None and hit.command is Command.EXIT


def test_folding() -> None:
    assert fold("Está ÇA") == "esta ca"
    assert fold_command("  ¡Salir! ") == "salir"


def test_compiled_matcher_agrees_with_the_reference_rules(lexicons: Lexicons) -> None:
    """The indexed matcher is an optimisation: it must find exactly what the plain rules find."""
    from bot.safety.lexicon import _word_matches

    def reference(plist: PhraseList, words: list[Word]) -> set[str]:
        found: set[str] = set()
        for phrase in plist.phrases:
            for start in range(1 if phrase.whole else len(words)):

                def rec(
                    i: int, j: int, items: tuple[Word | None, ...] = phrase.items
                ) -> int | None:
                    if i == len(items):
                        return j
                    item = items[i]
                    if item is None:
                        for skip in range(4):
                            end = rec(i + 1, j + skip, items)
                            if end is not None:
                                return end
                        return None
                    if j < len(words) and _word_matches(item, words[j]):
                        return rec(i + 1, j + 1, items)
                    return None

                end = rec(0, start)
                if end is not None and (not phrase.whole or end == len(words)):
                    found.add(phrase.source)
                    break
        return found

    texts = []
    for lang in LANGS:
        data = yaml.safe_load((ROOT / "eval" / "safety" / f"{lang}.yml").read_text())
        texts += data["crisis"][:15] + data["not_crisis"][:15]
    for lex in lexicons.by_language.values():
        for text in texts:
            words = lex.analyzer.words(text)
            for plist in lex.lists.values():
                fast = {p.source for p, _, _ in plist.find(words)}
                assert fast == reference(plist, words), (lex.language, text)
