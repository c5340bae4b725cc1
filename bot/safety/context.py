"""When and how a risky phrase is meant: the context rules of the crisis decision.

A lexicon phrase says what happened ("they locked me in"); the words around it say when and how.
"Years ago" or "I'm out now" put it in a past told from safety; "lol" or "if I'm late again" make
it a joke or an everyday hyperbole. The lexicons alone do not answer such a message as a crisis:
the model, trained on the same kinds of message, reads it whole and may still find danger in it.
A marker of the present ("right now", "tonight", "he is outside") keeps the crisis, unless it lies
inside the past or safe phrase itself ("I'm safe *now*").

Markers are phrases of each language's ``context.yml`` (matched like lexicon phrases), plus the
laughter every language writes alike (haha, jajaja, kkkk, rsrs, mdr, emoji), found by pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The lists of a language's context.yml, and what each means for a risky phrase.
MARKERS = ("past", "safe_now", "joke", "conditional", "present")
# In this order, the first present decides the reason a lexicon match is set aside.
SETS_ASIDE = ("joke", "conditional", "past", "safe_now")
# Only a past or safe marker contains a present one ("I am safe now"): a joke stays a joke.
COVERS_PRESENT = ("past", "safe_now", "conditional")

_LAUGHTER = re.compile(
    r"(?<![\w])(?:"
    r"(?:ha|ja|je|he|hi|ji|hu|ju){2,}h?"  # haha, jajaja, jejeje, hihi
    r"|k{3,}"  # kkkk (Portuguese)
    r"|(?:rs){2,}"  # rsrs (Portuguese)
    r"|l+o+l+z*|lmf?ao+|rofl|xd+|mdr+|ptdr+|lol+s?"
    r")(?![\w])"
    r"|[\U0001F602\U0001F923\U0001F606\U0001F605\U0001F61C\U0001F61D\U0001F92A]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Marker:
    name: str  # one of MARKERS
    language: str  # "" for the laughter every language shares
    phrase: str
    start: int
    end: int


def laughter(text: str) -> list[Marker]:
    """Laughter written the same way in every language: a joke marker."""
    return [Marker("joke", "", m.group(0), m.start(), m.end()) for m in _LAUGHTER.finditer(text)]


def set_aside(markers: list[Marker]) -> str | None:
    """The reason risky phrases are not a crisis on their own here, or None when they are.

    A present marker keeps the crisis unless a past, safe or conditional phrase contains it.
    """
    covering = [(m.start, m.end) for m in markers if m.name in COVERS_PRESENT]
    present = [
        m
        for m in markers
        if m.name == "present" and not any(s <= m.start and m.end <= e for s, e in covering)
    ]
    if present:
        return None
    names = {m.name for m in markers}
    return next((name for name in SETS_ASIDE if name in names), None)
