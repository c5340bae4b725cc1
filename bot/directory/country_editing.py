"""Changing a country's numbers, from the console, the CLI or an import: one set of rules
(bot/directory/numbers.py) wherever the change comes from, and nothing half-written: a list with
one bad number is refused whole. Auditing is the caller's (the console and the CLI record who).

The console and the CLI do not call the writing functions here directly: a change to numbers a
crisis reply shows waits for a second admin (bot/directory/changes.py), which applies it with
``replace_numbers`` once approved."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory.hsds.schema import COUNTRY_CODES
from bot.directory.numbers import NumberProblem, clean, clean_all
from bot.store.models import Country


@dataclass(frozen=True)
class RowProblem:
    row: int  # 0-based position in the list given
    code: str
    message: str


def all_countries(session: Session) -> list[Country]:
    return list(session.scalars(select(Country).order_by(Country.code)))


def check(entries: Iterable[dict[str, Any]]) -> list[RowProblem]:
    problems = []
    for row, entry in enumerate(entries):
        try:
            clean(entry)
        except NumberProblem as exc:
            problems.append(RowProblem(row, exc.code, str(exc)))
    return problems


def replace_numbers(
    session: Session, code: str, entries: list[dict[str, Any]], languages: list[str] | None = None
) -> Country:
    """The country's whole list of numbers, replaced (a new country is created). Raises
    NumberProblem for the first bad entry; nothing is changed then."""
    code = code.upper()
    if code not in COUNTRY_CODES:
        raise NumberProblem("bad_country", f"'{code}' is not an ISO 3166 two-letter code")
    numbers = clean_all(entries)
    country = session.get(Country, code) or Country(
        code=code, languages=[], source="", verified_by=""
    )
    country.numbers = numbers
    if languages is not None:
        country.languages = languages
    session.add(country)
    session.flush()
    return country


def with_number(numbers: list[dict[str, Any]], entry: dict[str, Any]) -> tuple[list[Any], bool]:
    """The list with one number added, or replacing the one with the same kind, number and way
    of reaching it; and whether the number was new. Raises NumberProblem for a bad entry."""
    number = clean(entry)
    current = list(numbers)
    key = (number["kind"], number["number"], number["how"])
    for i, existing in enumerate(current):
        if (existing.get("kind"), existing.get("number"), existing.get("how", "voice")) == key:
            current[i] = number
            return current, False
    current.append(number)
    return current, True


def without_number(numbers: list[dict[str, Any]], kind: str, number: str) -> list[Any] | None:
    """The list without the given number, or None when it has no such number."""
    kept = [n for n in numbers if (n.get("kind"), n.get("number")) != (kind, number)]
    return kept if len(kept) != len(numbers) else None


def set_number(session: Session, code: str, entry: dict[str, Any]) -> tuple[Country, bool]:
    """Add one number, or replace the one with the same kind, number and way of reaching it.
    Returns the country and whether the number was new."""
    country = session.get(Country, code.upper())
    current, new = with_number(list(country.numbers or []) if country else [], entry)
    return replace_numbers(session, code, current), new


def remove_number(session: Session, code: str, kind: str, number: str) -> bool:
    country = session.get(Country, code.upper())
    if country is None:
        return False
    kept = without_number(list(country.numbers or []), kind, number)
    if kept is None:
        return False
    country.numbers = kept
    session.flush()
    return True


def country_to_json(country: Country) -> dict[str, Any]:
    """A country as the import and export files carry it (docs/directory.md, "Countries")."""
    return {
        "code": country.code,
        "languages": list(country.languages or []),
        "numbers": list(country.numbers or []),
    }
