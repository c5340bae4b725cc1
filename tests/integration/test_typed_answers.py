"""What people type instead of tapping, through the real pipeline (Rasa included), in every
language: a plain yes or no answers the last question; a "no" with nothing asked is respected
without talking about a person nobody offered."""

from __future__ import annotations

from typing import Any

import pytest

# Per language: hello, a crisis, a plain yes, a plain no.
WORDS = {
    "en": ("hello", "help they locked me in the room", "yes", "no"),
    "es": ("hola", "ayuda me tienen encerrada en el cuarto", "sí", "no"),
    "pt": ("olá", "socorro me trancaram no quarto", "sim", "não"),
    "fr": ("bonjour", "au secours ils m'ont enfermée dans la chambre", "oui", "non"),
}
COUNTRY = {"en": "US", "es": "MX", "pt": "BR", "fr": "HT"}


def keys(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.key for r in result.replies]


@pytest.mark.parametrize("lang", list(WORDS))
async def test_a_typed_yes_after_a_crisis_reply_offers_a_person(chat_factory, lang: str) -> None:  # type: ignore[no-untyped-def]
    hello, crisis, yes, _ = WORDS[lang]
    chat = chat_factory()
    chat.prepare(lang, COUNTRY[lang])
    await chat.say(hello)
    answered = await chat.say(crisis)
    assert answered.crisis and keys(answered)[0] == "utter_crisis"
    offered = await chat.say(yes)
    assert keys(offered) == ["utter_handoff_explain", "utter_ask_handoff_consent"]


@pytest.mark.parametrize("lang", list(WORDS))
async def test_a_typed_no_after_a_crisis_reply_declines_a_person(chat_factory, lang: str) -> None:  # type: ignore[no-untyped-def]
    hello, crisis, _, no = WORDS[lang]
    chat = chat_factory()
    chat.prepare(lang, COUNTRY[lang])
    await chat.say(hello)
    await chat.say(crisis)
    declined = await chat.say(no)
    assert keys(declined) == ["utter_handoff_declined"]


@pytest.mark.parametrize("lang", list(WORDS))
async def test_a_no_with_nothing_asked_never_talks_of_a_person(chat_factory, lang: str) -> None:  # type: ignore[no-untyped-def]
    hello, _, yes, no = WORDS[lang]
    chat = chat_factory()
    chat.prepare(lang, COUNTRY[lang])
    await chat.say(hello)
    menu = await chat.say(yes)  # safe to chat: the menu, whose options have no yes or no
    assert keys(menu) == ["utter_menu"]
    answered = await chat.say(no)
    assert keys(answered) == ["utter_pause"]


# Per language: a crisis with no country known, a country typed by name, its emergency number.
TYPED_COUNTRY = {
    "en": ("help they locked me in the room", "united states", "911"),
    "es": ("ayuda me tienen encerrada en el cuarto", "Mexico", "911"),
    "pt": ("socorro me trancaram no quarto", "brasil", "190"),
    "fr": ("au secours ils m'ont enfermée dans la chambre", "Haïti", "122"),
}


@pytest.mark.parametrize("lang", list(TYPED_COUNTRY))
async def test_a_typed_country_after_a_crisis_gives_its_exact_numbers(
    chat_factory: Any, lang: str
) -> None:
    crisis, country, number = TYPED_COUNTRY[lang]
    chat = chat_factory(hint=lang)
    answered = await chat.say(crisis)
    assert keys(answered)[:2] == [
        "utter_crisis_unknown_country",
        "utter_first_contact_crisis_pick_country",
    ]
    exact = await chat.say(country)
    assert exact.crisis and keys(exact)[0] == "utter_crisis"
    assert number in exact.replies[0].text
