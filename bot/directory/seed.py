"""Load a directory file (the sample, or a deployment's own) into the database, and merge the
shipped reference list of countries (bot/directory/countries.json) into it."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.directory.changes import CountryChange, propose_or_apply
from bot.directory.hsds import schema
from bot.directory.numbers import clean_all
from bot.needs import CATEGORIES
from bot.store import approvals
from bot.store.models import Country, Organization, Service

log = logging.getLogger("bot.directory.seed")

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
    """Merge the shipped reference countries and numbers (``countries.json``), at every start and
    ``bot migrate``. Returns the codes added, filled in or proposed.

    - A country not yet in the database is added whole.
    - A country merged before any reference (an older database) gets the reference numbers it
      lacks, once, so an admin's edits and deletions are kept.
    - A **newer** reference (another ``compiled_on``) never changes a number by itself: these
      numbers are what crisis and self-harm replies give. It is compared, kind by kind, with the
      reference merged before (``reference_numbers``); a kind that changed upstream and differs
      from what is live here is **proposed** for an admin's approval (author: none, "the shipped
      reference", like the command line), with every other number left as it is. So a number an
      admin changed is never overwritten silently, and a corrected number still reaches them.
      A country whose numbers already wait for a decision is left for the next start.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    stamp = str(data.get("compiled_on") or "")[:10]
    changed = []
    for c in data.get("countries", []):
        reference = clean_all(c["numbers"] if "numbers" in c else _legacy_numbers(c))
        country = session.get(Country, c["code"])
        if country is None:
            country = load_country(session, c)
            country.reference_applied, country.reference_numbers = stamp, _pairs(reference)
            changed.append(c["code"])
            continue
        if not country.reference_applied:
            have = {(n["kind"], n["number"]) for n in country.numbers or []}
            extra = [n for n in reference if (n["kind"], n["number"]) not in have]
            country.numbers = list(country.numbers or []) + extra
            if not country.languages:
                country.languages = list(c.get("languages") or [])
            country.reference_applied, country.reference_numbers = stamp, _pairs(reference)
            changed.append(c["code"])
            continue
        if country.reference_applied == stamp:
            if country.reference_numbers is None:  # merged before migration 0017: this one
                country.reference_numbers = _pairs(reference)
            continue
        kinds = _changed_kinds(country.numbers or [], country.reference_numbers, reference)
        if kinds:
            if approvals.waiting_for(session, "country", country.code) is not None:
                continue  # never supersede a proposal waiting for an admin; next start
            proposed = _replace_kinds(country.numbers or [], reference, kinds)
            propose_or_apply(session, CountryChange(country.code, proposed, None), None)
            changed.append(c["code"])
        country.reference_applied, country.reference_numbers = stamp, _pairs(reference)
    session.flush()
    if changed:
        log.info("reference countries merged", extra={"countries": len(changed)})
    return changed


def _pairs(numbers: list[dict[str, Any]]) -> list[list[str]]:
    return [[str(n["kind"]), str(n["number"])] for n in numbers]


def _by_kind(pairs: list[list[str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for kind, number in pairs:
        found.setdefault(kind, []).append(number)
    return found


def _changed_kinds(
    live: list[dict[str, Any]], before: list[Any] | None, reference: list[dict[str, Any]]
) -> list[str]:
    """The kinds of number whose reference changed since the last merge and that differ from
    what is live. With no record of the last merge (merged before migration 0017), every kind
    that differs from what is live: the approver sees each and decides."""
    new, here = _by_kind(_pairs(reference)), _by_kind(_pairs(live))
    old = _by_kind([list(p) for p in before]) if before is not None else None
    kinds = sorted({*new, *(old or {})})
    return [
        k for k in kinds if new.get(k) != here.get(k) and (old is None or new.get(k) != old.get(k))
    ]


def _replace_kinds(
    live: list[dict[str, Any]], reference: list[dict[str, Any]], kinds: list[str]
) -> list[dict[str, Any]]:
    """``live`` with the numbers of ``kinds`` replaced by the reference's, in place of the first
    live number of that kind (or at the end); every other number as it is."""
    result: list[dict[str, Any]] = []
    placed: set[str] = set()
    for n in live:
        kind = n["kind"]
        if kind not in kinds:
            result.append(n)
        elif kind not in placed:
            result += [r for r in reference if r["kind"] == kind]
            placed.add(kind)
    for kind in kinds:
        if kind not in placed:
            result += [r for r in reference if r["kind"] == kind]
    return result


def seed_if_empty(session: Session, path: Path) -> bool:
    """The sample services on a database that has none (countries come from the reference list,
    so they no longer tell whether a database is new)."""
    if session.scalar(select(func.count()).select_from(Organization)):
        return False
    load_directory(session, path)
    return True
