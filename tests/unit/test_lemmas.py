"""The safety screen's compact lemma table matches exactly what spaCy's full lookup tables match.

The reference is spaCy's own lookup lemmatizer with spacy-lookups-data's tables (what the screen
used to load, ~440 MB): every message of the training data, the dev set, the safety test sets and
the flow tests' phrases is scanned by every language's lexicon with both, and the matches, their
spans and exactness and the context markers must be the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
import spacy
import yaml
from phrases import SAY
from spacy.pipeline import Lemmatizer

from bot.safety.changes import training_examples
from bot.safety.lemmas import (
    TABLE_FILE,
    fingerprint,
    full_entries,
    read_table,
)
from bot.safety.lexicon import LEXICON_DIR, Lexicons, shipped_phrases

LANGS = ["en", "es", "pt", "fr"]
ROOT = Path(__file__).resolve().parents[2]


class SpacyLookup(Mapping[str, str]):
    """spaCy's lookup lemmatizer over the full spacy-lookups-data table, as a mapping."""

    def __init__(self, language: str) -> None:
        nlp = spacy.blank(language)
        lemmatizer = cast(Lemmatizer, nlp.add_pipe("lemmatizer", config={"mode": "lookup"}))
        nlp.initialize()
        self.table = lemmatizer.lookups.get_table("lemma_lookup")

    def get(self, key: str, default: Any = None) -> Any:
        # spaCy's Lemmatizer.lookup_lemmatize, for a token whose text is ``key``
        found = self.table.get(key, key)
        return found[0] if isinstance(found, list) else found

    def __getitem__(self, key: str) -> str:
        return str(self.get(key))

    def __iter__(self) -> Iterator[str]:
        raise NotImplementedError  # never iterated: the analyzer only looks up

    def __len__(self) -> int:
        return 0


@cache
def spacy_lookup(language: str) -> SpacyLookup:
    return SpacyLookup(language)


def messages() -> list[str]:
    texts: list[str] = []
    for lang in LANGS:
        texts += [text for _, text in training_examples(lang)]
        for line in (ROOT / "eval" / "dev" / f"{lang}.jsonl").read_text().splitlines():
            texts.append(str(json.loads(line)["text"]))
        data = yaml.safe_load((ROOT / "eval" / "safety" / f"{lang}.yml").read_text())
        texts += [str(t) for t in data["crisis"] + data["not_crisis"]]
        texts += list(SAY[lang].values())
    return list(dict.fromkeys(texts))


def readings(lexicons: Lexicons, text: str) -> list[object]:
    out: list[object] = []
    for lang, table in sorted(lexicons.by_language.items()):
        out.append((lang, table.scan(text), table.markers(text)))
    out.append(lexicons.read(text))
    return out


@pytest.fixture(scope="module")
def full() -> Lexicons:
    return Lexicons(LANGS, lemmas=spacy_lookup)


@pytest.fixture(scope="module")
def compact() -> Lexicons:
    return Lexicons(LANGS)


def test_the_lookup_wrapper_is_spacys_lemmatizer() -> None:
    nlp = spacy.blank("es")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    doc = nlp("me vendieron y me tienen encerrada")
    assert [t.lemma_ for t in doc] == [spacy_lookup("es").get(t.text) for t in doc]
    assert spacy_lookup("es").get("vendieron") == "vender"
    assert spacy_lookup("fr").get("enfermée") == "enfermer"  # French values are lists


def test_the_shipped_tables_are_up_to_date() -> None:
    for lang in LANGS:
        shipped = read_table(LEXICON_DIR / lang / TABLE_FILE)
        assert shipped is not None
        assert shipped[0] == fingerprint(shipped_phrases(LEXICON_DIR / lang)), (
            f"{lang}: run `python -m bot.safety.lemmas {lang}` after editing its lexicons"
        )


def test_the_compact_tables_are_small() -> None:
    sizes = {lang: len(c.extension.table) for lang, c in Lexicons(LANGS).by_language.items()}
    full_sizes = {lang: sum(1 for _ in full_entries(lang)) for lang in LANGS}
    for lang in LANGS:
        assert sizes[lang] * 10 < full_sizes[lang], (lang, sizes[lang], full_sizes[lang])


def test_compact_and_full_tables_match_the_same(full: Lexicons, compact: Lexicons) -> None:
    texts = messages()
    assert len(texts) > 9000
    differ = [t for t in texts if readings(full, t) != readings(compact, t)]
    assert differ == []


def test_a_phrase_from_the_console_matches_its_inflections(
    full: Lexicons, compact: Lexicons
) -> None:
    # "empeñando" reaches "empeñar" only by its lemma (not a prefix, three edits away), and no
    # shipped phrase needs it: the table is extended when the phrase is added.
    phrase = "me quieren empeñar"
    assert "empeñando" not in compact.by_language["es"].extension.table
    message = "me quieren empeñando en la casa"
    assert not any(m.phrase == phrase for m in compact.by_language["es"].scan(message))
    added = {"es": {"crisis": [phrase]}}
    compact.set_added(added)
    full.set_added(added)
    table = compact.by_language["es"]
    assert table.extension.table["empeñando"] == "empeñar"
    assert [m.phrase for m in table.scan(message)] == [phrase]
    data = yaml.safe_load((ROOT / "eval" / "safety" / "es.yml").read_text())
    for text in [message, *data["crisis"], *data["not_crisis"]]:
        assert readings(full, str(text)) == readings(compact, str(text))
    # The shipped file is untouched.
    shipped = read_table(LEXICON_DIR / "es" / TABLE_FILE)
    assert shipped is not None and "empeñando" not in shipped[1]
