"""Languages, needs and platforms are each declared once (bot/languages.py, bot/needs.py,
bot/platforms.py); everything else a declared one needs must exist. These tests list it, so
adding one fails here, with the missing piece named, until it is complete."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.languages import CODES, LANGUAGES
from bot.needs import CATEGORIES, NEED_CATEGORIES, NEEDS
from bot.nlg.lint import FORBIDDEN, LOCK_SCREEN_BLOCKLIST
from bot.nlg.messages import MESSAGES
from bot.platforms import PLATFORMS, platform
from bot.rasa.model import domain_intents
from bot.safety.commands import KEYWORDS, LANGUAGE_NAMES, Command
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_language_has_its_texts_data_and_checks() -> None:
    for lang in LANGUAGES:
        needed = [
            ROOT / "locales" / lang.code / "LC_MESSAGES" / "messages.po",
            ROOT / "locales" / lang.code / "LC_MESSAGES" / "console.po",
            ROOT / "data" / "nlu" / lang.code,
            ROOT / "data" / "heldout" / f"{lang.code}.yml",
            ROOT / "bot" / "safety" / "lexicons" / lang.code,
            ROOT / "eval" / "safety" / f"{lang.code}.yml",
        ]
        missing = [str(path.relative_to(ROOT)) for path in needed if not path.exists()]
        assert missing == [], f"{lang.code} lacks {missing}"
        for command in Command:
            assert KEYWORDS[command].get(lang.code), f"{command} has no {lang.code} keyword"
        assert lang.code in LOCK_SCREEN_BLOCKLIST and lang.code in FORBIDDEN
        assert LANGUAGE_NAMES[lang.code] == lang.typed_names
        assert lang.likely_countries, f"{lang.code}: where are its speakers most likely?"


def test_the_default_languages_are_the_declared_ones() -> None:
    assert tuple(Settings().languages) == CODES


def test_every_need_is_an_intent_with_a_rule_and_a_category() -> None:
    intents = domain_intents()
    rules = yaml.safe_load((ROOT / "data" / "core" / "rules.yml").read_text(encoding="utf-8"))
    ruled = {
        step["intent"] for rule in rules["rules"] for step in rule["steps"] if "intent" in step
    }
    for need in NEEDS:
        assert need.intent in intents, f"{need.intent} is not in domain.yml"
        assert need.intent in ruled, f"{need.intent} has no rule in data/core/rules.yml"
        assert need.category in CATEGORIES
        assert f"category_{need.category}" in MESSAGES
    assert set(NEED_CATEGORIES.values()) <= set(CATEGORIES)


def test_platforms_are_named_once() -> None:
    names = [p.name for p in PLATFORMS]
    assert len(names) == len(set(names))
    assert platform("whatsapp").reply_window is not None
    assert not platform("whatsapp").erases_messages
    assert platform("telegram").erases_messages
    assert platform("nowhere").name == "unknown"


def test_a_short_word_belongs_to_one_language_only() -> None:
    seen: dict[str, str] = {}
    for lang in LANGUAGES:
        for word in lang.short_words:
            assert word not in seen, f"{word!r} is in {seen.get(word)} and {lang.code}"
            seen[word] = lang.code
