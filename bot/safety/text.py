"""Text folding for every deterministic matcher: case, accents and punctuation do not count."""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s']", re.UNICODE)
_SPACE = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lowercase and strip accents: "Está" → "esta", "ÇA" → "ca"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold_command(text: str) -> str:
    """A whole message folded for command matching: "¡Salir!" → "salir"."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", fold(text))).strip()
