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
        self.lexicons = Lexicons(languages)
        self.commands = CommandMatcher(extra_exit_words)

    def warm_up(self) -> None:
        """Load every language's tables now rather than on the first (possibly urgent) message."""
        _ = self.lexicons.by_language

    def screen(self, text: str) -> Screening:
        command = self.commands.match(text)
        if command is not None:
            return Screening(command=command)
        return Screening(matches=self.lexicons.scan(text))
