"""The safety screen: the deterministic checks every message passes before any model sees it.

Commands first (exit, delete, stop: any language, any state). Then the crisis decision of the
lexicons, which reads three things: *what* (a risky phrase of ``crisis``, ``self_harm`` or
``others``), *in which language* (only the lexicons of the languages the message may be in: a
word of one language is often an everyday word of another) and *when and how* (context markers: a
past told from safety or a joke is set aside for the model to read whole). The screening keeps
every reason, so ``bot eval`` can say which rule decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.safety.commands import CommandHit, CommandMatcher
from bot.safety.context import Marker
from bot.safety.lexicon import Lexicons, Match

CrisisKind = Literal["self", "self_harm", "others"]
# Below this many words the language guess is not trusted: every lexicon looks.
MIN_WORDS_TO_NARROW = 3
# A language is looked in when its share of the guess reaches both of these: a fair share of its
# own, and half the leading language's (mixed messages get two; a Portuguese idiom with a
# Spanish-looking 0.26 beside Portuguese 0.62 does not wake the Spanish lexicon).
LANGUAGE_SHARE = 0.12
SHARE_OF_LEADER = 0.5


class LanguageGuess(Protocol):
    """How likely the message is in each enabled language (bot/language.py's detector)."""

    def shares(self, text: str) -> dict[str, float]: ...


@dataclass(frozen=True)
class Screening:
    command: CommandHit | None = None
    matches: list[Match] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    languages: tuple[str, ...] = ()
    set_aside: str | None = None  # why the matches found are not a crisis here
    # Why the model's crisis reading must be surer for this message (past, joke, idiom...): the
    # conversation then weighs it against BOT_CRISIS_THRESHOLD_IN_CONTEXT.
    tempered: str | None = None

    @property
    def crisis(self) -> bool:
        return bool(self.matches) and self.set_aside is None

    @property
    def kind(self) -> CrisisKind:
        """Whose danger, for the wording: self-harm first (it needs its own words most), then the
        writer's, then someone else's only."""
        kinds = {m.kind for m in self.matches}
        if "self_harm" in kinds:
            return "self_harm"
        return "others" if kinds == {"others"} else "self"

    @property
    def self_harm(self) -> bool:
        return self.kind == "self_harm"

    @property
    def language_hint(self) -> str | None:
        """The language whose lexicon matched, when only one did."""
        langs = {m.language for m in self.matches}
        return langs.pop() if len(langs) == 1 else None

    @property
    def reason(self) -> str:
        """The rule that decided, in a few words: for ``bot eval`` and tests, never logged with
        the message."""
        if self.command is not None:
            return f"command {self.command.command}"
        if not self.matches:
            return ""
        first = self.matches[0]
        said = f"lexicon {first.language}/{first.kind}: {first.phrase}"
        return f"{said} (set aside: {self.set_aside})" if self.set_aside else said


class SafetyScreen:
    def __init__(
        self,
        languages: list[str],
        extra_exit_words: list[str] | None = None,
        guess: LanguageGuess | None = None,
    ) -> None:
        self.languages = languages
        self.lexicons = Lexicons(languages)
        self.guess = guess
        self.settings_exit_words = list(extra_exit_words or [])
        self.exit_words: dict[str, list[str]] = {}
        self.commands = CommandMatcher(self.settings_exit_words)

    def set_exit_words(self, by_language: dict[str, list[str]]) -> None:
        """The admins' exit words, effective for the next message (one assignment swaps them)."""
        self.commands = CommandMatcher(self.settings_exit_words, by_language)
        self.exit_words = {lang: list(words) for lang, words in by_language.items()}

    def set_lexicon_entries(self, added: dict[str, dict[str, list[str]]]) -> None:
        """The admins' crisis, self-harm, others and not-crisis phrases, per language and list."""
        self.lexicons.set_added(added)

    def warm_up(self) -> None:
        """Load every language's tables now rather than on the first (possibly urgent) message."""
        _ = self.lexicons.by_language

    def languages_of(self, text: str, language: str | None = None) -> list[str]:
        """The languages whose lexicons read ``text``: those the guess gives a fair share, and the
        conversation's; all of them for a short message or without a guess."""
        if self.guess is None or len(text.split()) < MIN_WORDS_TO_NARROW:
            return list(self.languages)
        shares = self.guess.shares(text)
        bar = max(LANGUAGE_SHARE, SHARE_OF_LEADER * max(shares.values(), default=0.0))
        chosen = [lang for lang in self.languages if shares.get(lang, 0.0) >= bar]
        if language in self.languages and language not in chosen:
            chosen.append(language)
        return chosen or list(self.languages)

    def screen(self, text: str, language: str | None = None) -> Screening:
        """Commands, then the crisis decision; ``language`` is the conversation's, if known."""
        command = self.commands.match(text)
        if command is not None:
            return Screening(command=command)
        reading = self.lexicons.read(text, self.languages_of(text, language))
        return Screening(
            matches=list(reading.matches),
            markers=list(reading.markers),
            languages=reading.languages,
            set_aside=reading.set_aside,
            tempered=reading.tempered,
        )
