"""Every flow of the assistant, in all four languages, through the real gateway and NLG, with
the dialogue run by the fake Rasa (tests/fakes/rasa.py) on the project's rules.

The survivors tap buttons, type numbers, or type exact training phrases (tests/phrases.py), so
nothing here depends on a model's guess; the same flows with phrases the real model was never
trained on are in tests/e2e/test_understanding.py.
"""

from __future__ import annotations

import pytest
from conftest import Chat, ChatFactory
from fakes.rasa import FakeRasa
from kit import likely_numbers
from phrases import (
    COUNTRY,
    CRISIS_LINE,
    EMERGENCY,
    HEALTH_EMERGENCY,
    LANGS,
    NUMBER,
    SAY,
    WARM,
)
from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.store.models import Contact, Conversation, HandoffRequest, Mode, StaffPresence, utcnow
from bot.types import TurnResult

# No word of this is in any training example: the fake Rasa is not confident about it at all.
GIBBERISH = "zxqv wjkp qqrt"


def keys(result: TurnResult) -> list[str]:
    return [r.key for r in result.replies]


def stack_threshold(chat: Chat) -> float:
    return float(chat.runtime.settings.nlu_threshold)


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


@pytest.mark.parametrize("lang", LANGS)
async def test_first_contact(chat_factory: ChatFactory, lang: str) -> None:
    chat = chat_factory()
    result = await chat.say(SAY[lang]["hello"])
    assert result.language == lang
    assert keys(result) == ["utter_first_contact", "utter_language_offer", "utter_ask_safe_to_chat"]
    intro = result.replies[0].text
    assert len(intro.split()) <= 90
    assert "{" not in intro
    # the exit word of the language, an emergency number, and a neutral first line
    assert SAY[lang]["exit"] in intro
    assert NUMBER.search(intro)
    # language offered, detected one first
    offer = result.replies[1]
    assert offer.buttons[0].payload == f'/choose_language{{"language":"{lang}"}}'
    assert len(offer.buttons) == 4
    ask = result.replies[2]
    assert [b.payload for b in ask.buttons] == ["/affirm", "/deny"]
    # "Yes", typed as its number, leads to the help menu
    after = await chat.say("1")
    assert keys(after) == ["utter_menu"]
    assert len(after.replies[0].buttons) == 6


@pytest.mark.parametrize("lang", LANGS)
async def test_not_safe_now(chat_factory: ChatFactory, lang: str) -> None:
    chat = chat_factory()
    await chat.say(SAY[lang]["hello"])
    result = await chat.say("2")
    assert keys(result) == ["utter_safe_not_now"]


@pytest.mark.parametrize("lang", LANGS)
async def test_crisis_as_first_message_unknown_country(
    stack: Runtime, chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    result = await chat.say(SAY[lang]["crisis"])
    assert result.crisis
    first = result.replies[0]
    assert first.key == "utter_crisis_unknown_country"
    # numbers come right after the neutral first line: no question before them
    body = first.text.split("\n", 1)[1]
    number = NUMBER.search(body)
    assert number is not None
    assert body.index(number.group(0)) < (body.find("?") if "?" in body else len(body))
    # never one number presented as universal: the numbers of the likely countries, each named
    assert ", ".join(likely_numbers(stack, lang)) in body, body
    # numbers first, from the first character after the warm line (nothing revealing before)
    assert body.startswith(likely_numbers(stack, lang)[0])
    # the offer of a person, then the short introduction with a one-tap country question: two
    # messages, the numbers once
    assert [b.payload for b in first.buttons] == ["/request_human", "/no_person"]
    assert len(result.replies) == 2
    assert result.replies[1].key == "utter_first_contact_crisis_pick_country"
    assert not NUMBER.search(result.replies[1].text)
    assert all(b.payload.startswith("/inform_country") for b in result.replies[1].buttons)
    # tapping a country gives that country's exact number
    code = COUNTRY[lang]
    again = await chat.tap(f'/inform_country{{"country":"{code}"}}')
    assert again.replies[0].key == "utter_crisis"
    assert EMERGENCY[code] in again.replies[0].text


@pytest.mark.parametrize(
    "lang",
    [
        "en",
        "es",
        pytest.param(
            "pt",
            marks=pytest.mark.xfail(
                strict=True,
                reason="a gap in bot/: for Portuguese the likely countries are Brazil alone "
                "(LIKELY_COUNTRIES in bot/directory/service.py, and no other country of the "
                "sample directory lists pt), so the crisis reply names one country's number",
            ),
        ),
        "fr",
    ],
)
async def test_crisis_with_no_country_names_two_countries_numbers(
    stack: Runtime, chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    result = await chat.say(SAY[lang]["crisis"])
    assert result.replies[0].key == "utter_crisis_unknown_country"
    named = likely_numbers(stack, lang)
    assert ", ".join(named) in result.replies[0].text
    assert len({n.rsplit(" ", 1)[0] for n in named}) >= 2, named  # two different countries


@pytest.mark.parametrize("lang", LANGS)
async def test_crisis_mid_flow_with_known_country(chat_factory: ChatFactory, lang: str) -> None:
    chat = chat_factory()
    chat.prepare(lang, COUNTRY[lang])
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["yes"])
    result = await chat.say(SAY[lang]["crisis"])
    assert result.crisis
    assert result.replies[0].key == "utter_crisis"
    assert first_line(result.replies[0].text) == WARM[lang]  # not "OK." next to "locked me in"
    assert EMERGENCY[COUNTRY[lang]] in result.replies[0].text.split("\n")[1]
    # the offer of a person is a yes/no; "yes" leads to the handoff explanation
    yes = await chat.say(SAY[lang]["yes"])
    assert keys(yes) == ["utter_handoff_explain", "utter_ask_handoff_consent"]


@pytest.mark.parametrize("lang", LANGS)
async def test_self_harm(chat_factory: ChatFactory, lang: str) -> None:
    """The country's suicide or crisis line first, then the emergency number, health before
    police; no police or anti-trafficking hotline; a warm first line."""
    chat = chat_factory()
    code = COUNTRY[lang]
    chat.prepare(lang, code)
    result = await chat.say(SAY[lang]["self_harm"])
    assert result.crisis
    reply = result.replies[0]
    assert reply.key == "utter_self_harm"
    lines = reply.text.split("\n")
    assert lines[0] == WARM[lang]
    health = HEALTH_EMERGENCY[code]
    if code in CRISIS_LINE:
        assert CRISIS_LINE[code] in lines[2], reply.text
        assert health in lines[3], reply.text
    else:  # no line listed for the country: straight to the emergency number, no empty line
        assert health in lines[2] and "" not in lines, reply.text
    if code == "BR":
        assert "190" not in reply.text  # the military police is not where self-harm goes
    assert "{" not in reply.text
    assert reply.buttons[0].payload == "/request_human"


@pytest.mark.parametrize("lang", LANGS)
async def test_crisis_replies_open_with_a_warm_line(chat_factory: ChatFactory, lang: str) -> None:
    for kind in ("crisis", "self_harm"):
        result = await chat_factory().say(SAY[lang][kind])
        assert result.crisis
        assert first_line(result.replies[0].text) == WARM[lang], result.replies[0].text


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_self_harm_with_no_country_gives_the_likely_countries_lines(
    chat_factory: ChatFactory, lang: str
) -> None:
    result = await chat_factory().say(SAY[lang]["self_harm"])
    reply = result.replies[0]
    assert reply.key == "utter_self_harm_unknown_country"
    line = CRISIS_LINE[COUNTRY[lang]]
    assert line in reply.text.split("\n")[2], reply.text  # before the emergency numbers


@pytest.mark.parametrize("lang", LANGS)
async def test_need_asks_country_then_offers_services(chat_factory: ChatFactory, lang: str) -> None:
    chat = chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["yes"])
    asked = await chat.say(SAY[lang]["legal"])
    assert keys(asked) == ["utter_ask_country"]
    assert asked.replies[0].buttons[-1].payload == "/skip"
    code = COUNTRY[lang]
    shown = await chat.tap(f'/inform_country{{"country":"{code}"}}')
    assert shown.replies[0].key == "utter_services_intro"
    cards = [r for r in shown.replies if r.key == "service_card"]
    assert 1 <= len(cards) <= 3
    for card in cards:
        # A number, or the website of a service reached only through it (docs/directory.md).
        assert NUMBER.search(card.text) or "https://" in card.text, card.text
        assert card.text.count("\n") >= 4  # name, helps with, contact, hours, facts
    assert shown.replies[-1].key == "utter_offer_human"


@pytest.mark.parametrize("lang", LANGS)
async def test_country_question_can_be_skipped(chat_factory: ChatFactory, lang: str) -> None:
    chat = chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["yes"])
    await chat.say(SAY[lang]["shelter"])
    skipped = await chat.tap("/skip")
    assert skipped.replies[0].key == "utter_services_intro_any_country"
    assert skipped.replies[-1].key == "utter_offer_human"


@pytest.mark.parametrize("lang", LANGS)
async def test_need_in_first_message_is_answered_after_safe(
    chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    chat.prepare(None, COUNTRY[lang])
    first = await chat.say(SAY[lang]["legal"])
    assert keys(first)[0] == "utter_first_contact"
    after = await chat.say("1")
    assert after.replies[0].key == "utter_services_intro"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("what,key", [("privacy", "utter_privacy"), ("bot", "utter_bot_identity")])
async def test_short_honest_answers(
    chat_factory: ChatFactory, lang: str, what: str, key: str
) -> None:
    chat = chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    result = await chat.say(SAY[lang][what])
    assert keys(result) == [key]
    assert "{" not in result.replies[0].text


@pytest.mark.parametrize("lang", LANGS)
async def test_request_human_nobody_on_duty(
    stack: Runtime, chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    chat.prepare(lang, COUNTRY[lang])
    await chat.say(SAY[lang]["hello"])
    explained = await chat.say(SAY[lang]["human"])
    assert keys(explained) == ["utter_handoff_explain", "utter_ask_handoff_consent"]
    queued = await chat.say(SAY[lang]["yes"])
    assert keys(queued) == ["utter_handoff_no_one"]
    text = queued.replies[0].text
    assert EMERGENCY[COUNTRY[lang]] in text
    assert queued.mode == Mode.QUEUED
    with stack.db.session() as s:
        req = s.scalars(select(HandoffRequest).order_by(HandoffRequest.created_at.desc())).first()
        assert req is not None and req.status == "queued" and req.language == lang


async def test_request_human_with_someone_on_duty(
    stack: Runtime, chat_factory: ChatFactory
) -> None:
    with stack.db.session() as s:
        s.merge(
            StaffPresence(
                staff_id="s1",
                display_name="Ana",
                languages=["es"],
                available=True,
                seen_at=utcnow(),
            )
        )
    try:
        chat = chat_factory()
        chat.prepare("es", "MX")
        await chat.say("hola")
        await chat.say("quiero hablar con una persona")
        queued = await chat.say("si")
        assert keys(queued) == ["utter_handoff_queued"]
        # while queued, a message is kept for the team and acknowledged once
        first = await chat.say("estoy esperando")
        assert keys(first) == ["utter_queued_ack"]
        second = await chat.say("sigo aqui")
        assert keys(second) == []
        back = await chat.say("VOLVER")
        assert keys(back) == ["utter_back_to_bot"]
        assert back.mode == Mode.BOT
    finally:
        with stack.db.session() as s:
            s.query(StaffPresence).delete()


@pytest.mark.parametrize("lang", LANGS)
async def test_declining_a_person_keeps_information_available(
    chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    chat.prepare(lang, COUNTRY[lang])
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["human"])
    declined = await chat.tap("/handoff_no")
    assert keys(declined) == ["utter_handoff_declined"]
    menu = await chat.say("MENU")
    assert keys(menu) == ["utter_menu"]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("state", ["start", "menu", "country_question", "queued"])
async def test_exit_from_any_state(
    stack: Runtime, chat_factory: ChatFactory, lang: str, state: str
) -> None:
    chat = chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    if state in ("menu", "country_question"):
        await chat.say(SAY[lang]["yes"])
    if state == "country_question":
        await chat.say(SAY[lang]["legal"])
    if state == "queued":
        await chat.say(SAY[lang]["human"])
        await chat.tap("/handoff_yes")
    contact_id = stack.crypto.pseudonym(chat.channel, chat.user)
    result = await chat.say(SAY[lang]["exit"])
    assert len(result.replies) <= 1
    assert all("\n" not in r.text for r in result.replies)
    assert result.mode == Mode.CLOSED
    with stack.db.session() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.contact_id == contact_id)
            )
            == 0
        )
    # writing again starts afresh
    again = await chat.say(SAY[lang]["hello"])
    assert keys(again)[0] == "utter_first_contact"


async def test_exit_on_whatsapp_says_what_it_cannot_delete(chat_factory: ChatFactory) -> None:
    chat = chat_factory(channel="whatsapp")
    await chat.say("hola")
    result = await chat.say("SALIR")
    assert keys(result) == ["utter_exit_whatsapp_note"]


@pytest.mark.parametrize("lang", LANGS)
async def test_delete_erases_everything(
    stack: Runtime, chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    chat.prepare(lang, COUNTRY[lang])
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["human"])
    await chat.tap("/handoff_yes")
    await chat.say("some words kept for the team")
    contact_id = stack.crypto.pseudonym(chat.channel, chat.user)
    with stack.db.session() as s:
        sender = s.scalar(
            select(Conversation.rasa_sender).where(Conversation.contact_id == contact_id)
        )
    result = await chat.say(SAY[lang]["delete"])
    assert keys(result) == ["utter_deleted"]
    assert "Telegram" in result.replies[0].text
    with stack.db.session() as s:
        assert s.get(Contact, contact_id) is None
        assert (
            s.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.contact_id == contact_id)
            )
            == 0
        )
    # Reading an erased tracker makes Rasa start an empty one: no turn, no slot from before.
    tracker = await stack.rasa._request("GET", f"/conversations/{sender}/tracker")
    assert [e for e in tracker["events"] if e["event"] in ("user", "bot", "slot")] == []
    assert not tracker.get("slots", {}).get("country")


@pytest.mark.parametrize("lang", LANGS)
async def test_change_language_keeps_state(chat_factory: ChatFactory, lang: str) -> None:
    other = {"en": "es", "es": "pt", "pt": "fr", "fr": "en"}[lang]
    chat = chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["yes"])
    await chat.say(SAY[lang]["legal"])  # the country question is pending
    menu = await chat.say({"en": "LANGUAGE", "es": "IDIOMA", "pt": "IDIOMA", "fr": "LANGUE"}[lang])
    assert keys(menu) == ["utter_language_menu"]
    assert menu.replies[0].buttons[0].payload.endswith(f'"{lang}"}}')
    switched = await chat.tap(f'/choose_language{{"language":"{other}"}}')
    assert switched.language == other
    # the pending question still works, now answered in the new language
    shown = await chat.tap(f'/inform_country{{"country":"{COUNTRY[lang]}"}}')
    assert shown.language == other
    assert shown.replies[0].key == "utter_services_intro"


@pytest.mark.parametrize("lang", LANGS)
async def test_low_confidence_gets_the_menu_never_a_guess(
    chat_factory: ChatFactory, fake_rasa: FakeRasa, lang: str
) -> None:
    chat = chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["yes"])
    result = await chat.say(GIBBERISH)
    text, understood = fake_rasa.understood[-1]
    assert text == GIBBERISH and understood.confidence < stack_threshold(chat)
    assert keys(result) == ["utter_not_understood"]
    assert len(result.replies[0].buttons) == 6


async def test_duplicate_delivery_is_answered_once(stack: Runtime) -> None:
    from bot.types import Inbound

    msg = Inbound("telegram", "dup-user", "same-id", text="hola")
    first = await stack.conversations.handle(msg)
    second = await stack.conversations.handle(msg)
    assert first.replies and second.replies == []


async def test_every_button_works_typed_as_its_number(chat_factory: ChatFactory) -> None:
    chat = chat_factory()
    chat.prepare("es", None)
    await chat.say("hola")
    menu = await chat.say("1")
    assert keys(menu) == ["utter_menu"]
    legal = await chat.say("3")  # Papers or legal help
    assert keys(legal) == ["utter_ask_country"]
    skip = await chat.say(str(len(legal.replies[0].buttons)))  # the last option: skip
    assert skip.replies[-1].key == "utter_offer_human"


async def test_telegram_start_opens_with_the_first_contact(chat_factory: ChatFactory) -> None:
    chat = chat_factory(hint="es")
    result = await chat.say("/start")
    assert keys(result)[0] == "utter_first_contact"
    assert "SALIR" in result.replies[0].text
    later = await chat.say("/start")  # later on, /start is the menu
    assert keys(later) == ["utter_menu"]


async def test_crisis_numbers_come_before_lines_held_for_the_person(
    stack: Runtime, chat_factory: ChatFactory
) -> None:
    from bot.store.console_models import HeldReply

    chat = chat_factory()
    chat.prepare("es", "MX")
    await chat.say("hola")
    contact_id = stack.crypto.pseudonym(chat.channel, chat.user)
    with stack.db.session() as s:
        s.add(
            HeldReply(
                contact_id=contact_id,
                key="staff_line",
                text_enc=stack.crypto.encrypt("Línea del equipo"),
            )
        )
    result = await chat.say("me tienen encerrada")
    assert result.replies[0].key == "utter_crisis"
    assert result.replies[-1].key == "staff_line"


# Small talk the fake Rasa reads as ``out_of_scope`` (training examples without a risky word),
# then a turning word: "… 😂 anyway, are you a bot".
ASIDE = {
    "en": "the hurricane season is coming, what should I put in a kit for my apartment",
    "es": "fuimos a un escape room con mis primos y salimos con 1 minuto de sobra",
    "pt": "o chefe da cozinha grita com todo mundo, mas é só estresse de restaurante lotado",
    "fr": "le prof a séché le cours et on a joué aux cartes",
}
TURN = {"en": "anyway,", "es": "bueno,", "pt": "enfim,", "fr": "bref,"}


@pytest.mark.parametrize("lang", LANGS)
async def test_the_request_after_an_aside_is_answered(
    chat_factory: ChatFactory, fake_rasa: FakeRasa, lang: str
) -> None:
    """A whole message read as small talk, with a request after a turning word: the request is
    read on its own and answered (bot/conversation/aside.py)."""
    chat = chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["yes"])
    said = f"{ASIDE[lang]} 😂 {TURN[lang]} {SAY[lang]['bot']}"
    result = await chat.say(said)
    (whole, first), (part, second) = fake_rasa.understood[-2:]
    assert whole == said and first.intent == "out_of_scope"
    assert part == SAY[lang]["bot"] and second.intent == "bot_identity"
    assert keys(result) == ["utter_bot_identity"]


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_an_aside_with_no_request_after_it_is_small_talk(
    chat_factory: ChatFactory, fake_rasa: FakeRasa, lang: str
) -> None:
    """Nothing sure after the aside ("… anyway, zxqv"), or only a yes (an answer, never a request
    of its own): the whole reading stands."""
    chat = chat_factory()
    chat.prepare(lang, None)
    await chat.say(SAY[lang]["hello"])
    await chat.say(SAY[lang]["yes"])
    plain = await chat.say(ASIDE[lang])
    assert fake_rasa.understood[-1][1].intent == "out_of_scope"
    for tail in (GIBBERISH, SAY[lang]["yes"]):
        result = await chat.say(f"{ASIDE[lang]}. {TURN[lang]} {tail}")
        assert fake_rasa.understood[-1][0] == tail
        assert keys(result) == keys(plain)
