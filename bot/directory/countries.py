"""Find a country in what someone typed ("estoy en mexico", "brasil", "I'm in the US")."""

from __future__ import annotations

import re

from babel import Locale

from bot.safety.text import fold

ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("usa", "u s a", "eeuu", "ee uu", "eua", "the states", "united states of america"),
    "DO": ("rd", "republica dominicana", "dominicana"),
    "GB": ("uk",),
    "BR": ("brasil",),
    "MX": ("mejico",),
    "HT": ("ayiti", "haiti"),
}


class CountryResolver:
    def __init__(self, languages: list[str], codes: list[str]) -> None:
        self.codes = codes
        names: dict[str, str] = {}
        for lang in languages:
            territories = Locale.parse(lang).territories
            for code in codes:
                if code in territories:
                    names[fold(territories[code])] = code
        for code, aliases in ALIASES.items():
            if code in codes:
                for alias in aliases:
                    names[fold(alias)] = code
        self._names = sorted(names.items(), key=lambda kv: -len(kv[0]))
        self._pattern = (
            re.compile(r"\b(" + "|".join(re.escape(n) for n, _ in self._names) + r")\b")
            if self._names
            else None
        )
        self._lookup = dict(self._names)

    def resolve(self, text: str) -> str | None:
        if not self._pattern:
            return None
        cleaned = re.sub(r"[^\w\s]", " ", fold(text))
        found = self._pattern.search(cleaned)
        return self._lookup[found.group(1)] if found else None
