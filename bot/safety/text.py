"""Text folding for every deterministic matcher: case, accents and punctuation do not count."""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s']", re.UNICODE)
_SPACE = re.compile(r"\s+")


# Ligatures that have no decomposition: "sœur" is written "soeur" just as often.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})


def fold(text: str) -> str:
    """Lowercase and strip accents: "Está" → "esta", "ÇA" → "ca", "sœur" → "soeur"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LIGATURES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold_command(text: str) -> str:
    """A whole message folded for command matching: "¡Salir!" → "salir"."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", fold(text))).strip()
