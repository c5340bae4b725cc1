"""The console's own strings, in the staff member's language (Babel domain ``console``).

Kept apart from the survivor-facing ``messages`` domain: different readers, different reviewers.
``make messages`` extracts ``_("…")`` from bot/console/ (Python and templates) into
``locales/console.pot`` and updates ``locales/<lang>/LC_MESSAGES/console.po``; the ``.po`` files
are read directly, so an edit shows without compiling. Placeholders are ``%(name)s``.

``python -m bot.console.i18n en`` makes the English catalog mirror its source strings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po, write_po

from bot.settings import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
DOMAIN = "console"
Gettext = Callable[..., str]


def _path(locales: Path, language: str) -> Path:
    return locales / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string.strip()
        if not m.fuzzy
    }


class ConsoleText:
    def __init__(self, languages: list[str], locales: Path = LOCALES_DIR) -> None:
        self.languages = languages
        self.tables = {lang: load(_path(locales, lang)) for lang in languages}

    def gettext(self, language: str) -> Gettext:
        table = self.tables.get(language, {})

        def _(message: str, **values: Any) -> str:
            text = table.get(message) or message
            return text % values if values else text

        return _

    def missing(self, language: str, source: list[str]) -> list[str]:
        table = self.tables.get(language, {})
        return [m for m in source if m not in table]


def source_strings(locales: Path = LOCALES_DIR) -> list[str]:
    template = locales / f"{DOMAIN}.pot"
    with template.open("rb") as fh:
        return [str(m.id) for m in read_po(fh) if m.id and isinstance(m.id, str)]


def fill_source_language(language: str = "en", locales: Path = LOCALES_DIR) -> int:
    path = _path(locales, language)
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    changed = 0
    for message in catalog:
        if message.id and message.string != message.id:
            message.string = message.id
            message.flags.discard("fuzzy")
            changed += 1
    with path.open("wb") as fh:
        write_po(fh, catalog)
    return changed


if __name__ == "__main__":
    lang = sys.argv[1] if len(sys.argv) > 1 else "en"
    print(f"{fill_source_language(lang)} English console strings refreshed")
