"""Load a directory file (the sample, or a deployment's own) into the database, and merge the
shipped reference list of countries (bot/directory/countries.json) into it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.directory.hsds import schema
from bot.directory.numbers import clean_all
from bot.needs import CATEGORIES
from bot.store.models import Country, Organization, Service

# The need categories in their canonical order (also the order of HSDS attributes).


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def load_directory(session: Session, path: Path) -> int:
    """Insert or update every country, organisation and service in ``path``; returns services."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for c in data.get("countries", []):
        load_country(session, c)
    count = 0
    for o in data.get("organizations", []):
        org = session.get(Organization, o["id"]) or Organization(id=o["id"])
        org.name = o["name"]
        org.description = o.get("description", "")
        org.url = o.get("url")
        session.add(org)
        for s in o.get("services", []):
            svc = session.get(Service, s["id"]) or Service(id=s["id"], organization_id=org.id)
            svc.organization_id = org.id
            for field in ("name", "description", "country", "region", "email", "address"):
                setattr(svc, field, s.get(field))
            svc.description = s.get("description") or ""
            svc.names = schema.names(s.get("names")) or None
            cats = list(s.get("categories") or [])
            svc.categories = [c for c in CATEGORIES if c in cats]
            svc.languages = list(s.get("languages") or [])
            svc.phones = list(s.get("phones") or [])
            hours = dict(s.get("hours") or {})
            svc.hours = {
                "text": hours.get("text") or None,
                "timezone": hours.get("timezone") or None,
                "open_24_7": bool(hours.get("open_24_7")),
            }
            for extra in ("weekly", "holidays"):  # only when given (docs/directory.md)
                if hours.get(extra):
                    svc.hours[extra] = hours[extra]
            for flag in ("free", "confidential", "lgbtq_affirming"):
                setattr(svc, flag, s.get(flag))
            # A file from before the police and immigration flags were separated: its one flag
            # counts for both (warning too much is the safer mistake).
            old = s.get("may_involve_authorities")
            svc.may_involve_police = s.get("may_involve_police", old)
            svc.may_share_with_immigration = s.get("may_share_with_immigration", old)
            gender = s.get("gender_only")
            svc.gender_only = gender if gender in ("women", "men") else None
            svc.for_children = bool(s.get("for_children"))
            svc.public_address = bool(s.get("public_address", False))
            svc.source = s.get("source", "")
            svc.last_verified = _date(s.get("last_verified"))
            svc.verified_by = s.get("verified_by", "")
            svc.status = s.get("status", "active")
            session.add(svc)
            count += 1
    return count


def _legacy_numbers(c: dict[str, Any]) -> list[dict[str, Any]]:
    """A file written before countries had kinds: its ``emergency`` list, the first number as the
    general one, with the country's source."""
    verified = c.get("last_verified")
    return [
        {
            "kind": "emergency",
            "number": e.get("number"),
            "label": e.get("label", ""),
            "source": c.get("source", ""),
            "verified": verified,
            "confirmed": bool(c.get("source") and verified),
        }
        for e in c.get("emergency") or []
    ]


def load_country(session: Session, c: dict[str, Any]) -> Country:
    """Insert or replace one country from a file (``numbers``, or the older ``emergency``)."""
    country = session.get(Country, c["code"]) or Country(code=c["code"])
    country.languages = list(c.get("languages") or [])
    country.numbers = clean_all(c["numbers"] if "numbers" in c else _legacy_numbers(c))
    country.source = c.get("source", "")
    country.last_verified = _date(c.get("last_verified"))
    country.verified_by = c.get("verified_by", "")
    session.add(country)
    return country


def merge_reference(session: Session, path: Path) -> list[str]:
    """Add the shipped reference countries and numbers: a country not yet in the database is
    added whole; one that is gets the reference numbers it lacks, once (``reference_applied``),
    so an admin's edits and deletions are kept. Returns the codes that changed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    stamp = str(data.get("compiled_on") or "")[:10]
    changed = []
    for c in data.get("countries", []):
        country = session.get(Country, c["code"])
        if country is None:
            country = load_country(session, c)
            country.reference_applied = stamp
            changed.append(c["code"])
            continue
        if country.reference_applied:
            continue
        have = {(n["kind"], n["number"]) for n in country.numbers or []}
        extra = [n for n in clean_all(c["numbers"]) if (n["kind"], n["number"]) not in have]
        country.numbers = list(country.numbers or []) + extra
        if not country.languages:
            country.languages = list(c.get("languages") or [])
        country.reference_applied = stamp
        changed.append(c["code"])
    session.flush()
    return changed


def seed_if_empty(session: Session, path: Path) -> bool:
    """The sample services on a database that has none (countries come from the reference list,
    so they no longer tell whether a database is new)."""
    if session.scalar(select(func.count()).select_from(Organization)):
        return False
    load_directory(session, path)
    return True
