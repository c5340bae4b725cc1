"""Every message in every language: translated, complete, plain, neutral first line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.nlg import lint
from bot.nlg.catalog import Catalog, source_texts
from bot.nlg.messages import BUTTON_TEXTS, MESSAGES

LANGS = ["en", "es", "pt", "fr"]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
LOCK_SCREEN_BLOCKLIST = lint.LOCK_SCREEN_BLOCKLIST
FORBIDDEN = lint.FORBIDDEN
INCLUSIVE_MARKERS = lint.INCLUSIVE_MARKERS
revealing, glance = lint.revealing, lint.glance


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(LANGS)


@pytest.mark.parametrize("lang", LANGS)
def test_no_message_lacks_a_translation(catalog: Catalog, lang: str) -> None:
    assert catalog.missing(lang) == []


@pytest.mark.parametrize("lang", LANGS)
def test_placeholders_and_lines_match_the_source(catalog: Catalog, lang: str) -> None:
    for key, source in source_texts().items():
        text = catalog.text(key, lang)
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(source)), key
        assert text.count("\n") == source.count("\n"), key


@pytest.mark.parametrize("lang", LANGS)
def test_what_a_lock_screen_shows_is_neutral(catalog: Catalog, lang: str) -> None:
    # Whole messages are the "utter_" keys (and a service card's title); other keys are parts
    # placed after a first line. A lock screen shows the first line and, when it is short, the
    # next ones: the first 60 characters, whatever line they are on. A placeholder stands for a
    # bare number or name here; the rendered messages are checked in test_directory.py.
    for key in [k for k in MESSAGES if k.startswith("utter_")] + ["service_card_title"]:
        text = PLACEHOLDER.sub("0", catalog.text(key, lang))
        assert revealing(text, lang) == [], f"{lang}:{key}: {glance(text)!r}"


def test_the_lock_screen_check_reads_past_a_short_first_line() -> None:
    assert revealing("I'm here.\nIf you are in danger now, call 911.", "en") == ["danger"]
    assert revealing("Aquí estoy.\nSi estás en peligro ahora, llama al 911.", "es") == ["peligro"]
    assert revealing("I'm here.\nCall 911 if you are not safe now.", "en") == []
    # Past the first 60 characters of a message with a short first line: not shown.
    late = "Hi.\n" + "x" * 70 + " danger"
    assert revealing(late, "en") == []
    # An assembled message is read in every language: an English name inside Spanish text.
    card = "Opción 1 de 1\nNational Human Trafficking Hotline"
    assert revealing(card) == ["traffick"]
    assert revealing(card, "es") == []


@pytest.mark.parametrize("lang", LANGS)
def test_wording_rules(catalog: Catalog, lang: str) -> None:
    for key in source_texts():
        text = catalog.text(key, lang)
        lowered = text.lower()
        for pattern in FORBIDDEN[lang]:
            assert not re.search(pattern, lowered), f"{lang}:{key} matches {pattern}"
        assert not INCLUSIVE_MARKERS.search(text), f"{lang}:{key}"
        assert len(text) <= 520, f"{lang}:{key} is {len(text)} characters"


@pytest.mark.parametrize("lang", LANGS)
def test_one_question_per_message(catalog: Catalog, lang: str) -> None:
    for key, message in MESSAGES.items():
        assert catalog.text(key, lang).count("?") <= 1, f"{lang}:{key}"
        if message.question:
            assert catalog.text(key, lang).count("?") == 1, f"{lang}:{key}"


@pytest.mark.parametrize("lang", LANGS)
def test_button_labels_fit(catalog: Catalog, lang: str) -> None:
    for key in BUTTON_TEXTS:
        assert 0 < len(catalog.text(key, lang)) <= 20, f"{lang}:{key}"


def test_missing_translation_falls_back_to_the_reviewed_source(tmp_path: Path) -> None:
    catalog = Catalog(["es"], locales_dir=tmp_path)  # no catalogs at all
    assert catalog.text("utter_menu", "es") == MESSAGES["utter_menu"].text
    assert catalog.missing("es")
