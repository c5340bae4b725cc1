"""Small pure parts: team hours, language choice, countries, payloads, logging."""

from __future__ import annotations

import datetime as dt
import logging

from bot.conversation.choices import parse_payload
from bot.directory.countries import CountryResolver
from bot.handoff.hours import TeamHours
from bot.language import Detection, decide
from bot.logging import SafeFormatter


def test_team_hours_and_holidays() -> None:
    hours = TeamHours("mon-fri 09:00-17:00", "America/Mexico_City", "2026-12-25")
    saturday_noon = dt.datetime(2026, 11, 28, 18, 0, tzinfo=dt.UTC)  # 12:00 in Mexico City
    monday_ten = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)
    christmas = dt.datetime(2026, 12, 25, 16, 0, tzinfo=dt.UTC)
    assert not hours.is_open(saturday_noon)
    assert hours.is_open(monday_ten)
    assert not hours.is_open(christmas)
    nxt = hours.next_open(saturday_noon)
    assert nxt is not None and nxt.weekday() == 0 and nxt.hour == 9
    assert "lunes" in hours.describe("es")
    # The team's time zone as people say it in each language, never "(America/Mexico_City)".
    assert hours.describe("es").endswith("(hora de México (Ciudad de México))")
    assert hours.describe("pt").endswith("(Horário México (Cidade do México))")
    assert hours.describe("fr").endswith("(heure : Mexique (Mexico))")
    assert "America/" not in hours.describe("en") + hours.describe_next(saturday_noon, "es")


def test_language_is_sticky_and_never_flips_on_one_word() -> None:
    pt = Detection("pt", 0.99, 1)
    assert decide("es", None, pt, None, "en").language == "es"
    long_pt = Detection("pt", 0.99, 6)
    first = decide("es", None, long_pt, None, "en")
    assert first.language == "es" and first.candidate == "pt"
    assert decide("es", "pt", long_pt, None, "en").language == "pt"


def test_new_conversation_language() -> None:
    assert decide(None, None, Detection("fr", 0.45, 1), None, "en", text="oi").language == "pt"
    assert decide(None, None, Detection("es", 0.95, 4), "en", "en").language == "es"
    assert decide(None, None, None, "fr", "en").language == "fr"


def test_country_names_in_four_languages() -> None:
    r = CountryResolver(["en", "es", "pt", "fr"], ["US", "MX", "BR", "HT", "DO"])
    assert r.resolve("estoy en méxico") == "MX"
    assert r.resolve("moro no Brasil") == "BR"
    assert r.resolve("je suis en Haïti") == "HT"
    assert r.resolve("I'm in the USA") == "US"
    assert r.resolve("republica dominicana") == "DO"
    assert r.resolve("help us please") is None


def test_payloads() -> None:
    assert parse_payload('/inform_country{"country":"MX"}') == ("inform_country", {"country": "MX"})
    assert parse_payload("/affirm") == ("affirm", {})
    assert parse_payload("/bad{not json") is None
    assert parse_payload("hello") is None


def test_log_formatter_drops_unknown_fields() -> None:
    record = logging.LogRecord("bot.gateway", logging.INFO, __file__, 1, "turn", None, None)
    record.text = "secret words"
    record.intent = "greet"
    line = SafeFormatter().format(record)
    assert "secret" not in line and "intent=greet" in line


def test_short_messages_keep_or_give_the_right_language() -> None:
    """One short word starts a new conversation in its language, and never flips an ongoing one."""
    wrong = Detection("fr", 0.4, 1)  # what a detector might say about one short word
    for text, lang in [
        ("merci", "fr"),
        ("obg", "pt"),
        ("tchau", "pt"),
        ("grax", "es"),
        ("thx", "en"),
        ("chao", "es"),
        ("dale", "es"),
        ("nel", "es"),
        ("sip", "es"),
        ("Mèsi", "fr"),
    ]:
        assert decide(None, None, wrong, None, "en", text=text).language == lang, text
        for sticky in ("en", "es", "pt", "fr"):
            kept = decide(sticky, None, Detection(lang, 0.99, 1), None, "en", text=text)
            assert kept.language == sticky, (text, sticky)
