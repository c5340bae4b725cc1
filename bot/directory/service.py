"""Questions the assistant asks of the directory. Reads the database each time: an admin's edit
reaches the very next answer, with no retraining or restart."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.directory.numbers import shown
from bot.languages import LANGUAGES
from bot.store.models import Country, Service

# Countries to suggest when the person's country is unknown, by language (most likely first).
LIKELY_COUNTRIES: dict[str, tuple[str, ...]] = {
    lang.code: lang.likely_countries for lang in LANGUAGES
}


# How a service can be reached without a voice call (a person who is deaf, or cannot talk).
WITHOUT_VOICE = frozenset({"sms", "whatsapp", "tty", "relay"})


def shown_name(svc: Service, language: str | None) -> str:
    """The service's name as the person should read it: the name the organisation uses in the
    person's language when the directory has one, else its original name (never a translation
    made here: a name nobody uses cannot be found or said back on the phone)."""
    if language:
        name = (svc.names or {}).get(language)
        if isinstance(name, str) and name.strip():
            return name.strip()
    return svc.name


def without_voice(svc: Service) -> bool:
    """Reachable without speaking on the phone: text, WhatsApp, TTY, relay, or email."""
    return bool(svc.email) or any(
        (phone.get("kind") or "voice") in WITHOUT_VOICE for phone in svc.phones or []
    )


def fits(svc: Service, filters: frozenset[str]) -> bool:
    """Whether a service may be offered to someone who asked for ``filters``: never a
    women-only service to a man, never one that says it is not LGBTQ+-affirming to someone who
    asked for that, never a voice-only one to someone who cannot call."""
    if "men" in filters and svc.gender_only == "women":
        return False
    if "lgbtq" in filters and svc.lgbtq_affirming is False:
        return False
    return not ("no_voice" in filters and not without_voice(svc))


def preference(svc: Service, filters: frozenset[str]) -> tuple[int, ...]:
    """Sort key: those that say they serve what was asked for come first, then those a person can
    reach at once (a phone or an email) before those reached only through a website (a sort is
    stable)."""
    return (
        0 if "lgbtq" not in filters or svc.lgbtq_affirming else 1,
        0 if "children" not in filters or svc.for_children else 1,
        0 if "men" not in filters or svc.gender_only == "men" else 1,
        0 if svc.phones or svc.email else 1,
    )


@dataclass(frozen=True)
class EmergencyNumber:
    country: str
    number: str


class Directory:
    """A view of the directory for one unit of work (a turn, a callback, a page): what it reads
    about countries and services is read once and kept for the view's life, so rendering several
    messages in a turn asks the database each question once."""

    # Set once from the settings (bot/runtime.py): entries whose last verification is older than
    # this are not offered to survivors (G1). None keeps every active entry.
    hide_after_days: int | None = None

    def __init__(self, session: Session, today: dt.date | None = None) -> None:
        self.s = session
        self.today = today or dt.date.today()
        self._countries: dict[str, Country] | None = None
        self._active_by_country: dict[str, list[Service]] = {}

    def _all_countries(self) -> dict[str, Country]:
        if self._countries is None:
            rows = self.s.scalars(select(Country).order_by(Country.code))
            self._countries = {c.code: c for c in rows}
        return self._countries

    def country(self, code: str | None) -> Country | None:
        return self._all_countries().get(code) if code else None

    def known_countries(self) -> list[str]:
        return list(self._all_countries())

    def spoken(self, code: str) -> list[str]:
        """The languages of a country in the directory (to narrow a place name several share)."""
        country = self.country(code)
        return list(country.languages or []) if country else []

    def numbers(self, code: str | None, kind: str, how: str | None = "voice") -> list[str]:
        """The numbers of one kind a survivor may be shown (bot/directory/numbers.py)."""
        country = self.country(code)
        return shown(country.numbers or [], kind, how) if country else []

    def without_voice(self, code: str | None, limit: int = 3) -> list[tuple[str, str]]:
        """(how, number) of the country's confirmed numbers that work without a voice call
        (text, WhatsApp, relay), whatever their kind: for someone who cannot call."""
        country = self.country(code)
        found: list[tuple[str, str]] = []
        for entry in country.numbers or [] if country else []:
            how = str(entry.get("how") or "voice")
            pair = (how, str(entry.get("number", "")))
            if how in WITHOUT_VOICE and entry.get("confirmed") and pair[1] and pair not in found:
                found.append(pair)
        return found[:limit]

    def _first(self, code: str | None, kinds: tuple[str, ...]) -> EmergencyNumber | None:
        for kind in kinds:
            found = self.numbers(code, kind)
            if found:
                return EmergencyNumber(str(code), found[0])
        return None

    def emergency(self, code: str | None) -> EmergencyNumber | None:
        """The number to call in danger: the general emergency number, else the police."""
        return self._first(code, ("emergency", "police", "ambulance"))

    def health_emergency(self, code: str | None) -> EmergencyNumber | None:
        """The number to call when someone may hurt themselves: health before police."""
        return self._first(code, ("emergency", "ambulance", "police"))

    def crisis_line(self, code: str | None) -> EmergencyNumber | None:
        """The country's suicide or crisis line, if it has a confirmed one."""
        return self._first(code, ("crisis",))

    def child_line(self, code: str | None) -> EmergencyNumber | None:
        """The country's confirmed line for children and young people, if it has one."""
        return self._first(code, ("child",))

    def likely_countries(self, language: str, hint: str | None = None, limit: int = 5) -> list[str]:
        countries = self._all_countries()
        ordered: list[str] = []
        for code in (hint, *LIKELY_COUNTRIES.get(language, ())):
            if code and code in countries and code not in ordered:
                ordered.append(code)
        if len(ordered) < limit:
            for c in countries.values():
                if language in (c.languages or []) and c.code not in ordered:
                    ordered.append(c.code)
        return ordered[:limit]

    def _active(self, country: str) -> list[Service]:
        if country not in self._active_by_country:
            query = (
                select(Service)
                .options(selectinload(Service.organization))  # its website may be the contact
                .where(Service.country == country, Service.status == "active")
            )
            if self.hide_after_days is not None:
                oldest = self.today - dt.timedelta(days=self.hide_after_days)
                query = query.where(Service.last_verified >= oldest)
            self._active_by_country[country] = list(self.s.scalars(query.order_by(Service.id)))
        return self._active_by_country[country]

    def needs_checking(self, flag_after_days: int) -> list[tuple[Service, bool]]:
        """Entries due for verification, each with whether it is already hidden from survivors."""
        flag = self.today - dt.timedelta(days=flag_after_days)
        hide = (
            self.today - dt.timedelta(days=self.hide_after_days)
            if self.hide_after_days is not None
            else None
        )
        rows = self.s.scalars(
            select(Service)
            .options(selectinload(Service.organization))  # shown with its organisation
            .where(Service.status == "active")
            .where((Service.last_verified < flag) | (Service.last_verified.is_(None)))
            .order_by(Service.last_verified.asc().nulls_first(), Service.id)  # never verified first
        )
        return [
            (svc, hide is not None and (svc.last_verified is None or svc.last_verified < hide))
            for svc in rows
        ]

    def hotlines(
        self, country: str | None, limit: int = 1, filters: frozenset[str] = frozenset()
    ) -> list[Service]:
        if not country:
            return []
        lines = [
            s
            for s in self._active(country)
            if "hotline" in (s.categories or []) and fits(s, filters)
        ]
        return sorted(lines, key=lambda s: preference(s, filters))[:limit]

    def find(
        self,
        category: str,
        countries: list[str],
        limit: int = 3,
        filters: frozenset[str] = frozenset(),
    ) -> list[Service]:
        """Up to ``limit`` services for a need: specific ones first, then the national hotlines;
        only those that fit the person's ``filters``, those that say they serve it first."""
        specific: list[Service] = []
        fallback: list[Service] = []
        for code in countries:
            ordered = sorted(
                (s for s in self._active(code) if fits(s, filters)),
                key=lambda s: preference(s, filters),
            )
            for svc in ordered:
                cats = svc.categories or []
                if category in cats and category != "hotline":
                    specific.append(svc)
                elif "hotline" in cats:
                    fallback.append(svc)
        chosen = specific[:limit]
        for svc in fallback:
            if len(chosen) >= limit:
                break
            if svc not in chosen:
                chosen.append(svc)
        return chosen
