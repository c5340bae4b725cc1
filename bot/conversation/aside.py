"""An aside before the request: "lol my cousin says she'll kill me if I burn the rice 😂 anyway,
hi!", "jajaja mi jefe es un explotador, mentira. oye, ¿qué significa servidumbre por deudas?".

People often open with a joke, a complaint or a story and ask at the end. Read whole, such a
message looks like small talk (``out_of_scope``) and the question at its end goes unanswered. When
the whole message reads as small talk, or as nothing the model is sure of, the part after the
aside is read on its own: after the last word that turns to the request ("anyway", "bueno",
"enfim", "bref": ``Language.turns``) at the start of a clause, or else the last sentence. Its
reading replaces the whole one only when it is a request the model is sure of.

Safety is not read here: the safety screen has already read the whole message, and a whole
message the model finds dangerous is never split (``understanding.run``).
"""

from __future__ import annotations

import re

from bot.languages import LANGUAGES
from bot.safety.text import fold

# What a part must be read as to count as the request (a yes, a no or a skip is an answer to a
# question, never a request of its own; small talk is what the aside already was).
NOT_A_REQUEST = frozenset({"out_of_scope", "nlu_fallback", "affirm", "deny", "skip"})
# Readings of the whole message that may hide a request after an aside.
ASIDE_INTENTS = frozenset({"out_of_scope"})
MIN_WORDS = 3  # in a last sentence taken as the request (after a turning word, any)
MIN_ASIDE_WORDS = 3  # before it: a short opening is no aside
_EMOJI = "\U0001f300-\U0001faff\u2600-\u27bf"
_END = rf"[.!?…\n{_EMOJI}]"
_WORD = re.compile(r"[^\W_]+")


def _turns_pattern() -> re.Pattern[str]:
    words = sorted({w for lang in LANGUAGES for w in lang.turns}, key=len, reverse=True)
    alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return re.compile(rf"(?:^|[,;:]|{_END})\s*(?:{alternatives})\b")


_TURNS = _turns_pattern()
_SENTENCE_END = re.compile(rf"{_END}+\s*")


def folded_in_place(text: str) -> str:
    """``text`` lower-cased and without accents, character for character (so that positions in
    it are positions in ``text``): a character whose folding is not one character is kept."""
    return "".join(base if len(base := fold(ch)) == 1 else ch for ch in text)


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def request_part(text: str) -> str | None:
    """The part of ``text`` after its aside, or None when there is no aside to set apart: after
    the last turning word with anything after it ("… 😂 anyway, hi!"), else after the last
    sentence end with a few words after it."""
    folded = folded_in_place(text)
    for found in reversed(list(_TURNS.finditer(folded))):
        rest = text[found.end() :].lstrip(" ,:;!.-\n").strip()
        if _words(rest) and _words(text[: found.start()]) >= MIN_ASIDE_WORDS:
            return rest
    for found in reversed(list(_SENTENCE_END.finditer(folded))):
        rest = text[found.end() :].strip()
        if _words(rest) >= MIN_WORDS and _words(text[: found.start()]) >= MIN_ASIDE_WORDS:
            return rest
    return None
