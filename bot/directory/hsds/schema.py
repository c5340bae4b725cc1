"""The HSDS vocabulary this directory speaks (our taxonomy, status and phone-type mappings, days,
countries) and the rules one field must meet (country, phone, date, time zone, opening hours),
raising ``RowProblem`` with a machine code and an English reason. It stands apart from reading and
writing files because three callers share it: the import, the export and the console's forms
(``bot/directory/editing.py``), so a field is refused for the same reason wherever it comes from."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import available_timezones

from babel import Locale

from bot.languages import CODES

TAXONOMY = "safe-harbour"
FLAGS = (
    "confidential",
    "may_involve_police",
    "may_share_with_immigration",
    "for_children",
    "lgbtq_affirming",
    "free",
)
# Files written before the two were separated: a yes may have meant either (importing.py).
OLD_AUTHORITIES_FLAG = "may_involve_authorities"
GENDER_ONLY = ("women", "men")
STATUS_TO_HSDS = {"active": "active", "retired": "defunct"}
STATUS_FROM_HSDS = {
    "active": "active",
    "inactive": "retired",
    "defunct": "retired",
    "temporarily closed": "retired",
}
PHONE_TO_HSDS = {
    "voice": "voice",
    "sms": "text",
    "whatsapp": "text",
    "tty": "textphone",
    "relay": "voice",
}
LANGS = CODES
_PHONE = re.compile(r"^[+*#(\d][\d\s().*#-]{1,30}$")
# Two-letter ISO 3166 codes of places (Babel's territories without groupings such as EU or UN).
NOT_COUNTRIES = {"EU", "EZ", "QO", "UN", "ZZ"}
COUNTRY_CODES = frozenset(
    str(code)
    for code in Locale.parse("en").territories
    if len(str(code)) == 2 and str(code).isalpha() and code not in NOT_COUNTRIES
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HSDS_DAYS = dict(zip(DAYS, ("MO", "TU", "WE", "TH", "FR", "SA", "SU"), strict=True))
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ImportError_(Exception):
    """The file could not be read at all (not JSON, not CSV, missing tables)."""


class RowProblem(ValueError):
    """Why one entry is refused: a machine ``code`` with its ``params`` (the console shows them
    in the admin's language) and, as the exception's text, the English reason the CLI prints."""

    def __init__(self, code: str, reason: str, **params: str) -> None:
        super().__init__(reason)
        self.code = code
        self.params = params


def country_code(value: Any) -> str:
    """An ISO 3166 two-letter code, upper-cased; raises RowProblem otherwise."""
    code = str(value or "").strip().upper()
    if code not in COUNTRY_CODES:
        raise RowProblem(
            "bad_country", f"country '{code}' is not an ISO 3166 two-letter code", value=code
        )
    return code


def phone(number: Any, kind: Any = "voice") -> dict[str, str]:
    """A phone entry {number, kind}; raises RowProblem when the number is not one."""
    text = str(number or "").strip()
    if not _PHONE.match(text):
        raise RowProblem("bad_phone", f"phone '{text}' is not a phone number", value=text)
    name = str(kind or "voice").strip().lower()
    name = {"text": "sms", "textphone": "tty"}.get(name, name)
    return {"number": text, "kind": name if name in PHONE_TO_HSDS else "voice"}


NAME_MAX = 200


def names(value: Any) -> dict[str, str]:
    """A service's names in other languages, ``{"fr": "Ligne d'urgence …"}``: only the
    assistant's languages (a name shown to nobody would never be checked), each at most
    ``NAME_MAX`` characters; empty ones are left out. Raises RowProblem otherwise."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise RowProblem("bad_names", "names must map a language code to a name")
    out: dict[str, str] = {}
    for code, name in value.items():
        lang = str(code or "").strip().lower()
        text = str(name or "").strip()
        if not text:
            continue
        if lang not in LANGS:
            raise RowProblem(
                "bad_language",
                f"name language '{lang}' is not one of " + ", ".join(LANGS),
                value=lang,
            )
        if len(text) > NAME_MAX:
            raise RowProblem(
                "too_long", f"the {lang} name is longer than {NAME_MAX}", max=str(NAME_MAX)
            )
        out[lang] = text
    return {lang: out[lang] for lang in LANGS if lang in out}


def verified_date(value: Any, today: dt.date | None = None) -> dt.date:
    """The last-verified date: required, ISO formatted, not in the future."""
    text = str(value or "").strip()
    if not text:
        raise RowProblem("missing_date", "assured_date (last verified) is missing")
    try:
        date = dt.date.fromisoformat(text[:10])
    except ValueError:
        raise RowProblem(
            "bad_date", f"assured_date '{text}' is not a date (YYYY-MM-DD)", value=text
        ) from None
    if date > (today or dt.date.today()) + dt.timedelta(days=1):
        raise RowProblem("future_date", "assured_date is in the future", value=text)
    return date


def timezone(value: Any) -> str | None:
    text = str(value or "").strip()
    if text and text not in available_timezones():
        raise RowProblem("bad_timezone", f"time zone '{text}' is unknown", value=text)
    return text or None


def interval(opens: Any, closes: Any) -> list[str]:
    """One opening interval ["HH:MM", "HH:MM"]; closing before opening means past midnight."""
    a, b = str(opens or "").strip()[:5], str(closes or "").strip()[:5]
    if not _TIME.match(a) or not _TIME.match(b) or a == b:
        raise RowProblem(
            "bad_hours", f"opening hours '{a}-{b}' are not HH:MM-HH:MM", value=f"{a}-{b}"
        )
    return [a, b]


def hours_record(
    text: str | None,
    zone: str | None,
    open_24_7: bool,
    weekly: dict[str, list[list[str]]] | None = None,
    holidays: str | None = None,
) -> dict[str, Any]:
    """The ``hours`` JSON shape (docs/directory.md): text survivors read, IANA time zone, open
    24/7, and only when given: weekly intervals per day and a note about holidays."""
    record: dict[str, Any] = {
        "text": text or None,
        "timezone": zone or None,
        "open_24_7": open_24_7,
    }
    if weekly:
        record["weekly"] = {day: weekly[day] for day in DAYS if weekly.get(day)}
    if holidays:
        record["holidays"] = holidays
    return record
