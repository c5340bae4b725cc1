"""A service's name in the person's language, through the whole pipeline (the fake Rasa, SQLite
and PostgreSQL, the shipped sample directory): a French conversation in Canada is given the
Canadian hotline under the name it uses in French, an English one under its English name."""

from __future__ import annotations

from typing import Any

import pytest

from bot.nlg.lint import MAX_LENGTH, revealing

FRENCH_NAME = "Ligne d'urgence canadienne contre la traite des personnes"
ENGLISH_NAME = "Canadian Human Trafficking Hotline"

CRISIS_IN_CANADA = {
    "fr": "au secours ils m'ont enfermée dans la chambre, je suis à Québec",
    "en": "help they locked me in the room, I'm in Toronto",
}


@pytest.mark.parametrize("lang", list(CRISIS_IN_CANADA))
async def test_the_canadian_hotline_is_named_in_the_conversations_language(
    chat_factory: Any, lang: str
) -> None:
    chat = chat_factory(hint=lang)
    answered = await chat.say(CRISIS_IN_CANADA[lang])
    assert answered.crisis
    text = "\n".join(r.text for r in answered.replies)
    shown, other = (FRENCH_NAME, ENGLISH_NAME) if lang == "fr" else (ENGLISH_NAME, FRENCH_NAME)
    assert shown in text
    assert other not in text
    assert "1-833-900-1010" in text
    for reply in answered.replies:
        assert len(reply.text) <= MAX_LENGTH, reply.text
        assert revealing(reply.text) == [], reply.text
