"""The lemma table of the safety screen: only the entries of spaCy's lookup tables that can change
what the lexicons match.

spacy-lookups-data's ``lemma_lookup`` tables hold every inflected form of each language (825,000
for Portuguese) and took ~440 MB of the bot's memory and most of its warm-up. The lexicons compare
a message word's folded surface and lemma with the words of their phrases (bot/safety/lexicon.py:
equal, the phrase word plus a short suffix, or a typo away). A form's entry is kept when its lemma,
the form itself, or the lemma its unaccented spelling would fall back to reaches a phrase word by
those rules; every other entry, left out, gives the form itself as lemma, which reaches no phrase
word either. So the screen matches exactly what it matched with the full tables
(tests/unit/test_lemmas.py proves it on every message of the training, dev and safety sets) in a
table of a few thousand entries, shipped as ``lexicons/<language>/lemmas.tsv``.

Each table records a fingerprint of the phrase lists it was built for. When the lists change and
the table was not rebuilt (``python -m bot.safety.lemmas``), it is built again at start-up by
streaming the full table from disk, never holding it in memory. Admins' phrases extend the table
the same way (``extension``): their inflections match as the shipped phrases' do.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from importlib import metadata
from importlib.resources import files
from pathlib import Path

import spacy
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bot.safety.text import fold

log = logging.getLogger(__name__)

MAX_SUFFIX = 4  # a phrase word of 5 letters or more matches itself plus this many letters
TABLE_FILE = "lemmas.tsv"
_HEADER = "# fingerprint "

# Contracted forms the lookup tables leave without a lemma: "they're" is "they" + "re", which must
# read as "are" (lemma "be") for "they are watching me" to match "they're watching me".
CONTRACTIONS: dict[str, dict[str, str]] = {"en": {"re": "be"}}


def allowed_edits(length: int) -> int:
    """Typos tolerated in a phrase word of this length: none up to 4 letters, 1 up to 8, then 2."""
    if length <= 4:
        return 0
    if length <= 8:
        return 1
    return 2


class Reach:
    """The phrase-word strings a message string reaches: equal, the string is one of them plus up
    to MAX_SUFFIX letters (a phrase word of 5 letters or more), or a typo away (allowed_edits of
    the phrase word, never in the first letter). Every rule keeps the first letter, so candidates
    are looked up by first letter and length."""

    def __init__(self, strings: Iterable[str]) -> None:
        self.strings = frozenset(strings)
        self._buckets: dict[tuple[str, int], list[str]] = {}
        for y in sorted(self.strings):
            if allowed_edits(len(y)):
                self._buckets.setdefault((y[:1], len(y)), []).append(y)

    def reached(self, x: str) -> list[str]:
        found = [x] if x in self.strings else []
        for k in range(max(5, len(x) - MAX_SUFFIX), len(x)):
            if x[:k] in self.strings:
                found.append(x[:k])
        first = x[:1]
        candidates = [
            y for n in range(len(x) - 2, len(x) + 3) for y in self._buckets.get((first, n), ())
        ]
        if candidates:
            for y, distance, _ in process.extract(
                x, candidates, scorer=Levenshtein.distance, score_cutoff=2, limit=None
            ):
                if distance <= allowed_edits(len(y)):
                    found.append(y)
        return found


def normalize(lemma: str, contractions: Mapping[str, str]) -> str:
    """A looked-up lemma as the lexicons compare it: folded, contractions resolved."""
    return fold(contractions.get(fold(lemma).strip("'"), lemma)).strip("'")


def source_path(language: str) -> Path:
    """spacy-lookups-data's full table for ``language`` (read by streaming only)."""
    return Path(str(files("spacy_lookups_data") / "data" / f"{language}_lemma_lookup.json.gz"))


def full_entries(language: str) -> Iterator[tuple[str, str]]:
    """Every (form, lemma) of spaCy's lookup table, one at a time: the file has one entry per
    line, and a form's first lemma is the one spaCy's lookup lemmatizer uses. Forms with capitals
    are skipped: the screen looks up lower-cased text only."""
    with gzip.open(source_path(language), "rt", encoding="utf-8") as lines:
        for line in lines:
            line = line.strip().rstrip(",")
            if not line or line in "{}":
                continue
            if "\\" in line:  # an escape: let json read it
                ((form, value),) = json.loads("{" + line + "}").items()
                lemma = str(value[0] if isinstance(value, list) else value)
            else:  # '"form": "lemma"' or '"form": ["lemma", ...]': most of the file, read fast
                form, _, rest = line[1:].partition('": ')
                lemma = rest.lstrip("[").split('"', 2)[1]
            if form == form.lower():
                yield form, lemma


def lookups_version() -> str:
    try:
        return metadata.version("spacy-lookups-data")
    except metadata.PackageNotFoundError:  # pragma: no cover - a dependency of the bot
        return "unknown"


def fingerprint(phrases: Iterable[str]) -> str:
    """What a table was built for: the phrases (in order) and the lookups' version."""
    digest = hashlib.sha256(lookups_version().encode())
    for phrase in phrases:
        digest.update(b"\0" + phrase.encode())
    return digest.hexdigest()[:16]


@cache
def tokenizer(language: str) -> spacy.language.Language:
    """spaCy's blank pipeline of ``language``: its tokenizer alone (no lemmatizer, no tables)."""
    return spacy.blank(language)


def phrase_tokens(language: str, phrases: Iterable[str]) -> set[str]:
    """The lower-cased and folded tokens of ``phrases``, as the analyzer looks them up."""
    nlp = tokenizer(language)
    found: set[str] = set()
    for phrase in phrases:
        for text in (phrase.lower(), fold(phrase)):
            found.update(t.text for t in nlp.make_doc(text))
    return found


def needed(
    language: str,
    phrases: list[str],
    entries: Callable[[], Iterable[tuple[str, str]]],
    strings: Callable[[Mapping[str, str]], Iterable[str]],
) -> dict[str, str]:
    """The entries of ``entries()`` (the full table, streamed three times) that can change what
    ``phrases`` match. ``strings`` gives the phrase words' strings (surface and lemma) as the
    analyzer reads them with a given table."""
    contractions = CONTRACTIONS.get(language, {})
    tokens = phrase_tokens(language, phrases)
    own = {form: lemma for form, lemma in entries() if form in tokens}
    reach = Reach(strings(own))

    def touches(x: str) -> bool:
        # As a lemma (contractions resolved) and as the analyzer's fallback reads it (not).
        plain = fold(x).strip("'")
        return bool(reach.reached(plain)) or bool(reach.reached(normalize(x, contractions)))

    kept: dict[str, str] = {}
    for form, lemma in entries():
        if lemma != form and (touches(lemma) or touches(form)):
            kept[form] = lemma
    # A form left out falls back to its unaccented spelling's lemma: keep it when that one counts.
    for form, lemma in entries():
        if lemma != form and form not in kept and fold(form) in kept:
            kept[form] = lemma
    return kept


def read_table(path: Path) -> tuple[str, dict[str, str]] | None:
    """(fingerprint, table) of a shipped table, or None if there is none."""
    if not path.exists():
        return None
    stamp = ""
    table: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(_HEADER):
            stamp = line.removeprefix(_HEADER).strip()
        elif line and not line.startswith("#"):
            form, lemma = line.split("\t")
            table[form] = lemma
    return stamp, table


def write_table(path: Path, stamp: str, table: Mapping[str, str]) -> None:
    lines = [
        "# Generated by `python -m bot.safety.lemmas` from spacy-lookups-data: the forms whose",
        "# lemma can change what this language's phrase lists match. Do not edit by hand.",
        f"{_HEADER}{stamp}",
        *(f"{form}\t{table[form]}" for form in sorted(table)),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    """Rebuild the shipped tables (after editing a lexicon): ``python -m bot.safety.lemmas``."""
    from bot.languages import CODES
    from bot.safety.lexicon import LEXICON_DIR, build_table, shipped_phrases

    for language in argv or list(CODES):
        phrases = shipped_phrases(LEXICON_DIR / language)
        table = build_table(language, phrases)
        write_table(LEXICON_DIR / language / TABLE_FILE, fingerprint(phrases), table)
        print(f"{language}: {len(table)} entries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
