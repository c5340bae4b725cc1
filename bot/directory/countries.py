"""Find the country in what someone typed: a country ("estoy en mexico", "brasil", "I'm in the
US"), or a place in it ("Texas", "estoy en Buenos Aires", "CDMX", "Montréal").

Countries are named by Babel in every language we speak, for every territory in the world: a
person who names a country outside the directory ("Portugal") is told so honestly, never "I
don't know your country". Places (capitals, the largest cities, states, provinces and common
abbreviations) come from ``places.json``. A name several countries share ("Córdoba", "San José")
is narrowed by the person's language ("DF" is Mexico City in Spanish, Brasília in Portuguese);
what is still ambiguous is asked about, never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.languages import get_official_languages

from bot.safety.text import fold

PLACES_FILE = Path(__file__).resolve().parent / "places.json"

ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("usa", "u s a", "u s", "eeuu", "ee uu", "eua", "the states", "united states of america"),
    "DO": ("rd", "republica dominicana", "dominicana"),
    "GB": ("uk", "england", "inglaterra", "angleterre"),
    "BR": ("brasil",),
    "MX": ("mejico",),
    "HT": ("ayiti", "haiti"),
    "VE": ("venezuela",),
    "NL": ("holanda", "holland", "hollande"),
}
# Babel's territory codes that are not countries a person can be in, and the United States'
# territories (places.json lists them under the US: its numbers work there).
_NOT_COUNTRIES = frozenset(
    {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "XK", "AQ", "IC", "EA"}
    | {"PR", "VI", "GU", "AS", "MP", "UM"}
)
# Country names that are also everyday words or people's names: like the weak places, they count
# only as the whole message or right after "I'm in" (module docstring of ``places.json``).
_WEAK_COUNTRIES = frozenset(
    {"chad", "jordan", "jersey", "turkey", "guernsey", "niger", "reunion", "man", "georgia", "usa"}
)
# Words right before a name that say the person is there ("estoy en", "I'm in", "je suis à")...
_HERE = re.compile(
    r"\b(?:estoy|estamos|vivo|vivimos|ando|andamos|sigo|seguimos|quedo|encuentro|ahora|aqui|"
    r"trabajo|im|i m|i am|we are|we re|we|living|live|stay|staying|stuck|estou|to|moro|agora|"
    r"trabalho|fico|je suis|chu|nous sommes|on est|j habite|je vis|je travaille|mwen|m|n)\s+"
    r"(?:(?:here|now|still|aun|todavia|ainda|toujours|ap viv|viv)\s+)?"
    r"(?:en|in|em|no|na|nos|nas|a|au|aux|dans|nan)?\s*"
    r"(?:el|la|los|las|the|o|a|le|les)?\s*$"
)
# A short message that is only a preposition and a name ("in the usa", "au salvador").
_SHORT = re.compile(r"^(?:(?:en|in|em|no|na|a|au|aux|dans|nan)\s+)?(?:el|la|the|o|a|le|les)?\s*$")
# ...and words that say the person comes from there ("soy de", "I'm from", "je viens de").
_FROM = re.compile(
    r"\b(?:soy|somos|vengo|venimos|from|sou|venho|viens|venons|originaire|natural|nacido|"
    r"nacida|nasci|born|ne|nee|back|home|return|volver|regresar|voltar|volta|retornar|regressar|"
    r"retourner|rentrer|tounen|retounen)\s+(?:to|de|del|do|da|in|en|em|a|au|pra|pro|para)?\s*"
    r"(?:el|la|the|o|a|le)?\s*$"
)


def normal(text: str) -> str:
    """Folded, punctuation as spaces, single spaces: how both names and messages are compared."""
    return " ".join(re.sub(r"[^\w\s]|_", " ", fold(text)).split())


@dataclass(frozen=True)
class Places:
    """The contents of ``places.json``: names by country, the weak names, and the emergency
    numbers of countries outside the directory that have one everybody shares (112 in the EU)."""

    names: dict[str, tuple[str, ...]]
    weak: frozenset[str]
    outside: dict[str, dict[str, Any]]


@cache
def load_places(path: Path = PLACES_FILE) -> Places:
    data = json.loads(path.read_text(encoding="utf-8"))
    names = {code: tuple(found) for code, found in data.get("places", {}).items()}
    weak = frozenset(normal(n) for n in data.get("weak", []))
    outside = {str(k): dict(v) for k, v in data.get("outside", {}).items()}
    return Places(names, weak, outside)


def spoken_in(code: str) -> tuple[str, ...]:
    """The official languages of a country outside the directory (Babel's CLDR data)."""
    return tuple(get_official_languages(code, de_facto=True))


@dataclass(frozen=True)
class Found:
    """What a message named: the countries it may mean (one when settled), and whether each is in
    the directory. Empty ``codes``: no country or place was named."""

    codes: tuple[str, ...] = ()
    listed: tuple[str, ...] = ()
    # The name came after "I'm from", "back to", "volver a": where the person is from or wants to
    # go, which may not be where they are.
    elsewhere: bool = False

    @property
    def one(self) -> str | None:
        return self.codes[0] if len(self.codes) == 1 else None

    @property
    def one_listed(self) -> str | None:
        """The country, when exactly one was named and the directory has it."""
        return self.one if self.one in self.listed else None

    @property
    def ambiguous(self) -> bool:
        return len(self.codes) > 1


class CountryResolver:
    def __init__(
        self,
        languages: list[str],
        codes: list[str],
        spoken: Mapping[str, Iterable[str]] | None = None,
        places: Places | None = None,
    ) -> None:
        """``codes`` are the directory's countries; ``spoken`` their languages (to narrow a name
        several countries share)."""
        self.codes = codes
        self.listed = frozenset(codes)
        self.spoken = {code: tuple(langs) for code, langs in (spoken or {}).items()}
        places = places or load_places()
        self.places = places
        names: dict[str, set[str]] = {}

        def add(name: str, code: str) -> None:
            key = normal(name)
            if key:
                names.setdefault(key, set()).add(code)

        for lang in languages:
            for code, name in Locale.parse(lang).territories.items():
                if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES:
                    add(name, code)
        for code, aliases in ALIASES.items():
            for alias in aliases:
                add(alias, code)
        for code, found in places.names.items():
            for name in found:
                add(name, code)
        self._lookup = {name: tuple(sorted(found)) for name, found in names.items()}
        self._weak = places.weak | _WEAK_COUNTRIES
        ordered = sorted(self._lookup, key=len, reverse=True)
        self._pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in ordered) + r")\b")

    def find(self, text: str, language: str | None = None) -> Found:
        """The country or countries ``text`` names (module docstring)."""
        cleaned = normal(text)
        if not cleaned:
            return Found()
        best: tuple[int, tuple[str, ...]] | None = None
        for match in self._pattern.finditer(cleaned):
            name = match.group(1)
            before = cleaned[: match.start()]
            here = bool(_HERE.search(before))
            alone = bool(_SHORT.match(before)) and match.end() == len(cleaned)
            if name in self._weak and not (alone or here):
                continue
            score = 2 if here else 0 if _FROM.search(before) else 1
            if best is None or score > best[0]:
                best = (score, self._lookup[name])
        if best is None:
            return Found()
        codes = self._narrow(best[1], language)
        return Found(codes, tuple(c for c in codes if c in self.listed), best[0] == 0)

    def _narrow(self, codes: tuple[str, ...], language: str | None) -> tuple[str, ...]:
        """Of the countries a shared name may mean, those where the person's language is spoken;
        all of them when none is (the person is asked which)."""
        if len(codes) < 2 or not language:
            return codes
        fits = tuple(c for c in codes if language in self._languages(c))
        return fits or codes

    def _languages(self, code: str) -> tuple[str, ...]:
        return self.spoken[code] if code in self.spoken else spoken_in(code)

    def knows(self, name: str) -> bool:
        """Whether ``name`` (any spelling) is a country or place name this resolver matches."""
        return normal(name) in self._lookup

    def resolve(self, text: str, language: str | None = None) -> str | None:
        """The directory's country ``text`` names, when it names exactly one."""
        return self.find(text, language).one_listed

    def outside_emergency(self, code: str) -> str | None:
        """The emergency number of a country outside the directory, if ``places.json`` has one."""
        entry = self.places.outside.get(code)
        return str(entry["number"]) if entry and entry.get("number") else None
