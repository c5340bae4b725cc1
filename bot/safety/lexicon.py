"""Per-language phrase lexicons matched after spaCy tokenization and lookup lemmatization.

A phrase word matches a message word when their accent-folded forms or lemmas are equal, when one
is the other plus a short suffix (Spanish/Portuguese enclitics: "matarme"), or when they differ by a
typo: one edit for words of 5-8 letters, two for 9 or more, none for shorter words, and never in
the first letter (typos seldom touch it, and everyday words one letter apart mostly differ there:
French "rendre", "vendre", "pendre"; "urgent", "argent"). ``...`` in a
phrase allows up to three other words; a phrase starting with ``=`` matches only a whole message
("=sos": "SOS!!" is a cry for help, "vos sos" is Argentine Spanish for "you are"). Phrases
from ``not_crisis.txt`` veto the matches they contain.

Lemmas come from spaCy's lookup tables, cut down to the entries that can matter for these phrases
(bot/safety/lemmas.py): the full tables would take ~440 MB.

Each language has four lists of phrases: ``crisis.txt`` (danger now to the writer),
``self_harm.txt``, ``others.txt`` (danger now to someone the writer tells about: a child, a
relative, someone with them) and ``not_crisis.txt`` (idioms that veto), the signs of forced labour
of ``indicators.yml`` (two together make a crisis match), the text-message spellings of
``shorthand.yml`` (read as the words they stand for), and the context markers of ``context.yml``
(bot/safety/context.py: past, safe now, joke, conditional, present, worry...).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from rapidfuzz.distance import Levenshtein

from bot.safety.context import MARKERS, Marker, denied, laughter, set_aside, tempering
from bot.safety.lemmas import (
    CONTRACTIONS,
    MAX_SUFFIX,
    TABLE_FILE,
    Reach,
    allowed_edits,
    fingerprint,
    full_entries,
    needed,
    normalize,
    read_table,
    tokenizer,
)
from bot.safety.text import fold

log = logging.getLogger(__name__)

LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"
GAP = "..."
MAX_GAP = 3


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
    kind: str  # "crisis" | "self_harm" | "others" | "veto"
    language: str
    phrase: str
    start: int  # character offsets
    end: int
    # Share of the phrase's words found as written in the message (not only by lemma or typo):
    # "me van a matar" is "me van ... matar" exactly (1.0) and "me voy a matar" only through
    # the lemma of "van" (0.75), so the person who is threatened is not answered as self-harm.
    exact: float = 1.0
    # Found by indicators together (``indicators.yml``), not by one phrase: it never outweighs a
    # phrase over the same words, nor gives way to one.
    combined: bool = False
    # Added by an admin from the console: a deliberate decision the model's second look at the
    # message (bot/conversation/crisis.py) does not overrule.
    added: bool = False


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
        edits = allowed_edits(len(p))
        if (
            edits
            and p[:1] == t[:1]
            and abs(len(p) - len(t)) <= edits
            and (Levenshtein.distance(p, t, score_cutoff=edits) <= edits)
        ):
            return True
    return False


SHORTHAND_FILE = "shorthand.yml"


def read_shorthand(path: Path) -> dict[str, str]:
    """A language's text-message spellings and what they stand for: ``{"r": "are", "rn": "right
    now", "hj": "hoje"}``. Keys are single words, compared folded (no accents, lower case)."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of short forms to words")
    table: dict[str, str] = {}
    for key, value in data.items():
        short, full = fold(str(key)).strip(), str(value).strip()
        if not short or " " in short or not full:
            raise ValueError(f"{path}: {key!r} must be one word standing for some words")
        table[short] = full
    return table


class LanguageAnalyzer:
    """spaCy's blank tokenizer and a lookup table of lemmas (``{form: lemma}``; a form missing is
    its own lemma, as with spaCy's lookup lemmatizer): no download, no model.

    Text-message spellings are read as the words they stand for (``shorthand.yml``): "my feet r
    killing me" is the idiom "my feet are killing me", "they r outside rn" says "right now", "hj"
    is "hoje". A phrase matches them with the same rules as the words written out; the expanded
    words keep the offsets of the short form, so spans and clauses stay the message's own.
    """

    def __init__(
        self, language: str, lemmas: Mapping[str, str], shorthand: Mapping[str, str] | None = None
    ) -> None:
        self.language = language
        self.nlp = tokenizer(language)
        self.lemmas = lemmas
        self.contractions = CONTRACTIONS.get(language, {})
        if shorthand is None:
            shorthand = read_shorthand(LEXICON_DIR / language / SHORTHAND_FILE)
        self.shorthand = shorthand
        self._expanded: dict[str, list[tuple[str, str]]] = {}

    def _expansion(self, short: str) -> list[tuple[str, str]]:
        """(surface, lemma) of the words a short form stands for, read like any message."""
        found = self._expanded.get(short)
        if found is None:
            found = self._expanded[short] = [
                (w.surface, w.lemma) for w in self._read(self.shorthand[short])
            ]
        return found

    def words(self, text: str) -> list[Word]:
        words = self._read(text)
        if not self.shorthand or not any(w.surface in self.shorthand for w in words):
            return words
        out: list[Word] = []
        for w in words:
            if w.surface in self.shorthand:
                out.extend(
                    Word(s, lemma, w.start, w.end) for s, lemma in self._expansion(w.surface)
                )
            else:
                out.append(w)
        return out

    def _read(self, text: str) -> list[Word]:
        doc = self.nlp.make_doc(text.lower())
        folded = self.nlp.make_doc(fold(text))
        lemmas = self.lemmas
        out: list[Word] = []
        for tok, ftok in zip(doc, folded, strict=False):
            if tok.is_punct or tok.is_space:
                continue
            lemma = lemmas.get(tok.text, tok.text)
            if lemma == tok.text:
                lemma = lemmas.get(ftok.text, ftok.text)  # the unaccented spelling may be there
            out.append(
                Word(
                    surface=fold(tok.text).strip("'"),
                    lemma=normalize(lemma, self.contractions),
                    start=tok.idx,
                    end=tok.idx + len(tok.text),
                )
            )
        if len(doc) != len(folded):  # folding changed tokenization; fall back to folded tokens
            out = [
                Word(
                    surface=fold(t.text).strip("'"),
                    lemma=fold(lemmas.get(t.text, t.text)).strip("'"),
                    start=t.idx,
                    end=t.idx + len(t.text),
                )
                for t in folded
                if not (t.is_punct or t.is_space)
            ]
        return [w for w in out if w.surface]


class PhraseList:
    """Phrases compiled for speed: each distinct phrase word gets an id, each message word is
    compared once with the vocabulary (exact and prefix lookups, then a vectorised edit-distance
    search among words of similar length), and only phrases whose first word matched are tried.

    A ``strict`` list matches words only as written (accent-folded): context markers say *when*,
    and a lemma or a typo loses exactly that ("me rescataron" is not "rescátenme", "if I escape"
    is not "I escaped", "en el piso" is not "en el pasado")."""

    def __init__(self, analyzer: LanguageAnalyzer, lines: list[str], strict: bool = False) -> None:
        self.strict = strict
        self.phrases: list[Phrase] = []
        self._ids: dict[tuple[str, str], int] = {}
        self._compiled: list[tuple[Phrase, tuple[int | None, ...]]] = []
        self._by_first: dict[int, list[int]] = {}
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
            if not items:
                continue
            phrase = Phrase(source=line, items=tuple(items), whole=whole)
            ids = tuple(
                None if w is None else self._ids.setdefault((w.surface, w.lemma), len(self._ids))
                for w in items
            )
            first = ids[0]
            assert first is not None
            self._by_first.setdefault(first, []).append(len(self._compiled))
            self._compiled.append((phrase, ids))
            self.phrases.append(phrase)
        # pattern string → ids of the vocabulary words having it as surface or lemma
        self._strings: dict[str, set[int]] = {}
        self._surfaces: dict[str, set[int]] = {}
        for (surface, lemma), wid in self._ids.items():
            self._surfaces.setdefault(surface, set()).add(wid)
            self._strings.setdefault(surface, set()).add(wid)
            self._strings.setdefault(lemma, set()).add(wid)
        self._reach = Reach(self._strings)
        self._cache: dict[str, frozenset[int]] = {}

    def strings(self) -> set[str]:
        """Every surface and lemma of the phrases' words (what message words are compared with)."""
        return set(self._strings)

    def _matching_ids(self, x: str) -> frozenset[int]:
        """Ids of phrase words that token string ``x`` matches (same rules as _word_matches)."""
        cached = self._cache.get(x)
        if cached is not None:
            return cached
        if self.strict:
            return frozenset(self._surfaces.get(x, ()))
        found: set[int] = set()
        for y in self._reach.reached(x):
            found |= self._strings[y]
        result = frozenset(found)
        if len(self._cache) < 50_000:
            self._cache[x] = result
        return result

    def find(self, words: list[Word]) -> list[tuple[Phrase, int, int]]:
        hits = [
            self._matching_ids(w.surface)
            if self.strict
            else self._matching_ids(w.surface) | self._matching_ids(w.lemma)
            for w in words
        ]
        found: list[tuple[Phrase, int, int]] = []
        for start, ids in enumerate(hits):
            # Every occurrence counts (its clause may be the one that says "now"), once per start.
            seen: set[int] = set()
            for wid in ids:
                for index in self._by_first.get(wid, ()):
                    if index in seen:
                        continue
                    phrase, items = self._compiled[index]
                    if phrase.whole and start != 0:
                        continue
                    end = _match_ids(items, hits, start)
                    if end is not None and (not phrase.whole or end == len(words)):
                        seen.add(index)
                        found.append((phrase, start, end))
        return found


def _match_ids(items: tuple[int | None, ...], hits: list[frozenset[int]], start: int) -> int | None:
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
        if j < len(hits) and item in hits[j]:
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


KINDS = ("crisis", "self_harm", "others", "not_crisis")
INDICATORS_FILE = "indicators.yml"
# The signs of forced labour and trafficking that anti-trafficking hotlines and the ILO list
# (documents kept, a debt that binds, the way out closed, watched, deceived about the job,
# threatened with the police or deportation, unpaid, cut off from everyone, worked without end).
# One alone is often an ordinary hardship ("my boss doesn't pay overtime"); two together, one of
# them among these, describe someone held now even when no word of danger is written ("they kept
# my papers to keep them safe and say I owe more every week").
STRONG_INDICATORS = ("documents", "debt", "confined", "watched", "deceived", "threatened")
INDICATORS = (*STRONG_INDICATORS, "unpaid", "isolated", "overworked")


def read_indicators(path: Path) -> dict[str, list[str]]:
    """A language's indicator phrases: ``{indicator: [phrase, ...]}`` for the names in
    INDICATORS."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(data) - set(INDICATORS)
    if unknown:
        raise ValueError(f"{path}: unknown indicators {sorted(unknown)}")
    return {
        name: [str(p).strip() for p in (data.get(name) or []) if str(p).strip()]
        for name in INDICATORS
    }


def indicated(found: Iterable[str]) -> tuple[str, ...]:
    """The indicators that together make a crisis (two or more, one of them strong), or ()."""
    seen = set(found)
    names = tuple(name for name in INDICATORS if name in seen)
    strong = any(name in STRONG_INDICATORS for name in names)
    return names if len(names) >= 2 and strong else ()


SCAN_ORDER = (
    ("self_harm", "self_harm"),
    ("crisis", "crisis"),
    ("others", "others"),
    ("veto", "not_crisis"),
)
FILES = {
    "crisis": "crisis.txt",
    "self_harm": "self_harm.txt",
    "others": "others.txt",
    "not_crisis": "not_crisis.txt",
}
CONTEXT_FILE = "context.yml"


def read_context(path: Path) -> dict[str, list[str]]:
    """A language's context markers: ``{marker: [phrase, ...]}`` for the names in MARKERS."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(data) - set(MARKERS) - {VARIANTS}
    if unknown:
        raise ValueError(f"{path}: unknown context lists {sorted(unknown)}")
    variants = {
        str(words).strip(): [str(alt).strip() for alt in alts or []]
        for words, alts in (data.get(VARIANTS) or {}).items()
    }
    return {
        name: with_variants(
            [str(p).strip() for p in (data.get(name) or []) if str(p).strip()], variants
        )
        for name in MARKERS
    }


# The ``variants`` of a context.yml: words a marker may be written with in another person or a
# contraction ("i am" → "i'm", "im"; "when i was" → "when she was"). Markers match words only as
# written, so "she's fine now" missed "she is fine now" and "when she was young" missed "when i
# was young" (a mother's story told by her child).
VARIANTS = "variants"


def with_variants(phrases: list[str], variants: Mapping[str, list[str]]) -> list[str]:
    """``phrases``, each followed by its variants (one substitution each), without repeats."""
    out: list[str] = []
    for phrase in phrases:
        out.append(phrase)
        padded = f" {phrase} "
        for words, alternatives in variants.items():
            if f" {words} " in padded:
                out.extend(
                    padded.replace(f" {words} ", f" {alt} ", 1).strip() for alt in alternatives
                )
    return list(dict.fromkeys(out))


def shipped_phrases(base: Path) -> list[str]:
    """Every phrase of a language matched through lemmas, in a fixed order: its lists and its
    indicators. Context markers are left out: they match words only as written (``strict``), so
    no lemma entry can change what they find."""
    phrases = [line for kind in KINDS for line in read_lines(base / FILES[kind])]
    for found in read_indicators(base / INDICATORS_FILE).values():
        phrases.extend(found)
    return phrases


def phrase_strings(language: str, phrases: Iterable[str], lemmas: Mapping[str, str]) -> set[str]:
    """The surfaces and lemmas of the phrases' words, read with the table ``lemmas``."""
    analyzer = LanguageAnalyzer(language, lemmas)
    found: set[str] = set()
    for line in phrases:
        for part in line.removeprefix("=").split(GAP):
            for word in analyzer.words(part):
                found.update((word.surface, word.lemma))
    return found


def build_table(
    language: str,
    phrases: list[str],
    entries: Callable[[], Iterable[tuple[str, str]]] | None = None,
) -> dict[str, str]:
    """The lemma entries that can change what ``phrases`` match, from the full table
    (spacy-lookups-data's, streamed from disk, unless ``entries`` gives another)."""
    return needed(
        language,
        phrases,
        entries or (lambda: full_entries(language)),
        lambda table: phrase_strings(language, phrases, table),
    )


def lemma_table(language: str, base: Path) -> dict[str, str]:
    """The shipped table of ``base``, or one built now if the phrase lists changed since."""
    phrases = shipped_phrases(base)
    shipped = read_table(base / TABLE_FILE)
    if shipped is not None and shipped[0] == fingerprint(phrases):
        return shipped[1]
    log.warning(
        "lemma table of %r does not match its phrase lists: building it now (run "
        "`python -m bot.safety.lemmas` to ship it)",
        language,
    )
    return build_table(language, phrases)


class Extension:
    """The lemma entries admins' phrases need beyond the shipped table, shared by every copy of a
    language's lexicon. It only grows: any table between the needed entries and the full table
    matches the same, so entries of a phrase since removed do no harm, and a phrase measured
    before it goes live is not looked up twice."""

    def __init__(self, language: str, shipped: Mapping[str, str], complete: bool = False) -> None:
        self.language = language
        self.table = shipped
        self.complete = complete  # a full table (tests' reference) needs no extension
        self.covered: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def cover(self, phrases: Iterable[str]) -> Mapping[str, str]:
        """The table with the entries these phrases need (streams the full table if some are
        new: a few seconds for the largest language)."""
        with self._lock:
            new = [p for p in dict.fromkeys(phrases) if p not in self.covered]
            if new and not self.complete:
                self.table = {**self.table, **build_table(self.language, new)}
                self.covered = self.covered | set(new)
            return self.table


class LanguageLexicon:
    """The crisis, self-harm and veto phrase lists of one language: the shipped files, plus the
    phrases admins added from the console (kept apart, so a change rebuilds only those)."""

    def __init__(
        self,
        language: str,
        directory: Path = LEXICON_DIR,
        lemmas: Mapping[str, str] | None = None,
    ) -> None:
        """``lemmas``: a complete table to use instead of the shipped one (tests compare the
        shipped table with spaCy's full one this way)."""
        self.language = language
        base = directory / language
        if lemmas is None:
            self.extension = Extension(language, lemma_table(language, base))
        else:
            self.extension = Extension(language, lemmas, complete=True)
        self.shorthand = read_shorthand(base / SHORTHAND_FILE)
        self.analyzer = LanguageAnalyzer(language, self.extension.table, self.shorthand)
        self.lists = {
            kind: PhraseList(self.analyzer, read_lines(base / FILES[kind])) for kind in KINDS
        }
        self.context = {
            name: PhraseList(self.analyzer, phrases, strict=True)
            for name, phrases in read_context(base / CONTEXT_FILE).items()
        }
        self.indicators = {
            name: PhraseList(self.analyzer, phrases)
            for name, phrases in read_indicators(base / INDICATORS_FILE).items()
        }
        self.added: dict[str, PhraseList] = {}
        self.added_lines: dict[str, tuple[str, ...]] = {}

    def shipped(self, kind: str) -> PhraseList:
        return self.lists[kind]

    def markers(self, text: str) -> list[Marker]:
        """The context markers of this language found in ``text``."""
        words = self.analyzer.words(text)
        return [
            Marker(name, self.language, phrase.source, words[s].start, words[e - 1].end)
            for name, plist in self.context.items()
            for phrase, s, e in plist.find(words)
        ]

    def with_added(self, lines: dict[str, list[str]]) -> LanguageLexicon:
        """A copy sharing the shipped lists, with these admin phrases (and the lemma entries
        they need: the analyzer is replaced, never changed, when new ones come)."""
        copy = object.__new__(LanguageLexicon)
        copy.__dict__.update(self.__dict__)
        copy.added_lines = {k: tuple(lines.get(k, ())) for k in KINDS if lines.get(k)}
        table = self.extension.cover(p for found in copy.added_lines.values() for p in found)
        if table is not self.analyzer.lemmas:
            copy.analyzer = LanguageAnalyzer(self.language, table, self.shorthand)
        copy.added = {
            kind: (
                self.added[kind]
                if self.added_lines.get(kind) == found
                else PhraseList(copy.analyzer, list(found))
            )
            for kind, found in copy.added_lines.items()
        }
        return copy

    def scan(self, text: str) -> list[Match]:
        """Every crisis, self-harm and veto match, with character spans."""
        words = self.analyzer.words(text)
        if not words:
            return []
        matches = []
        for kind, name in SCAN_ORDER:
            for plist, added in ((self.shipped(name), False), (self.added.get(name), True)):
                if plist is None:
                    continue
                for phrase, s, e in plist.find(words):
                    written = {w.surface for w in words[s:e]}
                    items = [w for w in phrase.items if w is not None]
                    exact = sum(w.surface in written for w in items) / len(items)
                    matches.append(
                        Match(
                            kind,
                            self.language,
                            phrase.source,
                            words[s].start,
                            words[e - 1].end,
                            exact,
                            added=added,
                        )
                    )
        signs = {
            name: [(words[s].start, words[e - 1].end) for _, s, e in plist.find(words)]
            for name, plist in self.indicators.items()
        }
        together = indicated(name for name, spans in signs.items() if spans)
        if together:
            spans = [span for name in together for span in signs[name]]
            matches.append(
                Match(
                    "crisis",
                    self.language,
                    "indicators: " + " + ".join(together),
                    min(s for s, _ in spans),
                    max(e for _, e in spans),
                    combined=True,
                )
            )
        return matches


_SHIPPED: dict[tuple[str, Path], LanguageLexicon] = {}
_SHIPPED_LOCK = threading.Lock()


def shipped_lexicon(language: str, directory: Path = LEXICON_DIR) -> LanguageLexicon:
    """A language's shipped lists, compiled once per process: every ``Lexicons`` (a runtime, a
    console measurement, a test) shares them. Nothing changes them; admins' phrases live in the
    copies ``with_added`` makes, and the lemma extension they share only grows (any table between
    the needed entries and the full one matches the same)."""
    key = (language, directory)
    with _SHIPPED_LOCK:
        found = _SHIPPED.get(key)
        if found is None:
            found = _SHIPPED[key] = LanguageLexicon(language, directory)
        return found


def _outweighs(winner: Match, loser: Match) -> bool:
    """Whether ``winner`` reads the words of ``loser`` better (see Lexicons.matches)."""
    if winner.combined or loser.combined:
        return False
    if winner.end < loser.start or loser.end < winner.start:
        return False  # about other words of the message
    if winner.exact != loser.exact:
        return winner.exact > loser.exact
    if winner.kind != "crisis" or loser.kind != "self_harm":
        return False
    covers = winner.start <= loser.start and loser.end <= winner.end
    return covers and winner.end - winner.start > loser.end - loser.start


@dataclass(frozen=True)
class Reading:
    """What the lexicons found in one message, and in which languages they looked."""

    matches: tuple[Match, ...]
    markers: tuple[Marker, ...]
    languages: tuple[str, ...]
    text: str = ""
    # For the model's bar when no risky phrase stands: the markers of every language looked in,
    # and how many everyday idioms (``not_crisis``) were found.
    around: tuple[Marker, ...] = ()
    idioms: int = 0

    @property
    def set_aside(self) -> str | None:
        """Why the risky phrases found are not a crisis here (past, joke...), or None."""
        if not self.matches:
            return None
        spans = [(m.start, m.end) for m in self.matches]
        markers = list(self.markers)
        if any(m.kind == "self_harm" for m in self.matches):
            # Being out of danger does not end the wish to die ("since I escaped I think about
            # ending my life"), and "what if I just ended it all" is no mere worry: neither
            # safety now nor a hypothesis sets a self-harm phrase aside.
            markers = [m for m in markers if m.name not in ("safe_now", "hypothetical")]
        return set_aside(markers, spans, self.text)

    @property
    def tempered(self) -> str | None:
        """Why the model's own crisis reading needs more certainty here (context.tempering), or
        None; always None when a risky phrase stands (the lexicons have decided)."""
        if self.matches and self.set_aside is None:
            return None
        return self.set_aside or tempering(list(self.around), self.idioms, self.text)


class Lexicons:
    """Every enabled language's lexicons. ``read`` looks in the languages it is given (the
    screen gives those the message may be in, so Spanish "me mato" never fires on a Portuguese
    idiom), or in all of them.

    Admins' phrases are swapped in with ``set_added``: the new tables are built aside, then
    replace the old ones in one assignment, so a message being screened meanwhile sees either
    the old or the new lexicon, never half of one.
    """

    def __init__(
        self,
        languages: list[str],
        directory: Path = LEXICON_DIR,
        lemmas: Callable[[str], Mapping[str, str]] | None = None,
    ) -> None:
        self.languages = languages
        self.directory = directory
        self._lemmas = lemmas  # a complete table per language instead of the shipped ones
        self._tables: dict[str, LanguageLexicon] | None = None
        self._added: dict[str, dict[str, list[str]]] = {}
        self._lock = threading.Lock()

    @property
    def by_language(self) -> dict[str, LanguageLexicon]:
        tables = self._tables
        if tables is None:
            with self._lock:
                if self._tables is None:
                    self._tables = {
                        lang: (
                            LanguageLexicon(lang, self.directory, self._lemmas(lang))
                            if self._lemmas
                            else shipped_lexicon(lang, self.directory)
                        ).with_added(self._added.get(lang, {}))
                        for lang in self.languages
                    }
                tables = self._tables
        return tables

    def set_added(self, added: dict[str, dict[str, list[str]]]) -> None:
        """Replace the admins' phrases: ``{language: {kind: [phrase, ...]}}``."""
        with self._lock:
            self._added = {lang: dict(kinds) for lang, kinds in added.items()}
            if self._tables is not None:
                self._tables = {
                    lang: lex.with_added(self._added.get(lang, {}))
                    for lang, lex in self._tables.items()
                }

    def candidate(self, language: str, kind: str, phrase: str) -> Lexicons:
        """These lexicons plus one phrase, to measure it before it goes live."""
        current = self.by_language
        lex = current[language]
        lines = {k: list(v) for k, v in lex.added_lines.items()}
        lines.setdefault(kind, []).append(phrase)
        other = Lexicons(self.languages, self.directory, self._lemmas)
        other._tables = {**current, language: lex.with_added(lines)}
        return other

    def read(self, text: str, languages: Iterable[str] | None = None) -> Reading:
        """Risky phrases and context markers of ``languages`` (all when None) in ``text``."""
        tables = self.by_language
        chosen = [lang for lang in (languages or tables) if lang in tables] or list(tables)
        found = self._found(text, chosen)
        # A denied wish ("it's not that I want to hurt myself") is no self-harm phrase; the model
        # still reads the message, at the ordinary bar.
        matches = [
            m
            for m in self._kept(found)
            if m.kind != "self_harm" or not denied(text, m.start, m.phrase, m.language)
        ]
        shared = laughter(text)
        by_language = {lang: tables[lang].markers(text) for lang in chosen}
        # Markers in the languages of the phrases found: a Portuguese "no passado" read into a
        # French sentence must not set a French crisis aside.
        markers = list(shared)
        for lang in dict.fromkeys(m.language for m in matches):
            markers.extend(by_language[lang])
        around = shared + [m for lang in chosen for m in by_language[lang]]
        idioms = sum(m.kind == "veto" for m in found)
        return Reading(tuple(matches), tuple(markers), tuple(chosen), text, tuple(around), idioms)

    def scan(self, text: str, languages: Iterable[str] | None = None) -> list[Match]:
        """The matches that make ``text`` a crisis on the lexicons alone: none when its context
        (past, joke, conditional) sets them aside."""
        reading = self.read(text, languages)
        return [] if reading.set_aside else list(reading.matches)

    def matches(self, text: str, languages: Iterable[str]) -> list[Match]:
        """Crisis, self-harm and others matches, less those inside an everyday idiom."""
        return self._kept(self._found(text, languages))

    def _found(self, text: str, languages: Iterable[str]) -> list[Match]:
        found: list[Match] = []
        tables = self.by_language
        for lang in languages:
            found.extend(tables[lang].scan(text))
        return found

    @staticmethod
    def _kept(found: list[Match]) -> list[Match]:
        vetoes = [(m.start, m.end) for m in found if m.kind == "veto"]
        kept = [
            m
            for m in found
            if m.kind != "veto" and not any(vs <= m.start and m.end <= ve for vs, ve in vetoes)
        ]
        # Grammatical person: a phrase gives way to one of another list over the same words that
        # matches them more exactly (a self-harm "me voy a matar" reached through the lemma of
        # "van"; a first-person "fui sequestrada" reached through the lemma of "foi"), and a
        # self-harm phrase to a crisis phrase as exact with more of the words ("matarme" inside
        # "van a matarme").
        return [
            m
            for m in kept
            if not any(o.kind != m.kind and _outweighs(o, m) for o in kept if o is not m)
        ]
