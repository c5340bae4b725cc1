"""Admins' additions to the safety screen, checked before they go live.

An extra exit word erases a conversation the moment someone sends it, in any state and in any
language (commands are matched before anything else). So a word is refused when ordinary messages
could be exactly it: too short, a number (menu answers are numbers), a word another command or a
language name already uses, a crisis phrase (the person must get the emergency numbers, not an
exit), an everyday message of a safety test set, or a training example of the assistant (a
greeting, a thanks, a need...) as the whole message. Examples of the ``exit`` intent are allowed:
the assistant already exits on them.

A crisis-lexicon phrase is never refused for its effect: its impact on the language's safety test
set is measured and shown (false alarms it adds, crisis messages it newly catches or stops
catching), and the admin decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from bot.safety.check import EVAL_DIR
from bot.safety.commands import CommandMatcher
from bot.safety.lexicon import GAP, KINDS, Lexicons
from bot.safety.text import fold_command

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
EXIT_WORD_MIN_LETTERS = 3
EXIT_WORD_MAX = 40
PHRASE_MAX = 120
_ENTITY = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\{[^}]*\}")


@dataclass(frozen=True)
class Refusal:
    """Why an addition is refused: an enumerated ``reason``, and where it was found."""

    reason: str
    language: str = ""
    intent: str = ""


@dataclass(frozen=True)
class SafetySet:
    crisis: tuple[str, ...]
    everyday: tuple[str, ...]


@cache
def safety_set(language: str, directory: Path = EVAL_DIR) -> SafetySet:
    path = directory / f"{language}.yml"
    if not path.exists():
        return SafetySet((), ())
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return SafetySet(
        tuple(str(t) for t in data.get("crisis", []) or []),
        tuple(str(t) for t in data.get("not_crisis", []) or []),
    )


@cache
def training_examples(language: str, directory: Path = DATA_DIR) -> tuple[tuple[str, str], ...]:
    """(intent, example) pairs of the shipped training and held-out data, entity markup removed."""
    out: list[tuple[str, str]] = []
    paths = [
        *sorted((directory / "nlu" / language).glob("*.yml")),
        directory / "heldout" / f"{language}.yml",
    ]
    for path in [p for p in paths if p.exists()]:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("nlu", []) or []:
            intent = item.get("intent")
            if not intent:
                continue
            for line in str(item.get("examples", "")).splitlines():
                text = line.strip().removeprefix("- ").strip()
                text = _ENTITY.sub(lambda m: m.group(1) or m.group(2), text)
                if text:
                    out.append((str(intent), text))
    return tuple(out)


def check_exit_word(
    word: str,
    languages: list[str],
    commands: CommandMatcher,
    lexicons: Lexicons,
    extra_examples: list[tuple[str, str, str]] | None = None,
) -> Refusal | None:
    """None if ``word`` can be an exit word; otherwise why not. ``extra_examples`` are admins'
    training phrases as (language, intent, text)."""
    key = fold_command(word.lstrip("/"))
    if len(key) > EXIT_WORD_MAX:
        return Refusal("long")
    if any(ch.isdigit() for ch in key):
        return Refusal("number")
    if sum(ch.isalpha() for ch in key) < EXIT_WORD_MIN_LETTERS:
        return Refusal("short")
    taken = commands.taken(key)
    if taken is not None:
        return Refusal("exists" if taken.value == "exit" else "command")
    if lexicons.scan(word):
        return Refusal("crisis")
    for lang in languages:
        if any(fold_command(t) == key for t in safety_set(lang).everyday):
            return Refusal("everyday", lang)
        if any(fold_command(t) == key for t in safety_set(lang).crisis):
            return Refusal("crisis", lang)
    examples = [(lang, i, t) for lang in languages for i, t in training_examples(lang)]
    for lang, intent, text in [*examples, *(extra_examples or [])]:
        if intent != "exit" and fold_command(text) == key:
            return Refusal("greeting" if intent == "greet" else "training", lang, intent)
    return None


def check_phrase(lexicons: Lexicons, language: str, kind: str, phrase: str) -> Refusal | None:
    """A phrase must have words, fit, and not be in that list already."""
    if kind not in KINDS or language not in lexicons.by_language:
        return Refusal("list")
    text = " ".join(phrase.split())
    if len(text) > PHRASE_MAX:
        return Refusal("long")
    if "#" in text or not fold_command(text.removeprefix("=").replace(GAP, " ")):
        return Refusal("empty")
    lex = lexicons.by_language[language]
    if text in {p.source for p in lex.shipped(kind).phrases} or text in lex.added_lines.get(
        kind, ()
    ):
        return Refusal("exists")
    return None


@dataclass(frozen=True)
class Impact:
    """What one phrase changes on a language's safety test set (counts of messages)."""

    crisis_total: int
    everyday_total: int
    newly_caught: int  # crisis messages flagged only with the phrase
    no_longer_caught: int  # crisis messages it stops flagging (a not_crisis phrase)
    new_false_alarms: int  # everyday messages flagged only with the phrase
    fewer_false_alarms: int  # everyday messages it stops flagging

    @property
    def risky(self) -> bool:
        """It would add false alarms or miss crisis messages: the admin confirms it knowingly."""
        return bool(self.new_false_alarms or self.no_longer_caught)


def measure(lexicons: Lexicons, language: str, kind: str, phrase: str) -> Impact:
    """Screen the language's safety test set with and without the phrase."""
    after = lexicons.candidate(language, kind, " ".join(phrase.split()))
    data = safety_set(language)

    def changes(messages: tuple[str, ...]) -> tuple[int, int]:
        gained = lost = 0
        for text in messages:
            was, now = bool(lexicons.scan(text)), bool(after.scan(text))
            gained += now and not was
            lost += was and not now
        return gained, lost

    caught, uncaught = changes(data.crisis)
    alarms, calmed = changes(data.everyday)
    return Impact(len(data.crisis), len(data.everyday), caught, uncaught, alarms, calmed)
