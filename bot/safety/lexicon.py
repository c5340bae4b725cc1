"""Per-language phrase lexicons matched after spaCy tokenization and lookup lemmatization.

A phrase word matches a message word when their accent-folded forms or lemmas are equal, when one
is the other plus a short suffix (Spanish/Portuguese enclitics: "matarme"), or when they differ by a
typo: one edit for words of 5-8 letters, two for 9 or more, none for shorter words. ``...`` in a
phrase allows up to three other words; a phrase starting with ``=`` matches only a whole message
("=sos": "SOS!!" is a cry for help, "vos sos" is Argentine Spanish for "you are"). Phrases
from ``not_crisis.txt`` veto the matches they contain.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import spacy
from rapidfuzz.distance import Levenshtein

from bot.safety.text import fold

LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"
GAP = "..."
MAX_GAP = 3
MAX_SUFFIX = 4


@dataclass(frozen=True)
class Word:
    surface: str
    lemma: str
    start: int = 0  # character offsets in the message, to compare spans across languages
    end: int = 0


@dataclass(frozen=True)
class Phrase:
    source: str
    items: tuple[Word | None, ...]  # None marks a gap
    whole: bool = False  # "=sos": only when it is the whole message


@dataclass(frozen=True)
class Match:
    kind: str  # "crisis" | "self_harm" | "veto"
    language: str
    phrase: str
    start: int  # character offsets
    end: int


def _allowed_edits(length: int) -> int:
    if length <= 4:
        return 0
    if length <= 8:
        return 1
    return 2


def _word_matches(pattern: Word, token: Word) -> bool:
    for p, t in (
        (pattern.surface, token.surface),
        (pattern.lemma, token.lemma),
        (pattern.lemma, token.surface),
        (pattern.surface, token.lemma),
    ):
        if p == t:
            return True
        if len(p) >= 5 and t.startswith(p) and len(t) - len(p) <= MAX_SUFFIX:
            return True
        edits = _allowed_edits(len(p))
        if (
            edits
            and abs(len(p) - len(t)) <= edits
            and (Levenshtein.distance(p, t, score_cutoff=edits) <= edits)
        ):
            return True
    return False


class LanguageAnalyzer:
    """spaCy's blank tokenizer and the lookup lemmatizer of spacy-lookups-data: no download."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.nlp = spacy.blank(language)
        self.nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        self.nlp.initialize()

    def words(self, text: str) -> list[Word]:
        doc = self.nlp(text.lower())
        folded = self.nlp(fold(text))
        out: list[Word] = []
        for tok, ftok in zip(doc, folded, strict=False):
            if tok.is_punct or tok.is_space:
                continue
            lemma = tok.lemma_ or tok.text
            if lemma == tok.text and ftok.lemma_:
                lemma = ftok.lemma_  # unaccented spelling may still be in the table
            out.append(
                Word(
                    surface=fold(tok.text).strip("'"),
                    lemma=fold(lemma).strip("'"),
                    start=tok.idx,
                    end=tok.idx + len(tok.text),
                )
            )
        if len(doc) != len(folded):  # folding changed tokenization; fall back to folded tokens
            out = [
                Word(
                    surface=fold(t.text).strip("'"),
                    lemma=fold(t.lemma_ or t.text).strip("'"),
                    start=t.idx,
                    end=t.idx + len(t.text),
                )
                for t in folded
                if not (t.is_punct or t.is_space)
            ]
        return [w for w in out if w.surface]


class PhraseList:
    def __init__(self, analyzer: LanguageAnalyzer, lines: list[str]) -> None:
        self.phrases: list[Phrase] = []
        for line in lines:
            whole = line.startswith("=")
            items: list[Word | None] = []
            for part in line.removeprefix("=").split(GAP):
                if items:
                    items.append(None)
                items.extend(analyzer.words(part))
            while items and items[0] is None:
                items.pop(0)
            while items and items[-1] is None:
                items.pop()
            if items:
                self.phrases.append(Phrase(source=line, items=tuple(items), whole=whole))

    def find(self, words: list[Word]) -> list[tuple[Phrase, int, int]]:
        found = []
        for phrase in self.phrases:
            for start in range(1 if phrase.whole else len(words)):
                end = _match_at(phrase.items, words, start)
                if end is not None and (not phrase.whole or end == len(words)):
                    found.append((phrase, start, end))
                    break
        return found


def _match_at(items: tuple[Word | None, ...], words: list[Word], start: int) -> int | None:
    """End index (exclusive) if the phrase matches beginning at ``start``; gaps are lazy."""

    def rec(i: int, j: int) -> int | None:
        if i == len(items):
            return j
        item = items[i]
        if item is None:
            for skip in range(MAX_GAP + 1):
                end = rec(i + 1, j + skip)
                if end is not None:
                    return end
            return None
        if j < len(words) and _word_matches(item, words[j]):
            return rec(i + 1, j + 1)
        return None

    return rec(0, start)


def read_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


class LanguageLexicon:
    """The crisis, self-harm and veto phrase lists of one language."""

    def __init__(self, language: str, directory: Path = LEXICON_DIR) -> None:
        self.language = language
        self.analyzer = LanguageAnalyzer(language)
        base = directory / language
        self.crisis = PhraseList(self.analyzer, read_lines(base / "crisis.txt"))
        self.self_harm = PhraseList(self.analyzer, read_lines(base / "self_harm.txt"))
        self.veto = PhraseList(self.analyzer, read_lines(base / "not_crisis.txt"))

    def scan(self, text: str) -> list[Match]:
        """Every crisis, self-harm and veto match, with character spans."""
        words = self.analyzer.words(text)
        if not words:
            return []
        matches = []
        for kind, plist in (
            ("self_harm", self.self_harm),
            ("crisis", self.crisis),
            ("veto", self.veto),
        ):
            for phrase, s, e in plist.find(words):
                matches.append(
                    Match(kind, self.language, phrase.source, words[s].start, words[e - 1].end)
                )
        return matches


class Lexicons:
    """All languages at once: safety never depends on knowing the person's language."""

    def __init__(self, languages: list[str], directory: Path = LEXICON_DIR) -> None:
        self.languages = languages
        self.directory = directory

    @cached_property
    def by_language(self) -> dict[str, LanguageLexicon]:
        return {lang: LanguageLexicon(lang, self.directory) for lang in self.languages}

    def scan(self, text: str) -> list[Match]:
        """Crisis and self-harm matches in any language, less those inside an everyday idiom."""
        found: list[Match] = []
        for lex in self.by_language.values():
            found.extend(lex.scan(text))
        vetoes = [(m.start, m.end) for m in found if m.kind == "veto"]
        return [
            m
            for m in found
            if m.kind != "veto" and not any(vs <= m.start and m.end <= ve for vs, ve in vetoes)
        ]
