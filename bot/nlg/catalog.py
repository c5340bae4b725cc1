"""Message texts per language from the Babel catalogs in ``locales/``.

The ``.po`` files are read directly (no stale ``.mo`` can hide an edit). A text missing or fuzzy
in a language falls back to the reviewed English source, never to an empty message.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from bot.nlg.messages import BUTTON_TEXTS, MESSAGES, WEBCHAT_TEXTS
from bot.settings import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
DOMAIN = "messages"


def source_texts() -> dict[str, str]:
    texts = {key: m.text for key, m in MESSAGES.items()}
    texts.update(BUTTON_TEXTS)
    texts.update(WEBCHAT_TEXTS)
    return texts


class Catalog:
    def __init__(self, languages: list[str], locales_dir: Path = LOCALES_DIR) -> None:
        self.languages = languages
        self.sources = source_texts()
        self._texts: dict[str, dict[str, str]] = {}
        self._overrides: dict[tuple[str, str], str] = {}  # approved admin edits (bot/nlg/edits.py)
        for lang in languages:
            self._texts[lang] = self._load(locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po")

    @staticmethod
    def _load(path: Path) -> dict[str, str]:
        if not path.exists():
            return {}
        with path.open("rb") as fh:
            catalog = read_po(fh)
        out: dict[str, str] = {}
        for message in catalog:
            if not message.id or not message.context or message.fuzzy:
                continue
            if isinstance(message.string, str) and message.string.strip():
                out[message.context] = message.string
        return out

    def set_overrides(self, overrides: dict[tuple[str, str], str]) -> None:
        self._overrides = dict(overrides)

    def text(self, key: str, language: str) -> str:
        override = self._overrides.get((key, language))
        if override:
            return override
        found = self._texts.get(language, {}).get(key)
        if found:
            return found
        return self.sources.get(key, key)

    def missing(self, language: str) -> list[str]:
        """Keys with no reviewed translation in ``language`` (the test suite requires none)."""
        have = self._texts.get(language, {})
        return sorted(key for key in self.sources if key not in have)
