"""Which language to answer in: explicit choice > sticky conversation language > detector > hint.

The detector is lingua, restricted to the enabled languages, and is trusted only on messages of a
few words: greetings such as "oi" or "ok" are ambiguous. A conversation changes language only on an
explicit choice or on two confident detections in a row (never on a one-word message).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lingua import Language, LanguageDetectorBuilder

from bot.languages import LANGUAGES
from bot.safety.text import fold_command

_LINGUA = {lang.code: getattr(Language, lang.lingua) for lang in LANGUAGES}
# Messages too short for the detector ("oi" reads as French to it): a first guess, confirmable.
SHORT_OPENERS = {word: lang.code for lang in LANGUAGES for word in lang.short_words}
MIN_WORDS_TO_SWITCH = 4
SWITCH_CONFIDENCE = 0.85


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float
    words: int


class LanguageDetector:
    def __init__(self, languages: list[str]) -> None:
        self.languages = [lang for lang in languages if lang in _LINGUA]
        self._last: tuple[str, list[Any]] | None = None

    @cached_property
    def _detector(self):  # type: ignore[no-untyped-def]
        return LanguageDetectorBuilder.from_languages(
            *(_LINGUA[lang] for lang in self.languages)
        ).build()

    def warm_up(self) -> None:
        self.detect("warm up the detector models")

    def _values(self, text: str) -> list[Any]:
        """lingua's confidences for ``text``; the last message's are kept, because the safety
        screen (``shares``) and the reply language (``detect``) both read the same message."""
        cached = self._last
        if cached is not None and cached[0] == text:
            return cached[1]
        values = list(self._detector.compute_language_confidence_values(text))
        self._last = (text, values)
        return values

    def shares(self, text: str) -> dict[str, float]:
        """Each enabled language's share of the guess (they sum to 1): the safety screen reads a
        message with the lexicons of the languages it may be in."""
        values = self._values(text)
        by_lingua = {lang: code for code, lang in _LINGUA.items()}
        return {by_lingua[v.language]: float(v.value) for v in values if v.language in by_lingua}

    def detect(self, text: str) -> Detection | None:
        words = len(text.split())
        if not words:
            return None
        values = self._values(text)
        if not values:
            return None
        best = values[0]
        code = next(c for c, lang in _LINGUA.items() if lang == best.language)
        return Detection(code, float(best.value), words)


@dataclass
class LanguageDecision:
    language: str
    confident: bool
    candidate: str | None  # remembered for the two-in-a-row rule


def decide(
    current: str | None,
    candidate: str | None,
    detection: Detection | None,
    hint: str | None,
    default: str,
    text: str = "",
) -> LanguageDecision:
    """Pick the reply language for one message of an ongoing or new conversation."""
    if current is None:
        opener = SHORT_OPENERS.get(fold_command(text)) if text else None
        if opener:
            return LanguageDecision(opener, False, None)
        if detection and (detection.words >= 3 or hint is None):
            confident = detection.words >= 3 and detection.confidence >= 0.6
            if hint and not confident:
                return LanguageDecision(hint, False, None)
            return LanguageDecision(detection.language, confident, None)
        if hint:
            return LanguageDecision(hint, False, None)
        return LanguageDecision(default, False, None)
    if (
        detection
        and detection.language != current
        and detection.words >= MIN_WORDS_TO_SWITCH
        and detection.confidence >= SWITCH_CONFIDENCE
    ):
        if candidate == detection.language:
            return LanguageDecision(detection.language, True, None)
        return LanguageDecision(current, True, detection.language)
    return LanguageDecision(current, True, None)
