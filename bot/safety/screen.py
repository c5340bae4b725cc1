"""The safety screen: the deterministic checks every message passes before any model sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.safety.commands import CommandHit, CommandMatcher
from bot.safety.lexicon import Lexicons, Match


@dataclass(frozen=True)
class Screening:
    command: CommandHit | None = None
    matches: list[Match] = field(default_factory=list)

    @property
    def crisis(self) -> bool:
        return bool(self.matches)

    @property
    def self_harm(self) -> bool:
        return any(m.kind == "self_harm" for m in self.matches)

    @property
    def language_hint(self) -> str | None:
        """The language whose lexicon matched, when only one did."""
        langs = {m.language for m in self.matches}
        return langs.pop() if len(langs) == 1 else None


class SafetyScreen:
    def __init__(self, languages: list[str], extra_exit_words: list[str] | None = None) -> None:
        self.languages = languages
        self.lexicons = Lexicons(languages)
        self.settings_exit_words = list(extra_exit_words or [])
        self.exit_words: dict[str, list[str]] = {}
        self.commands = CommandMatcher(self.settings_exit_words)

    def set_exit_words(self, by_language: dict[str, list[str]]) -> None:
        """The admins' exit words, effective for the next message (one assignment swaps them)."""
        self.commands = CommandMatcher(self.settings_exit_words, by_language)
        self.exit_words = {lang: list(words) for lang, words in by_language.items()}

    def set_lexicon_entries(self, added: dict[str, dict[str, list[str]]]) -> None:
        """The admins' crisis, self-harm and not-crisis phrases, per language and list."""
        self.lexicons.set_added(added)

    def warm_up(self) -> None:
        """Load every language's tables now rather than on the first (possibly urgent) message."""
        _ = self.lexicons.by_language

    def screen(self, text: str) -> Screening:
        command = self.commands.match(text)
        if command is not None:
            return Screening(command=command)
        return Screening(matches=self.lexicons.scan(text))
