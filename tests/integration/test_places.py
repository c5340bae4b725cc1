"""Places typed instead of a country, through the whole pipeline (the fake Rasa behind the client
protocol, SQLite and PostgreSQL), in every language: a city, state or abbreviation gives its
country's numbers; a country the directory does not list gets its own number and a person, never
another country's lines and never the language menu; a name several countries share is asked
about; a crisis that names where the writer is gets that country's numbers at once, in two
messages with the numbers once."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.directory.service import Directory
from bot.nlg.lint import MAX_LENGTH, revealing

# Per language: a crisis with no country in it, a place typed after it, its country's name as the
# reply shows it, and that country's emergency number.
CRISIS = {
    "en": "help they locked me in the room",
    "es": "ayuda me tienen encerrada en el cuarto",
    "pt": "socorro me trancaram no quarto",
    "fr": "au secours ils m'ont enfermée dans la chambre",
}
PLACE_AFTER_CRISIS = {
    "en": ("Texas", "(United States)", "911"),
    "es": ("estoy en Buenos Aires", "(Argentina)", "911"),
    "pt": ("estou em Manaus", "(Brasil)", "190"),
    "fr": ("Montreal", "(Canada)", "911"),
}


def keys(result: Any) -> list[str]:
    return [r.key for r in result.replies]


HELLO_YES = {
    "en": ("hello", "yes"),
    "es": ("hola", "sí"),
    "pt": ("olá", "sim"),
    "fr": ("bonjour", "oui"),
}


async def ready(chat_factory: Any, lang: str) -> Any:
    """A person past the introduction, who said it is safe to chat."""
    chat = chat_factory()
    chat.prepare(lang)
    hello, yes = HELLO_YES[lang]
    await chat.say(hello)
    assert keys(await chat.say(yes)) == ["utter_menu"]
    return chat


@pytest.mark.parametrize("lang", list(PLACE_AFTER_CRISIS))
async def test_a_place_typed_after_a_crisis_gives_its_countrys_numbers(
    chat_factory: Any, lang: str
) -> None:
    place, country, number = PLACE_AFTER_CRISIS[lang]
    chat = chat_factory(hint=lang)
    await chat.say(CRISIS[lang])
    exact = await chat.say(place)
    assert exact.crisis and keys(exact) == ["utter_crisis"]
    first_line = exact.replies[0].text.split("\n")[1]
    assert first_line.startswith(("Call", "Llama", "Ligue", "Appelez"))
    assert f"{number} {country}" in first_line


# Per language: a crisis that says where the writer is, the country name and its number.
CRISIS_WITH_PLACE = {
    "en": ("help they locked me in the room, I'm in Houston", "(United States)", "911"),
    "es": ("ayuda me tienen encerrada en el cuarto, estoy en Monterrey", "(México)", "911"),
    "pt": ("socorro me trancaram no quarto, estou em Recife", "(Brasil)", "190"),
    "fr": ("au secours ils m'ont enfermée dans la chambre, je suis à Québec", "(Canada)", "911"),
}


@pytest.mark.parametrize("lang", list(CRISIS_WITH_PLACE))
async def test_a_first_message_crisis_that_names_a_place_is_two_messages_numbers_once(
    chat_factory: Any, lang: str
) -> None:
    text, country, number = CRISIS_WITH_PLACE[lang]
    chat = chat_factory(hint=lang)
    answered = await chat.say(text)
    assert answered.crisis
    assert keys(answered) == ["utter_crisis", "utter_first_contact_crisis"]
    crisis, intro = answered.replies
    assert f"{number} {country}" in crisis.text
    # The number once in the turn, and not in the introduction.
    assert sum(len(re.findall(rf"(?<!\d){number}(?!\d)", r.text)) for r in answered.replies) == 1
    assert intro.buttons == []
    for reply in answered.replies:
        assert len(reply.text) <= MAX_LENGTH, reply.text
        assert revealing(reply.text) == [], reply.text


@pytest.mark.parametrize("lang", list(CRISIS))
async def test_a_first_message_crisis_without_a_place_asks_the_country_in_the_introduction(
    chat_factory: Any, lang: str
) -> None:
    chat = chat_factory(hint=lang)
    answered = await chat.say(CRISIS[lang])
    assert keys(answered) == [
        "utter_crisis_unknown_country",
        "utter_first_contact_crisis_pick_country",
    ]
    numbers, intro = answered.replies
    assert re.search(r"\d{3}", numbers.text)
    assert all(b.payload.startswith("/inform_country") for b in intro.buttons)
    assert not re.search(r"\d{3}", intro.text)  # the numbers are in the first message only
    for reply in answered.replies:
        assert len(reply.text) <= MAX_LENGTH, reply.text
        assert revealing(reply.text) == [], reply.text


# Per language: a country outside the directory, typed after a crisis reply, and the number the
# reply must give (112, the EU's, or none).
OUTSIDE = {
    "en": ("I'm in Spain", "112", "(Spain)"),
    "es": ("España", "112", "(España)"),
    "pt": ("Portugal", "112", "(Portugal)"),
    "fr": ("je suis au Japon", None, "Japon"),
}


@pytest.mark.parametrize("lang", list(OUTSIDE))
async def test_a_country_outside_the_directory_gets_its_own_number_and_a_person(
    chat_factory: Any, lang: str
) -> None:
    typed, number, named = OUTSIDE[lang]
    chat = chat_factory(hint=lang)
    await chat.say(CRISIS[lang])
    answered = await chat.say(typed)
    key = "utter_outside_directory" if number else "utter_outside_directory_no_number"
    assert keys(answered) == [key]
    text = answered.replies[0].text
    assert named in text
    digits = set(re.findall(r"\d{3,}", text))
    assert digits == ({number} if number else set())  # never another country's lines
    assert [b.payload for b in answered.replies[0].buttons] == ["/request_human", "/no_person"]
    assert revealing(text) == [] and len(text) <= MAX_LENGTH


# Per language: asked for help, then the country question answered with a place.
NEED_THEN_PLACE = {
    "en": ("I need a lawyer", "New York City", "US"),
    "es": ("necesito un abogado", "CDMX", "MX"),
    "pt": ("preciso de um advogado", "SP", "BR"),
    "fr": ("j'ai besoin d'un avocat", "Québec", "CA"),
}


@pytest.mark.parametrize("lang", list(NEED_THEN_PLACE))
async def test_a_place_answers_the_country_question(chat_factory: Any, lang: str) -> None:
    need, place, code = NEED_THEN_PLACE[lang]
    chat = await ready(chat_factory, lang)
    asked = await chat.say(need)
    assert keys(asked) == ["utter_ask_country"]
    shown = await chat.say(place)
    assert "utter_ask_country" not in keys(shown)
    assert keys(shown)[-1] == "utter_offer_human"
    cards = [r for r in shown.replies if r.key == "service_card"]
    assert cards, keys(shown)
    country_name = {"US": "(United States)", "MX": "(México)", "BR": "(Brasil)", "CA": "(Canada)"}
    assert all(country_name[code] in card.text for card in cards)


@pytest.mark.parametrize("lang", ["en", "es", "pt", "fr"])
async def test_portugal_never_opens_the_language_menu(chat_factory: Any, lang: str) -> None:
    chat = await ready(chat_factory, lang)
    await chat.say(NEED_THEN_PLACE[lang][0])
    answered = await chat.say("Portugal")
    assert "utter_language_menu" not in keys(answered)
    assert keys(answered) == ["utter_outside_directory"]
    assert "112" in answered.replies[0].text


# Countries in the directory with no service listed for the need: their own number, then a person.
NO_SERVICE = {
    "en": ("I need shelter", "Guyana", "Guyana", "911"),
    "es": ("necesito un lugar donde quedarme", "Venezuela", "Venezuela", "911"),
    "pt": ("preciso de abrigo", "Uruguai", "(Uruguai)", "911"),
    "fr": ("j'ai besoin d'un endroit où dormir", "Cuba", ": Cuba", "106"),
}


@pytest.mark.parametrize("lang", list(NO_SERVICE))
async def test_a_listed_country_without_a_service_gets_its_numbers_never_anothers(
    chat_factory: Any, lang: str
) -> None:
    need, typed, named, number = NO_SERVICE[lang]
    chat = await ready(chat_factory, lang)
    asked = await chat.say(need)
    assert keys(asked) == ["utter_ask_country"]
    answered = await chat.say(typed)
    assert keys(answered) == ["utter_no_services_country", "utter_offer_human"]
    text = answered.replies[0].text
    assert named in text and number in text
    assert set(re.findall(r"\d{3,}", text)) == {number}  # no toll-free line of another country
    assert "I don't know your country" not in text


async def test_a_shared_name_is_asked_about_then_settled_by_a_tap(chat_factory: Any) -> None:
    chat = await ready(chat_factory, "es")
    await chat.say("necesito un abogado")
    asked = await chat.say("Córdoba")
    assert keys(asked) == ["utter_ask_which_country"]
    payloads = [b.payload for b in asked.replies[0].buttons]
    assert payloads == [
        '/inform_country{"country":"AR"}',
        '/inform_country{"country":"ES"}',
        '/inform_country{"country":"MX"}',
    ]
    spain = await chat.tap(payloads[1])
    assert keys(spain) == ["utter_outside_directory"]
    again = await chat.say("necesito un abogado")
    assert keys(again) == ["utter_ask_country"]
    await chat.say("Córdoba")
    shown = await chat.tap(payloads[0])
    assert keys(shown)[-1] == "utter_offer_human"
    assert all("(Argentina)" in r.text for r in shown.replies if r.key == "service_card")


async def test_a_shared_name_is_narrowed_by_the_language(chat_factory: Any) -> None:
    """ "DF" is Mexico City in Spanish and Brasília in Portuguese; "BA" Buenos Aires and Bahia."""
    for lang, typed, named in (("es", "DF", "(México)"), ("pt", "BA", "(Brasil)")):
        chat = chat_factory(hint=lang)
        await chat.say(CRISIS[lang])
        exact = await chat.say(typed)
        assert keys(exact) == ["utter_crisis"], (lang, keys(exact))
        assert named in exact.replies[0].text


# Per language: a crisis that names a country the directory does not list, its emergency number
# (or none) and its name as the reply shows it.
CRISIS_OUTSIDE = {
    "en": ("help they locked me in the room, I'm in Spain", "112", "(Spain)"),
    "es": ("me tienen encerrada en España", "112", "(España)"),
    "pt": ("socorro me trancaram no quarto, estou em Portugal", "112", "(Portugal)"),
    "fr": ("au secours ils m'ont enfermée dans la chambre, je suis au Japon", None, "Japon"),
}


@pytest.mark.parametrize("lang", list(CRISIS_OUTSIDE))
async def test_a_crisis_naming_a_country_outside_the_directory_gets_its_own_number(
    chat_factory: Any, lang: str
) -> None:
    """Never "which country are you in?" with other countries' lines: that country's number (or
    an honest "the local emergency number"), the offer of a person, then the short introduction."""
    text, number, named = CRISIS_OUTSIDE[lang]
    chat = chat_factory(hint=lang)
    answered = await chat.say(text)
    key = "utter_outside_directory" if number else "utter_outside_directory_no_number"
    assert answered.crisis and keys(answered) == [key, "utter_first_contact_crisis"]
    numbers = answered.replies[0]
    assert named in numbers.text
    assert set(re.findall(r"\d{3,}", numbers.text)) == ({number} if number else set())
    assert [b.payload for b in numbers.buttons] == ["/request_human", "/no_person"]
    for reply in answered.replies:
        assert revealing(reply.text) == [] and len(reply.text) <= MAX_LENGTH


# Per language: a crisis that names a city of a listed country, the country's name as the reply
# shows it and its emergency number (countries.json).
CRISIS_IN_A_CITY = {
    "en": ("help they locked me in, I'm in Kingston", "(Jamaica)", "JM"),
    "es": ("estoy en Asunción y no me dejan salir", "(Paraguay)", "PY"),
    "pt": ("socorro me trancaram, estou em Montevidéu", "(Uruguai)", "UY"),
    "fr": ("au secours ils m'ont enfermée, je suis à Port-au-Prince", "(Haïti)", "HT"),
}


@pytest.mark.parametrize("lang", list(CRISIS_IN_A_CITY))
@pytest.mark.parametrize("known_before", [False, True])
async def test_a_crisis_naming_a_city_gets_that_countrys_numbers(
    stack: Any, chat_factory: Any, lang: str, known_before: bool
) -> None:
    """Also when another country was known before (a phone's calling code, an earlier answer):
    where the person says they are now wins."""
    text, named, code = CRISIS_IN_A_CITY[lang]
    with stack.db.session() as s:
        number = Directory(s).emergency(code)
    assert number is not None
    chat = chat_factory(hint=lang)
    if known_before:
        chat.prepare(lang, "MX")
        await chat.say(HELLO_YES[lang][0])
    answered = await chat.say(text)
    assert answered.crisis and keys(answered)[0] == "utter_crisis"
    first = answered.replies[0].text
    assert f"{number.number} {named}" in first
    assert "(México)" not in first and "(Mexico)" not in first and "(Mexique)" not in first
