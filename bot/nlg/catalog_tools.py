"""Catalog maintenance for ``make messages``: the English catalog mirrors the source texts.

English is both the source language and a catalog of its own, so an admin's wording change to an
English text is a catalog edit like any other (and the fallback text stays the reviewed source).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

from bot.nlg.catalog import LOCALES_DIR


def fill_source_language(language: str = "en", locales: Path = LOCALES_DIR) -> int:
    path = locales / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    changed = 0
    for message in catalog:
        if message.id and message.string != message.id:
            message.string = message.id
            message.flags.discard("fuzzy")
            changed += 1
    with path.open("wb") as fh:
        write_po(fh, catalog, width=100)
    return changed


if __name__ == "__main__":
    language = sys.argv[1] if len(sys.argv) > 1 else "en"
    print(f"{fill_source_language(language)} English texts refreshed")
