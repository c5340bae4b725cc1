"""Countries as managed data: the shipped reference list (all 35 OAS member states, each number
with its source), the rules a number must meet, which numbers survivors are shown, and the merge
into a database that keeps admins' edits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from babel import Locale

from bot.directory import country_editing
from bot.directory.countries import CountryResolver, Found, load_places
from bot.directory.numbers import KINDS, NumberProblem, clean, shown
from bot.directory.seed import merge_reference
from bot.directory.service import Directory, EmergencyNumber
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import Country

OAS = set(
    [
        "AG",
        "AR",
        "BS",
        "BB",
        "BZ",
        "BO",
        "BR",
        "CA",
        "CL",
        "CO",
        "CR",
        "CU",
        "DM",
        "DO",
        "EC",
        "SV",
        "GD",
        "GT",
        "GY",
        "HT",
        "HN",
        "JM",
        "MX",
        "NI",
        "PA",
        "PY",
        "PE",
        "KN",
        "LC",
        "VC",
        "SR",
        "TT",
        "US",
        "UY",
        "VE",
    ]
)
REFERENCE = json.loads(Settings().countries_file.read_text(encoding="utf-8"))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'countries.sqlite3'}")
    database.migrate()
    yield database
    database.dispose()


def test_the_reference_lists_every_oas_member_state() -> None:
    codes = [c["code"] for c in REFERENCE["countries"]]
    assert set(codes) == OAS and len(codes) == 35


def test_every_reference_number_is_valid_and_every_confirmed_one_has_its_source() -> None:
    for country in REFERENCE["countries"]:
        assert country["numbers"], country["code"]
        assert any(n["kind"] in ("emergency", "police") for n in country["numbers"])
        for n in country["numbers"]:
            assert clean(n) == {k: v for k, v in n.items()}, (country["code"], n)
            if n["confirmed"]:
                assert n["source"].startswith("http") and n["verified"], (country["code"], n)
            else:
                assert not n["source"] and not n["verified"], (country["code"], n)


def test_a_confirmed_number_needs_a_source_and_a_date() -> None:
    good = {"kind": "crisis", "number": "988", "source": "https://x.org/a"}
    good["verified"] = "2026-12-01"
    assert clean({**good, "confirmed": True})["confirmed"] is True
    for broken, code in (
        ({**good, "confirmed": True, "source": ""}, "unsourced"),
        ({**good, "kind": "hotline"}, "bad_kind"),
        ({**good, "number": "call us"}, "bad_number"),
        ({**good, "source": "javascript:alert(1)"}, "bad_source"),
        ({**good, "verified": "1/12/2026"}, "bad_date"),
        ({**good, "how": "pigeon"}, "bad_how"),
    ):
        with pytest.raises(NumberProblem) as caught:
            clean(broken)
        assert caught.value.code == code
    assert set(KINDS) >= {"emergency", "police", "ambulance", "trafficking", "crisis", "child"}


def test_unconfirmed_numbers_stand_in_only_for_missing_emergency_numbers() -> None:
    numbers = [
        {"kind": "police", "number": "106", "how": "voice", "confirmed": False},
        {"kind": "crisis", "number": "555", "how": "voice", "confirmed": False},
        {"kind": "crisis", "number": "988", "how": "voice", "confirmed": True},
        {"kind": "crisis", "number": "988", "how": "sms", "confirmed": True},
    ]
    assert shown(numbers, "police") == ["106"]  # better than no emergency number at all
    assert shown(numbers, "crisis") == ["988"]  # never an unchecked crisis line
    assert shown(numbers[:2], "crisis") == []


def test_merging_the_reference_adds_every_country_once_and_keeps_admin_edits(
    db: Database,
) -> None:
    with db.session() as s:
        assert len(merge_reference(s, Settings().countries_file)) == 35
    with db.session() as s:
        d = Directory(s)
        assert len(d.known_countries()) == 35
        assert d.crisis_line("BR") == EmergencyNumber("BR", "188")
        assert d.health_emergency("BR") == EmergencyNumber("BR", "192")  # SAMU, not police
        assert d.emergency("BR") == EmergencyNumber("BR", "190")
        assert d.emergency("PY") == EmergencyNumber("PY", "911")  # no service, still numbers
        assert d.crisis_line("HT") is None
        # an admin removes a number: it does not come back at the next start
        assert country_editing.remove_number(s, "BR", "crisis", "188")
    with db.session() as s:
        assert merge_reference(s, Settings().countries_file) == []
    with db.session() as s:
        assert Directory(s).crisis_line("BR") is None


def test_an_existing_country_gets_the_reference_numbers_it_lacks(db: Database) -> None:
    with db.session() as s:
        s.add(
            Country(
                code="MX",
                languages=["es"],
                numbers=[{"kind": "emergency", "number": "911", "how": "voice", "confirmed": True}],
                source="",
                verified_by="",
            )
        )
    with db.session() as s:
        assert "MX" in merge_reference(s, Settings().countries_file)
    with db.session() as s:
        country = s.get(Country, "MX")
        assert country is not None
        kinds = [(n["kind"], n["number"]) for n in country.numbers]
        assert kinds.count(("emergency", "911")) == 1
        assert ("crisis", "800 911 2000") in kinds


def test_set_number_replaces_the_same_number_and_refuses_a_bad_one(db: Database) -> None:
    with db.session() as s:
        merge_reference(s, Settings().countries_file)
        entry = {
            "kind": "crisis",
            "number": "141",
            "source": "https://example.org/py",
            "verified": "2026-12-03",
            "confirmed": True,
        }
        _, new = country_editing.set_number(s, "py", entry)
        assert new
        _, new = country_editing.set_number(s, "PY", {**entry, "label": "Línea"})
        assert not new
        with pytest.raises(NumberProblem):
            country_editing.set_number(s, "PY", {**entry, "number": "x"})
    with db.session() as s:
        assert Directory(s).crisis_line("PY") == EmergencyNumber("PY", "141")


def test_bot_countries_lists_all_35_with_their_sources_and_edits_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli
    from bot.settings import get_settings

    monkeypatch.setenv("BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    get_settings.cache_clear()
    try:
        assert cli.main(["countries"]) == 0
        out = capsys.readouterr().out
        assert "35 countries;" in out
        listed = {line[:2] for line in out.splitlines() if line[:2].isupper() and line[2:4] == "  "}
        assert listed == OAS
        assert "https://www.eluniversal.com.mx/" in out and "UNCONFIRMED" in out
        args = ["countries", "set", "CU", "police", "106", "--source", "https://example.org/cu"]
        assert cli.main(args) == 0
        assert "waits for an admin" in capsys.readouterr().out  # approved in the console
        assert cli.main(["countries", "set", "CU", "crisis", "no number"]) == 1
        capsys.readouterr()
        assert cli.main(["countries", "--code", "cu"]) == 0
        out = capsys.readouterr().out
        assert "UNCONFIRMED" in out and "https://example.org/cu" not in out  # not yet
        assert cli.main(["countries", "remove", "CU", "police", "106"]) == 0
        assert cli.main(["countries", "remove", "CU", "police", "999"]) == 1
    finally:
        get_settings.cache_clear()


# --- Places (bot/directory/countries.py, bot/directory/places.json) ---

LISTED = [c["code"] for c in REFERENCE["countries"]]
SPOKEN = {c["code"]: c["languages"] for c in REFERENCE["countries"]}


@pytest.fixture(scope="module")
def resolver() -> CountryResolver:
    return CountryResolver(["en", "es", "pt", "fr"], LISTED, SPOKEN)


@pytest.mark.parametrize(
    ("text", "language", "code"),
    [
        ("Texas", "en", "US"),
        ("I'm in NYC", "en", "US"),
        ("estoy en Buenos Aires", "es", "AR"),
        ("estoy en buenos aires", "es", "AR"),
        ("CDMX", "es", "MX"),
        ("D.F.", "es", "MX"),
        ("Québec", "fr", "CA"),
        ("je suis à Montreal", "fr", "CA"),
        ("estou em SP", "pt", "BR"),
        ("estou no Pará", "pt", "BR"),
        ("Sao Paulo", "pt", "BR"),
        ("Santiago", "es", "CL"),
        ("Santiago de Cuba", "es", "CU"),
        ("Santiago de los Caballeros", "es", "DO"),
        ("Trinidad", "en", "TT"),
        ("Port of Spain", "en", "TT"),
        ("Georgetown", "en", "GY"),
        ("m nan Kebèk", "fr", "CA"),
        ("mwen nan Miyami", "fr", "US"),
        ("Puerto Rico", "es", "US"),
        ("Venezuela", "es", "VE"),
        ("El Salvador", "es", "SV"),
    ],
)
def test_places_resolve_to_their_country(
    resolver: CountryResolver, text: str, language: str, code: str
) -> None:
    assert resolver.find(text, language) == Found((code,), (code,))


def test_a_shared_name_is_narrowed_by_language_or_left_to_ask(resolver: CountryResolver) -> None:
    assert resolver.find("DF", "es").codes == ("MX",)
    assert resolver.find("DF", "pt").codes == ("BR",)
    assert resolver.find("BA", "es").codes == ("AR",)
    assert resolver.find("BA", "pt").codes == ("BR",)
    assert resolver.find("Georgia", "en").codes == ("US",)  # the country Georgia speaks Georgian
    cordoba = resolver.find("Córdoba", "es")
    assert cordoba.ambiguous and cordoba.codes == ("AR", "ES", "MX")
    assert cordoba.listed == ("AR", "MX") and cordoba.one_listed is None
    assert resolver.find("San José", "es").codes == ("CR", "US")


def test_a_country_outside_the_directory_is_named_not_unknown(resolver: CountryResolver) -> None:
    for text, language, code in (
        ("Portugal", "pt", "PT"),
        ("España", "es", "ES"),
        ("Japon", "fr", "JP"),
        ("Lisboa", "pt", "PT"),
    ):
        found = resolver.find(text, language)
        assert found == Found((code,), ()), text
    assert resolver.outside_emergency("PT") == "112"
    assert resolver.outside_emergency("JP") is None
    assert resolver.resolve("Portugal") is None  # not a directory country


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("para mi hija", "es"),  # Pará
        ("tengo una reunión", "es"),  # Réunion
        ("el encargado le quitó el documento", "es"),  # Quito
        ("non ça ira", "fr"),  # Iran in Portuguese
        ("piden mas plata", "es"),
        ("salta essa", "pt"),
        ("help they locked me in the room", "en"),
        ("ayuda me tienen encerrada en el cuarto", "es"),
        ("sí", "es"),
        ("no", "pt"),
    ],
)
def test_everyday_words_are_not_places(resolver: CountryResolver, text: str, language: str) -> None:
    assert resolver.find(text, language) == Found()


def test_where_the_person_is_wins_over_where_they_come_from(resolver: CountryResolver) -> None:
    assert resolver.find("soy de Venezuela pero estoy en Bogotá", "es").codes == ("CO",)
    back = resolver.find("quiero volver a Venezuela", "es")
    assert back.codes == ("VE",) and back.elsewhere
    assert not resolver.find("estoy en Caracas", "es").elsewhere


def test_every_place_names_a_real_country_and_weak_names_are_known(
    resolver: CountryResolver,
) -> None:
    places = load_places()
    territories = Locale.parse("en").territories
    assert set(places.names) <= set(territories)
    assert set(LISTED) <= set(places.names)  # every directory country has its places
    assert [name for name in places.weak if not resolver.knows(name)] == []
    for entry in places.outside.values():
        assert entry["source"].startswith("https://") and entry["verified"]


def test_the_country_answers_of_the_training_data_resolve(resolver: CountryResolver) -> None:
    """Recall on every ``inform_country`` example of data/nlu (the phrasings people use)."""
    examples: list[tuple[str, str]] = []
    for path in sorted(Path("data/nlu").glob("*/*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if item.get("intent") == "inform_country":
                for line in item["examples"].splitlines():
                    text = re.sub(r"\[([^\]]+)\][({][^)}]*[)}]", r"\1", line.strip().lstrip("- "))
                    if text:
                        examples.append((path.parent.name, text))
    missed = [text for lang, text in examples if not resolver.find(text, lang).codes]
    assert len(examples) == 548
    assert len(missed) <= 5, missed
