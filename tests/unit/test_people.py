"""The reader of ages, status questions, probing and filters (bot/safety/people.py), the
directory's filters, the wording variants, the separated police and immigration flags in HSDS
files and in the migration that split them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from bot.directory.hsds import exporting, importing, schema
from bot.directory.seed import load_directory, merge_reference
from bot.directory.service import Directory, fits, without_voice
from bot.nlg.catalog import Catalog
from bot.nlg.render import RenderContext, Renderer
from bot.safety.people import FILTERS, PeopleReader
from bot.settings import Settings
from bot.store.db import MIGRATIONS, Database
from bot.store.models import Service

ROOT = Path(__file__).resolve().parents[2]
READER = PeopleReader(["en", "es", "pt", "fr"])

UNDER_18 = {
    "en": ["hi im 15", "I'm 16 years old", "i am only fourteen", "I'm a minor", "im 17 and scared"],
    "es": ["tengo 15 años", "Tengo quince", "soy menor de edad", "tengo 16, y no sé qué hacer"],
    "pt": ["tenho 15 anos", "tenho dezesseis anos e preciso de ajuda", "sou menor de idade"],
    "fr": ["j'ai 15 ans", "J’ai quinze ans", "je suis mineure", "j'ai seize ans et j'ai peur"],
}
ADULTS = {
    "en": ["im 30", "I am 22 years old"],
    "es": ["tengo 30 años"],
    "pt": ["tenho 25 anos"],
    "fr": ["j'ai 40 ans"],
}
NOT_AN_AGE = {
    "en": ["I'm 15 minutes away", "i have 3 kids", "when i was 15 they took me", "she is 15"],
    "es": ["tengo 15 dólares", "tengo 2 hijos", "cuando tenía 15 años me llevaron"],
    "pt": ["tenho 15 reais", "tenho 3 filhos", "quando eu tinha 15 anos"],
    "fr": ["j'ai 3 enfants", "quand j'avais 15 ans", "j'ai 15 euros"],
}
STATUS = {
    "en": [
        "will i get deported if i call the hotline?",
        "will you tell my school or the police?",
        "are you the police?",
        "can I get help without papers?",
    ],
    "es": [
        "¿me van a deportar si llamo?",
        "¿ustedes llaman a la policía?",
        "soy indocumentada, ¿pueden ayudarme?",
    ],
    "pt": [
        "sou venezuelana e não tenho documento, vocês vão chamar a polícia federal?",
        "vocês vão contar pra minha escola?",
    ],
    "fr": ["vous allez appeler la police ?", "est-ce que je vais être expulsée si j'appelle ?"],
}
NOT_STATUS = {
    "en": [
        "the police took my passport",
        "call the police!",
        "is debt bondage illegal",
        "the girl next door never goes to school. he is hitting her now. who do i call?",
    ],
    "es": ["la policía me quitó el pasaporte", "necesito un abogado"],
    "pt": ["a polícia pegou meu passaporte", "preciso de advogado"],
    "fr": [
        "la police a pris mon passeport",
        "j'ai besoin d'un avocat",
        # a school in one sentence, a call in another: a child in danger, not a question about us
        "la petite d'en face ne va jamais à l'école. là il la frappe. qui j'appelle ?",
    ],
}
PROBING = {
    "en": [
        "im her husband. show me what she said last week",
        "who is this number?",
        "what did you tell my girlfriend?",
    ],
    "es": [
        "muéstrame lo que ella te escribió",
        "¿de quién es este número?",
        "¿qué le dijiste a mi novia?",
    ],
    "pt": [
        "me mostra o que ela te disse",
        "de quem é esse número?",
        "o que você falou pra minha namorada?",
    ],
    "fr": [
        "montre-moi ce qu'elle a dit",
        "c'est quel numéro ?",
        "qu'est-ce que tu as dit à ma copine ?",
    ],
}
NOT_PROBING = {
    "en": ["who can see my messages", "what did the lawyer say about papers", "who is this?"],
    "es": ["eso es lo que dijo mi jefe", "quien lee esto?"],
    "pt": ["se eu fugir ele me acha e me mata, foi o que ele disse", "quem le isso?"],
    "fr": ["qui lit mes messages", "c'est ce qu'il a dit hier"],
}
FILTER_PHRASES = {
    "men": [
        "i'm a man",
        "is there a shelter for men",
        "soy hombre",
        "sou homem",
        "je suis un homme",
    ],
    "lgbtq": [
        "are any of these safe for trans people?",
        "sou trans",
        "soy gay",
        "je suis lesbienne",
    ],
    "no_voice": [
        "no phone calls",
        "i'm deaf",
        "soy sorda",
        "sou surda",
        "pas téléphone",
        "je suis sourde",
    ],
    "children": ["anything for kids?", "is there help for young people", "algo para menores"],
}
NO_FILTER = [
    "she makes me dance for men",
    "si je rentre pas je suis un homme mort haha",
    "my cousin cant call us",
    "I can't talk now",
]


def _all(table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(lang, text) for lang, texts in table.items() for text in texts]


@pytest.mark.parametrize(("lang", "text"), _all(UNDER_18))
def test_an_age_under_18_is_read_in_digits_and_words(lang: str, text: str) -> None:
    assert READER.read(text).minor is True


@pytest.mark.parametrize(("lang", "text"), _all(ADULTS))
def test_an_adult_age_is_read_as_such(lang: str, text: str) -> None:
    assert READER.read(text).minor is False


@pytest.mark.parametrize(("lang", "text"), _all(NOT_AN_AGE))
def test_a_count_a_past_age_or_someone_elses_is_not_the_writers_age(lang: str, text: str) -> None:
    assert READER.read(text).minor is None


@pytest.mark.parametrize(("lang", "text"), _all(STATUS))
def test_status_questions(lang: str, text: str) -> None:
    assert READER.read(text).status is True


@pytest.mark.parametrize(("lang", "text"), _all(NOT_STATUS))
def test_statements_and_calls_for_help_are_not_status_questions(lang: str, text: str) -> None:
    assert READER.read(text).status is False


@pytest.mark.parametrize(("lang", "text"), _all(PROBING))
def test_probing(lang: str, text: str) -> None:
    assert READER.read(text).probing is True


@pytest.mark.parametrize(("lang", "text"), _all(NOT_PROBING))
def test_a_person_asking_about_their_own_chat_is_not_probing(lang: str, text: str) -> None:
    assert READER.read(text).probing is False


@pytest.mark.parametrize(
    ("name", "text"), [(name, text) for name, texts in FILTER_PHRASES.items() for text in texts]
)
def test_filters(name: str, text: str) -> None:
    assert READER.read(text).filters == frozenset({name})


@pytest.mark.parametrize("text", NO_FILTER)
def test_no_filter_from_a_passing_word(text: str) -> None:
    assert READER.read(text).filters == frozenset()


def test_what_else_a_message_says_is_counted() -> None:
    assert READER.read("hi im 15").rest_words == 0
    assert READER.read("bonjour, je suis sourde").rest_words == 0
    assert READER.read("tengo 15 años y necesito un lugar donde dormir").rest_words == 5


def test_whose_story_it_is() -> None:
    assert READER.read("my sister is forced to work").about_other
    assert READER.read("there is a girl at the restaurant who looks scared").about_other
    assert not READER.read("i'm a woman and they took my passport").about_other
    assert not READER.read("hi im 15").about_other


def test_every_language_lists_only_known_filters() -> None:
    for lang in ("en", "es", "pt", "fr"):
        path = ROOT / "bot" / "safety" / "lexicons" / lang / "people.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(data["filters"]) == set(FILTERS), lang


def test_names_authority() -> None:
    assert READER.names_authority("chamar a polícia")
    assert not READER.names_authority("me tienen encerrada")


# --- the directory's filters ---


def _service(**values: Any) -> Service:
    base: dict[str, Any] = {
        "id": "s",
        "phones": [{"number": "1", "kind": "voice"}],
        "email": None,
        "gender_only": None,
        "lgbtq_affirming": None,
        "for_children": False,
    }
    return Service(**{**base, **values})


def test_fits() -> None:
    women = _service(gender_only="women")
    assert not fits(women, frozenset({"men"}))
    assert fits(women, frozenset())
    assert fits(_service(gender_only="men"), frozenset({"men"}))
    assert not fits(_service(lgbtq_affirming=False), frozenset({"lgbtq"}))
    assert fits(_service(lgbtq_affirming=None), frozenset({"lgbtq"}))
    assert not fits(_service(), frozenset({"no_voice"}))
    assert fits(_service(email="a@example.org"), frozenset({"no_voice"}))
    assert without_voice(_service(phones=[{"number": "711", "kind": "relay"}]))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'people.sqlite3'}")
    database.migrate()
    with database.session() as s:
        load_directory(s, Settings().sample_directory)
        merge_reference(s, Settings().countries_file)
    yield database
    database.dispose()


def test_the_sample_directory_keeps_the_two_flags_apart(db: Database) -> None:
    with db.session() as s:
        nhth = s.get(Service, "us-nhth")
        colombia = s.get(Service, "co-linea-trata")
        assert nhth is not None and colombia is not None
        assert (nhth.may_involve_police, nhth.may_share_with_immigration) == (True, None)
        assert (colombia.may_involve_police, colombia.may_share_with_immigration) == (True, True)


def test_a_card_shows_police_and_immigration_separately(db: Database) -> None:
    renderer = Renderer(Settings(), _catalog(), _Hours())
    with db.session() as s:
        svc = s.get(Service, "us-nhth")
        assert svc is not None
        card = renderer.card(svc, 1, 1, RenderContext("en", "telegram"))
        assert card.split("\n")[-1] == (
            "Free: yes. Confidential: yes. May involve the police: yes. "
            "May share information with immigration: not known."
        )
        young = RenderContext("en", "telegram", young=True)
        assert renderer.variant("utter_privacy", young) == "utter_privacy_young"
        mine = RenderContext("en", "telegram", first_person=True)
        assert renderer.variant("utter_report_case", mine) == "utter_report_case_self"
        assert renderer.variant("utter_report_case", young) == "utter_report_case"


def test_directory_find_leaves_out_what_does_not_fit(db: Database) -> None:
    with db.session() as s:
        d = Directory(s, today=dt.date(2026, 12, 1))
        everyone = d.find("legal", ["US"], limit=3)
        assert [svc.id for svc in everyone] == ["us-cast-services", "us-ndvh-line", "us-nhth"]
        # Both US lines have a text number (and relay or TTY): they stay for someone who
        # cannot call; Cast has only a voice number.
        assert [svc.id for svc in d.find("legal", ["US"], 3, frozenset({"no_voice"}))] == [
            "us-ndvh-line",
            "us-nhth",
        ]
        # Canada's hotline has only a voice number; the FCJ Refugee Centre answers on WhatsApp.
        assert [svc.id for svc in d.find("legal", ["CA"], 3, frozenset({"no_voice"}))] == [
            "ca-fcj-trafficking"
        ]


# --- HSDS: the two flags, and files from before them ---


def test_hsds_round_trip_and_an_old_file(db: Database) -> None:
    with db.session() as s:
        svc = s.get(Service, "co-linea-trata")
        assert svc is not None
        item = exporting.service_to_hsds(svc)
    attrs = {a["taxonomy_term"]["name"]: a["value"] for a in item["attributes"]}
    assert (attrs["may_involve_police"], attrs["may_share_with_immigration"]) == ("true", "true")
    assert attrs["gender_only"] == ""
    record = importing.normalise(item)
    assert (record["may_involve_police"], record["may_share_with_immigration"]) == (True, True)
    # A file written before the split: its one flag counts for both.
    old = dict(item)
    old["attributes"] = [
        a
        for a in item["attributes"]
        if a["taxonomy_term"]["name"] not in ("may_involve_police", "may_share_with_immigration")
    ] + [exporting._attr(schema.OLD_AUTHORITIES_FLAG, False)]
    record = importing.normalise(old)
    assert (record["may_involve_police"], record["may_share_with_immigration"]) == (False, False)
    bad = dict(item)
    bad["attributes"] = [*item["attributes"], exporting._attr("gender_only", "girls")]
    with pytest.raises(schema.RowProblem, match="gender_only"):
        importing.normalise(bad)


def test_the_migration_gives_the_old_flag_to_both(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection_engine"] = db.engine
    command.upgrade(cfg, "0009")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO organizations (id, name, description) VALUES ('o', 'O', '')"
        )
        for sid, flag in (("yes", 1), ("no", 0), ("unknown", None)):
            conn.execute(
                sa.text(
                    "INSERT INTO services (id, organization_id, name, description, country, "
                    "categories, languages, phones, hours, may_involve_authorities, for_children, "
                    "public_address, source, verified_by, status) VALUES (:id, 'o', :id, '', "
                    "'US', '[]', '[]', '[]', '{}', :flag, 0, 0, '', '', 'active')"
                ),
                {"id": sid, "flag": flag},
            )
    db.migrate()
    with db.session() as s:
        rows = {
            svc.id: (svc.may_involve_police, svc.may_share_with_immigration, svc.gender_only)
            for svc in s.scalars(select(Service))
        }
    assert rows == {
        "yes": (True, True, None),
        "no": (False, False, None),
        "unknown": (None, None, None),
    }
    command.downgrade(cfg, "0009")
    with db.engine.begin() as conn:
        found = conn.exec_driver_sql("SELECT id, may_involve_authorities FROM services")
        back = {str(row[0]): row[1] for row in found}
    assert back == {"yes": 1, "no": 0, "unknown": None}
    db.dispose()


def _catalog() -> Catalog:
    return Catalog(["en", "es", "pt", "fr"])


class _Hours:
    def describe(self, language: str) -> str:
        return ""

    def describe_next(self, now: dt.datetime, language: str) -> str:
        return ""
