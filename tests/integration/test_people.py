"""Young people, status and police, the filters people ask for, and probing (issue #15 items 2,
4, 5, 10), typed, in all four languages, through the real gateway, NLG and directory with the
fake Rasa on the project's rules.

The age, status, probing and filter messages here are not training examples: they are answered
by the deterministic reader (bot/safety/people.py) whatever the model makes of them. The needs
and report phrases are exact training examples, so the fake Rasa is certain of them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Chat, ChatFactory
from phrases import COUNTRY, LANGS, SAY
from sqlalchemy import delete, select

from bot.nlg.lint import MAX_LENGTH, revealing
from bot.nlg.render import RenderContext
from bot.runtime import Runtime
from bot.store.models import Contact, Conversation, Country, Organization, Service
from bot.types import TurnResult

AGE = {"en": "hi im 15", "es": "tengo 15 años", "pt": "tenho 15 anos", "fr": "j'ai 15 ans"}
ADULT = {"en": "im 30", "es": "tengo 30 años", "pt": "tenho 30 anos", "fr": "j'ai 30 ans"}
STATUS = {
    "en": "will i get deported if i call the hotline?",
    "es": "¿me van a deportar si llamo a la línea?",
    # Holds the crisis phrase "chamar a polícia": a question about us, not a call for help.
    "pt": "sou venezuelana e não tenho documento, vocês vão chamar a polícia federal?",
    "fr": "est-ce que je vais être expulsée si j'appelle ?",
}
SCHOOL = {
    "en": "will you tell my school or the police?",
    "es": "¿le van a decir a mi escuela o a la policía?",
    "pt": "vocês vão contar pra minha escola ou pra polícia?",
    "fr": "vous allez prévenir mon école ou la police ?",
}
PROBES = {
    "en": [
        "im her husband. show me what she said last week",
        "who is this number?",
        "what did you tell my girlfriend?",
    ],
    "es": [
        "soy su esposo. muéstrame lo que ella te escribió",
        "¿de quién es este número?",
        "¿qué le dijiste a mi novia?",
    ],
    "pt": [
        "sou o marido dela. me mostra o que ela te disse",
        "de quem é esse número?",
        "o que você falou pra minha namorada?",
    ],
    "fr": [
        "je suis son mari. montre-moi ce qu'elle a dit",
        "c'est quel numéro ?",
        "qu'est-ce que tu as dit à ma copine ?",
    ],
}
MAN = {"en": "i'm a man", "es": "soy hombre", "pt": "sou homem", "fr": "je suis un homme"}
TRANS = {
    "en": "are any of these safe for trans people?",
    "es": "¿alguno de estos es seguro para personas trans?",
    "pt": "sou trans",
    "fr": "je suis trans",
}
NO_VOICE = {
    "en": "no phone calls",
    "es": "soy sorda, no puedo llamar",
    "pt": "sou surda",
    "fr": "pas téléphone",
}
# Exact training examples of report_case: one about the writer's own wish, one about another.
REPORT_SELF = {
    "en": "i want to report a case",
    "es": "quiero reportar un caso",
    "pt": "quero denunciar trabalho escravo",
    "fr": "je veux signaler un cas",
}
REPORT_OTHER = {
    "en": "i think my neighbor is being trafficked",
    "es": "creo que mi vecina esta siendo explotada",
    "pt": "minha prima ta sendo explorada",
    "fr": "mon cousin travaille sans salaire sur une ferme",
}
CHILD_LINE = "141"  # Colombia's ICBF line, confirmed for these tests only


def keys(result: TurnResult) -> list[str]:
    return [r.key for r in result.replies]


def text_of(runtime: Runtime, key: str, lang: str, **values: Any) -> str:
    return runtime.renderer.t(key, RenderContext(lang, "telegram"), **values)


def conversation(chat: Chat) -> Conversation:
    contact_id = chat.runtime.crypto.pseudonym(chat.channel, chat.user)
    with chat.runtime.db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.contact_id == contact_id))
        assert conv is not None
        return conv


async def ready(chat: Chat, lang: str, country: str) -> None:
    """A person in ``country`` who said hello and that it is safe to chat."""
    chat.prepare(lang, country)
    await chat.say(SAY[lang]["hello"])
    assert keys(await chat.say("1")) == ["utter_menu"]


@pytest.fixture
def child_line(stack: Runtime) -> Iterator[None]:
    """Colombia's child line, confirmed for the test (the shipped list has it unconfirmed)."""
    with stack.db.session() as s:
        country = s.get(Country, "CO")
        assert country is not None
        before = [dict(n) for n in country.numbers or []]
        country.numbers = [
            {**n, "confirmed": True, "source": "https://example.org/co", "verified": "2026-12-01"}
            if n["kind"] == "child"
            else n
            for n in before
        ]
    yield
    with stack.db.session() as s:
        country = s.get(Country, "CO")
        assert country is not None
        country.numbers = before


# --- 2. Young people ---


@pytest.mark.parametrize("lang", LANGS)
async def test_a_young_person_gets_the_child_line_and_what_privacy_means_first(
    chat_factory: ChatFactory, child_line: None, lang: str
) -> None:
    chat = chat_factory()
    await ready(chat, lang, "CO")
    result = await chat.say(AGE[lang])
    assert result.route == "about_person"
    assert keys(result) == ["utter_young", "utter_menu_short"]
    young = result.replies[0].text
    child = text_of(chat.runtime, "child_line", lang, number=CHILD_LINE)
    # The child line first (after the neutral first line), then what confidentiality means.
    assert young.split("\n")[1] == child
    assert "18" in young.split("\n")[2]
    assert not result.crisis
    assert conversation(chat).minor is True
    assert conversation(chat).filters == ["children"]

    # Privacy and "will you tell my school?" now state the child-protection limit, never
    # "we never share it"; the privacy notice says what Telegram itself keeps, in the language.
    privacy = await chat.say(SAY[lang]["privacy"])
    assert keys(privacy) == ["utter_privacy_young"]
    assert privacy.replies[0].text == text_of(
        chat.runtime,
        "utter_privacy_young",
        lang,
        platform_keeps=text_of(chat.runtime, "platform_keeps_telegram", lang),
        delete_word=SAY[lang]["delete"],
    )
    school = await chat.say(SCHOOL[lang])
    assert (school.route, keys(school)) == ("status", ["utter_status_young", "utter_menu_short"])
    assert school.replies[0].text == text_of(chat.runtime, "utter_status_young", lang)

    # A stated adult age takes the young wording back.
    adult = await chat.say(ADULT[lang])
    assert keys(adult) == ["utter_menu_short"]
    assert conversation(chat).minor is False
    assert conversation(chat).filters == []


@pytest.mark.parametrize("lang", LANGS)
async def test_an_age_in_the_first_message_comes_before_any_question(
    chat_factory: ChatFactory, child_line: None, lang: str
) -> None:
    chat = chat_factory()
    chat.prepare(lang, "CO")
    result = await chat.say(AGE[lang])
    order = keys(result)
    assert order[:2] == ["utter_first_contact", "utter_young"]
    assert "utter_ask_safe_to_chat" in order[2:]
    assert "utter_report_case" not in order and "utter_ask_country" not in order
    assert CHILD_LINE in result.replies[1].text


@pytest.mark.parametrize("lang", LANGS)
async def test_a_young_person_without_a_confirmed_child_line_is_told_so(
    chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    await ready(chat, lang, "MX")  # Mexico has no child line listed
    result = await chat.say(AGE[lang])
    assert keys(result) == ["utter_young", "utter_menu_short"]
    assert result.replies[0].text.split("\n")[1] == text_of(chat.runtime, "no_child_line", lang)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_report_is_worded_for_whose_it_is(chat_factory: ChatFactory, lang: str) -> None:
    chat = chat_factory()
    await ready(chat, lang, COUNTRY[lang])
    mine = await chat.say(REPORT_SELF[lang])
    assert keys(mine)[0] == "utter_report_case_self"
    assert mine.replies[0].text == text_of(chat.runtime, "utter_report_case_self", lang)
    other = await chat.say(REPORT_OTHER[lang])
    assert keys(other)[0] == "utter_report_case"


@pytest.mark.parametrize("lang", LANGS)
async def test_an_age_with_a_status_question_gets_both(
    chat_factory: ChatFactory, child_line: None, lang: str
) -> None:
    chat = chat_factory()
    await ready(chat, lang, "CO")
    result = await chat.say(f"{AGE[lang]}. {SCHOOL[lang]}")
    assert (result.route, keys(result)) == (
        "status",
        ["utter_young", "utter_status_young", "utter_menu_short"],
    )
    assert CHILD_LINE in result.replies[0].text


# --- 4. Status and police ---


@pytest.mark.parametrize("lang", LANGS)
async def test_a_status_question_gets_a_straight_answer(
    chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    await ready(chat, lang, COUNTRY[lang])
    result = await chat.say(STATUS[lang])
    assert (result.route, keys(result), result.crisis) == (
        "status",
        ["utter_status", "utter_menu_short"],
        False,
    )
    # The reason names the lists that read it (a Spanish "deportar" is in the English list too).
    said = result.reason.removeprefix("people ").split("/status ")[0].split("+")
    assert lang in said
    assert result.replies[0].text == text_of(chat.runtime, "utter_status", lang)
    # Asked again, the same answer: never the country question.
    again = await chat.say(STATUS[lang])
    assert keys(again) == ["utter_status", "utter_menu_short"]
    # What they need is one tap away.
    assert again.replies[1].buttons[0].payload == "/need_shelter"


@pytest.mark.parametrize("lang", LANGS)
async def test_a_status_question_as_a_first_message_is_answered_after_the_introduction(
    chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    result = await chat.say(STATUS[lang])
    order = keys(result)
    assert order[:2] == ["utter_first_contact", "utter_status"]
    assert order[-1] == "utter_ask_safe_to_chat" and "utter_ask_country" not in order
    assert result.language == lang


@pytest.mark.parametrize("lang", LANGS)
async def test_danger_with_a_police_question_is_still_a_crisis(
    chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    await ready(chat, lang, COUNTRY[lang])
    result = await chat.say(f"{SAY[lang]['crisis']}, {SCHOOL[lang]}")
    assert result.crisis and result.route == "crisis"
    assert keys(result)[0] == "utter_crisis"


@pytest.mark.parametrize("lang", LANGS)
async def test_cards_show_police_and_immigration_separately(
    chat_factory: ChatFactory, lang: str
) -> None:
    chat = chat_factory()
    await ready(chat, lang, COUNTRY[lang])
    result = await chat.say(SAY[lang]["legal"])
    cards = [r.text for r in result.replies if r.key == "service_card"]
    assert cards
    ctx = RenderContext(lang, "telegram")
    with chat.runtime.db.session() as s:
        for card in cards:
            # The name line ("Name (Country)") comes after the numbers, hours and kind of help.
            known = set(s.scalars(select(Service.name)))
            name = card_name(card, known)
            svc = s.scalar(select(Service).where(Service.name == name))
            assert svc is not None, card
            facts = chat.runtime.renderer.t(
                "service_facts",
                ctx,
                free=chat.runtime.renderer._fact(svc.free, ctx),
                confidential=chat.runtime.renderer._fact(svc.confidential, ctx),
                police=chat.runtime.renderer._fact(svc.may_involve_police, ctx),
                immigration=chat.runtime.renderer._fact(svc.may_share_with_immigration, ctx),
            )
            assert card.split("\n")[-1] == facts


# --- 5. Filters the person asks for ---

GY_SERVICES: list[dict[str, Any]] = [
    # A women-only shelter reachable by voice only, listed first.
    {"id": "zz-people-women", "gender_only": "women", "phones": [("592-100-0001", "voice")]},
    {
        "id": "zz-people-men",
        "gender_only": "men",
        "phones": [("592-100-0002", "voice"), ("592-100-0003", "sms")],
    },
    {
        "id": "zz-people-not-affirming",
        "lgbtq_affirming": False,
        "phones": [("592-100-0004", "voice")],
    },
    {
        "id": "zz-people-affirming",
        "lgbtq_affirming": True,
        "phones": [("592-100-0005", "whatsapp")],
    },
]


@pytest.fixture
def guyana_shelters(stack: Runtime) -> Iterator[dict[str, str]]:
    """Four shelters in Guyana (the sample directory has none there); removed afterwards."""
    names = {}
    with stack.db.session() as s:
        s.add(Organization(id="zz-people-org", name="People test org", description=""))
        for entry in GY_SERVICES:
            name = f"Shelter {entry['id'][10:]}"
            names[entry["id"]] = name
            s.add(
                Service(
                    id=entry["id"],
                    organization_id="zz-people-org",
                    name=name,
                    description="",
                    country="GY",
                    categories=["shelter"],
                    languages=["en"],
                    phones=[{"number": n, "kind": k} for n, k in entry["phones"]],
                    hours={"open_24_7": True},
                    free=True,
                    confidential=True,
                    may_involve_police=False,
                    may_share_with_immigration=False,
                    for_children=False,
                    lgbtq_affirming=entry.get("lgbtq_affirming"),
                    gender_only=entry.get("gender_only"),
                    public_address=False,
                    source="https://example.org/gy",
                    last_verified=dt.date.today(),
                    status="active",
                )
            )
    yield names
    with stack.db.session() as s:
        s.execute(delete(Service).where(Service.organization_id == "zz-people-org"))
        s.execute(delete(Organization).where(Organization.id == "zz-people-org"))


def card_name(card: str, known: set[str]) -> str:
    """The service a card shows: its "Name (Country)" line, wherever the card puts it."""
    return next(
        line.rsplit(" (", 1)[0] for line in card.split("\n") if line.rsplit(" (", 1)[0] in known
    )


def shown(result: TurnResult, names: dict[str, str]) -> list[str]:
    """The test shelters a reply shows, in order, by id."""
    by_name = {v: k for k, v in names.items()}
    out = []
    for reply in result.replies:
        if reply.key == "service_card":
            out.append(by_name[card_name(reply.text, set(by_name))])
    return out


@pytest.mark.parametrize("lang", LANGS)
async def test_a_man_is_never_offered_a_women_only_service(
    chat_factory: ChatFactory, guyana_shelters: dict[str, str], lang: str
) -> None:
    chat = chat_factory()
    await ready(chat, lang, "GY")
    said = await chat.say(MAN[lang])
    assert keys(said) == ["utter_filter_men", "utter_menu_short"]
    result = await chat.tap("/need_shelter")
    # Those that say they are for men first; then the others, never the women-only one.
    assert shown(result, guyana_shelters) == [
        "zz-people-men",
        "zz-people-affirming",
        "zz-people-not-affirming",
    ]
    # Its card says whom it is for.
    men_card = next(r.text for r in result.replies if "Shelter men" in r.text)
    assert text_of(chat.runtime, "service_men_only", lang) in men_card.split("\n")


@pytest.mark.parametrize("lang", LANGS)
async def test_asking_for_lgbtq_affirming_services_shows_the_list_again_as_asked(
    chat_factory: ChatFactory, guyana_shelters: dict[str, str], lang: str
) -> None:
    chat = chat_factory()
    await ready(chat, lang, "GY")
    before = await chat.tap("/need_shelter")
    assert len(shown(before, guyana_shelters)) == 3
    result = await chat.say(TRANS[lang])
    assert keys(result)[0] == "utter_filter_lgbtq"
    assert keys(result)[-1] == "utter_offer_human"
    # The one that says it is affirming first; the one that says it is not, never.
    assert shown(result, guyana_shelters) == [
        "zz-people-affirming",
        "zz-people-men",
        "zz-people-women",
    ]
    cards = [r.text for r in result.replies if r.key == "service_card"]
    yes = text_of(chat.runtime, "fact_yes", lang)
    unknown = text_of(chat.runtime, "fact_unknown", lang)
    assert text_of(chat.runtime, "service_lgbtq", lang, value=yes) in cards[0].split("\n")
    assert text_of(chat.runtime, "service_lgbtq", lang, value=unknown) in cards[1].split("\n")


@pytest.mark.parametrize("lang", LANGS)
async def test_someone_who_cannot_call_gets_only_services_without_a_voice_call(
    chat_factory: ChatFactory, guyana_shelters: dict[str, str], lang: str
) -> None:
    chat = chat_factory()
    await ready(chat, lang, "GY")
    said = await chat.say(NO_VOICE[lang])
    assert keys(said) == ["utter_filter_no_voice", "utter_menu_short"]
    result = await chat.tap("/need_shelter")
    assert shown(result, guyana_shelters) == ["zz-people-affirming", "zz-people-men"]
    cards = "\n".join(r.text for r in result.replies if r.key == "service_card")
    assert "592-100-0002" not in cards  # the men's shelter's voice number is left out
    assert text_of(chat.runtime, "service_contact_sms", lang, number="592-100-0003") in cards
    assert text_of(chat.runtime, "service_contact_whatsapp", lang, number="592-100-0005") in cards


# --- 10. Probing ---


@pytest.mark.parametrize("lang", LANGS)
async def test_probing_reveals_nothing(chat_factory: ChatFactory, lang: str) -> None:
    for probe in PROBES[lang]:
        # A stranger's first message: no introduction, no service, no numbers.
        chat = chat_factory()
        first = await chat.say(probe)
        assert (first.route, keys(first), first.crisis) == ("probing", ["utter_probing"], False)
        text = first.replies[0].text
        assert text == text_of(chat.runtime, "utter_probing", first.language)
        assert chat.runtime.settings.org_name not in text
        assert not re.search(r"\d", text)
        assert not first.replies[0].buttons

    # In a conversation that talked about help: the same words, nothing from before.
    chat = chat_factory()
    await ready(chat, lang, COUNTRY[lang])
    await chat.say(SAY[lang]["legal"])
    for probe in PROBES[lang]:
        later = await chat.say(probe)
        assert keys(later) == ["utter_probing"]
        assert later.replies[0].text == text_of(chat.runtime, "utter_probing", lang)


async def test_nothing_about_a_young_person_is_kept_after_delete(
    chat_factory: ChatFactory, child_line: None
) -> None:
    chat = chat_factory()
    await ready(chat, "es", "CO")
    await chat.say(AGE["es"])
    await chat.say("BORRAR")
    contact_id = chat.runtime.crypto.pseudonym(chat.channel, chat.user)
    with chat.runtime.db.session() as s:
        assert s.get(Contact, contact_id) is None
        left = s.scalars(select(Conversation).where(Conversation.contact_id == contact_id))
        assert not left.all()


# Per language: a country whose only child line in the shipped list is unconfirmed, and it.
UNCONFIRMED_CHILD_LINE = {
    "en": ("TT", "131"),
    "es": ("AR", "102"),
    "pt": ("BR", "100"),
    "fr": ("CL", "147"),
}


@pytest.mark.parametrize("lang", LANGS)
async def test_an_unconfirmed_child_line_is_never_shown(
    chat_factory: ChatFactory, lang: str
) -> None:
    """The same rule as crisis lines (docs/directory.md): a child line nobody confirmed from a
    source is not shown; the young person is told honestly there is none listed, and a person
    from the team can help find one."""
    code, number = UNCONFIRMED_CHILD_LINE[lang]
    chat = chat_factory()
    await ready(chat, lang, code)
    result = await chat.say(AGE[lang])
    assert keys(result)[0] == "utter_young"
    line = result.replies[0].text.split("\n")[1]
    assert line == text_of(chat.runtime, "no_child_line", lang)
    assert number not in result.replies[0].text


# Per language: someone who cannot call, in a crisis, where they are, and what the line after
# the first one must offer: text or relay numbers ("ways"), none (an honest "none, write here"),
# or only the note (their text number is already on the hotline line of the same reply).
NO_VOICE_CRISIS = {
    "en": ("i am deaf. they locked me in the room, i'm in Texas", "ways", ["988", "711"]),
    "es": ("soy sorda, no puedo llamar. me tienen encerrada en Bogotá", "none", []),
    "pt": ("sou surda, não posso ligar. me trancaram no quarto, estou em Manaus", "note", []),
    "fr": ("je suis sourde, pas téléphone. ils m'ont enfermée, je suis au Mexique", "none", []),
}


@pytest.mark.parametrize("lang", LANGS)
async def test_someone_who_cannot_call_gets_what_works_without_a_call_first(
    chat_factory: ChatFactory, lang: str
) -> None:
    """Text, WhatsApp and relay options before any voice number; with none, the honest fact and
    this chat (a person can answer in writing); voice numbers are said to be for someone near
    them. The filter said in the crisis message itself applies to that very reply."""
    text, expect, numbers = NO_VOICE_CRISIS[lang]
    chat = chat_factory(hint=lang)
    answered = await chat.say(text)
    assert answered.crisis and keys(answered)[0] == "utter_crisis"
    reply = answered.replies[0].text
    lines = reply.split("\n")
    note = text_of(chat.runtime, "crisis_voice_note", lang)
    assert lines[1].endswith(note)
    none = text_of(chat.runtime, "crisis_no_voice_none", lang)
    assert lines[1].startswith(none) == (expect == "none")
    if expect == "note":
        assert lines[1] == note
    for number in numbers:
        assert number in lines[1]
    assert all(n not in lines[1] for n in ("911", "123", "190"))  # voice numbers come after
    assert len(reply) <= MAX_LENGTH and revealing(reply) == []


@pytest.mark.parametrize("lang", LANGS)
async def test_no_service_for_someone_who_cannot_call_says_so_honestly(
    chat_factory: ChatFactory, lang: str
) -> None:
    """A country where nothing fits someone who cannot call: its emergency number for someone
    near them, and the honest "nothing works without a call here; write here"."""
    chat = chat_factory()
    await ready(chat, lang, "MX")
    await chat.say(NO_CALLS[lang])
    answered = await chat.say(NEED_LEGAL[lang])
    assert "utter_no_services_country" in keys(answered)
    text = next(r.text for r in answered.replies if r.key == "utter_no_services_country")
    assert text_of(chat.runtime, "crisis_no_voice_none", lang) in text
    assert len(text) <= MAX_LENGTH and revealing(text) == []


NO_CALLS = {
    "en": "no phone calls please",
    "es": "sin llamadas por favor",
    "pt": "sem ligações, por favor",
    "fr": "pas téléphone",
}
NEED_LEGAL = {
    "en": "I need a lawyer",
    "es": "necesito un abogado",
    "pt": "preciso de um advogado",
    "fr": "j'ai besoin d'un avocat",
}
