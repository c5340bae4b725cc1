"""What a person says about themselves, or asks about this service, read before any model.

Four things, each of which must never depend on a model's guess:

- **age**: "hi im 15", "tengo 15 años", "tenho quinze anos", "j'ai 15 ans", "soy menor". A young
  person gets the child line and what confidentiality means for them before any personal question;
  a stated adult age clears it again.
- **status questions**: "will I get deported if I call?", "vocês vão chamar a polícia federal?",
  "will you tell my school?". They get a direct, honest answer, not a country question.
- **probing**: "show me what she said", "who is this number?". Someone looking for another
  person gets a short neutral answer that reveals nothing.
- **filters** the person asks for: services for men (never a women-only one), LGBTQ+-affirming,
  for children, reachable without a voice call.

It also tells whether a message puts another person at the centre ("my sister", "someone"), so a
first-person disclosure is never answered as a report about someone else.

The word lists are per language, in ``lexicons/<code>/people.yml``: regular expressions over the
folded message (lowercase, no accents, apostrophes as spaces). Every language's list is read for
every message: these phrases are specific enough that one language's never means something else
in another, and a short "im 15" gives a language detector nothing to go on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.safety.text import fold

LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"
PEOPLE_FILE = "people.yml"
# The filters a person can ask for, in the order replies name them.
FILTERS: tuple[str, ...] = ("men", "lgbtq", "children", "no_voice")
ADULT = 18
# Younger than this, a number is more likely a count ("I'm 5 minutes away") than an age.
YOUNGEST = 8
_APOSTROPHES = re.compile(r"['’‘`´]")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d_]{2,}")
# Where a sentence ends: a status question's parts must be said in one (``status_question``).
_SENTENCES = re.compile(r"(?<=[.!?;\n])\s*")
# The end of a clause: what must follow an age written without "years" ("tengo 15.", "im 15 and"),
# so that "I'm 15 minutes away" or "tengo 15 dólares" is not an age.
_CLAUSE_END = (
    r"(?=\s*(?:$|[.,;:!?)]|(?:and|but|y|pero|e|mas|et|mais|so|lol|too|tambien|tambem|aussi)\b))"
)


def prepare(text: str) -> str:
    """The form every pattern reads: folded, apostrophes as spaces, single spaces."""
    return _SPACES.sub(" ", _APOSTROPHES.sub(" ", fold(text))).strip()


@dataclass(frozen=True)
class PeopleReading:
    """What one message says; empty for a message with none of it."""

    minor: bool | None = None  # True: under 18; False: an adult age stated; None: nothing said
    status: bool = False  # asks about police, immigration, deportation or papers
    probing: bool = False  # asks for another person's messages, or who owns this number
    filters: frozenset[str] = frozenset()
    about_other: bool = False  # another person is at the centre ("my sister", "someone")
    # Words left once the age and filter phrases are taken out: "hi im 15" leaves one, so it
    # says only that; "tengo 15 años y necesito dónde dormir" asks for something as well.
    rest_words: int = 0
    # Why, in a few words, for ``bot eval`` and tests (never the message itself).
    reasons: tuple[str, ...] = ()


class _Language:
    """One language's compiled lists."""

    def __init__(self, code: str, data: dict[str, Any]) -> None:
        self.code = code
        self.numbers = {str(k): int(v) for k, v in (data.get("numbers") or {}).items()}
        words = sorted(self.numbers, key=len, reverse=True)
        age = r"(?P<age>\d{1,2}" + "".join("|" + re.escape(w) for w in words) + r")(?![\w-])"
        self.age = [re.compile(str(p).replace("{age}", age)) for p in data.get("age") or []]
        self.age += [
            re.compile(str(p).replace("{age}", age) + _CLAUSE_END)
            for p in data.get("age_bare") or []
        ]
        self.minor = _any_of(data.get("minor") or [])
        status = data.get("status") or {}
        self.status = {part: _any_of(status.get(part) or []) for part in _STATUS_PARTS}
        self.probing = _any_of(data.get("probing") or [])
        filters = data.get("filters") or {}
        unknown = set(filters) - set(FILTERS)
        if unknown:
            raise ValueError(f"{code}/{PEOPLE_FILE}: unknown filters {sorted(unknown)}")
        self.filters = {name: _any_of(filters.get(name) or []) for name in FILTERS}
        self.others = _any_of(data.get("others") or [])
        self.fillers = frozenset(str(w) for w in data.get("fillers") or [])

    def ages(self, text: str) -> list[tuple[int, tuple[int, int]]]:
        """Every age stated, with where it was said."""
        found = []
        for pattern in self.age:
            for hit in pattern.finditer(text):
                word = hit.group("age")
                value = int(word) if word.isdigit() else self.numbers.get(word)
                if value is not None and value >= YOUNGEST:
                    found.append((value, hit.span()))
        return found

    def status_question(self, text: str) -> str | None:
        """Which part made ``text`` a status question, or None."""
        has = {part: bool(rx and rx.search(text)) for part, rx in self.status.items()}
        if not has["question"]:
            return None
        if has["deport"]:
            return "deport"
        if has["papers"]:
            return "papers"
        # Authorities are common words ("école", "mes parents", "police"): the question is
        # about them only when one sentence asks it, names them and says what we would do.
        # "There is a girl who never goes to school. Now he hits her. Who do I call?" is not
        # a question about telling her school; read as one, it was answered as such.
        if has["authority"] and has["action"] and has["worry"]:
            parts = [self.status[part] for part in ("question", "authority", "action", "worry")]
            for sentence in _SENTENCES.split(text):
                if all(rx is not None and rx.search(sentence) for rx in parts):
                    return "authority"
        return None

    def names_authority(self, text: str) -> bool:
        rx = self.status["authority"]
        return bool(rx and rx.search(text))


_STATUS_PARTS = ("question", "deport", "papers", "authority", "action", "worry")


def _any_of(patterns: Iterable[Any]) -> re.Pattern[str] | None:
    listed = [str(p) for p in patterns if p]
    return re.compile("|".join(f"(?:{p})" for p in listed)) if listed else None


def load(code: str, directory: Path = LEXICON_DIR) -> dict[str, Any]:
    path = directory / code / PEOPLE_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    return data


class PeopleReader:
    """Reads messages against every enabled language's ``people.yml`` (module docstring)."""

    def __init__(self, languages: Iterable[str], directory: Path = LEXICON_DIR) -> None:
        self.languages = [_Language(code, load(code, directory)) for code in languages]
        self.fillers = frozenset().union(*(lang.fillers for lang in self.languages))

    def read(self, text: str) -> PeopleReading:
        folded = prepare(text)
        if not folded:
            return PeopleReading()
        reasons: list[str] = []
        spans: list[tuple[int, int]] = []
        ages = [(lang.code, found) for lang in self.languages for found in lang.ages(folded)]
        minor: bool | None = None
        if ages:
            code, (age, _) = min(ages, key=lambda pair: pair[1][0])
            minor = age < ADULT
            spans += [span for _, (_, span) in ages]
            reasons.append(f"{code}/age {'under' if minor else 'over'} {ADULT}")
        for lang in self.languages:
            hit = lang.minor.search(folded) if lang.minor is not None else None
            if hit:
                minor = True
                spans.append(hit.span())
                reasons.append(f"{lang.code}/minor")
                break
        asked: dict[str, str] = {}
        for lang in self.languages:
            part = lang.status_question(folded)
            if part:
                asked[lang.code] = part
        status = bool(asked)
        if asked:
            parts = sorted(set(asked.values()))
            reasons.append(f"{'+'.join(asked)}/status {'+'.join(parts)}")
        probed = [
            lang.code
            for lang in self.languages
            if lang.probing is not None and lang.probing.search(folded)
        ]
        probing = bool(probed)
        if probed:
            reasons.append(f"{'+'.join(probed)}/probing")
        filters: set[str] = set()
        for lang in self.languages:
            for name, rx in lang.filters.items():
                hits = [h.span() for h in rx.finditer(folded)] if rx is not None else []
                if hits:
                    spans += hits
                    if name not in filters:
                        filters.add(name)
                        reasons.append(f"{lang.code}/filter {name}")
        about_other = any(
            lang.others is not None and lang.others.search(folded) for lang in self.languages
        )
        rest = "".join(
            " " if any(start <= i < end for start, end in spans) else ch
            for i, ch in enumerate(folded)
        )
        return PeopleReading(
            minor=minor,
            status=status,
            probing=probing,
            filters=frozenset(filters),
            about_other=about_other,
            rest_words=sum(1 for word in _WORD.findall(rest) if word not in self.fillers),
            reasons=tuple(reasons),
        )

    def names_authority(self, text: str) -> bool:
        """Whether ``text`` names the police, immigration or another authority in any language:
        a crisis phrase that is only "call the police" inside a question about us is the
        question, not a crisis (bot/conversation/people.py)."""
        folded = prepare(text)
        return any(lang.names_authority(folded) for lang in self.languages)
