"""Editing the directory by hand (the console's forms): the same rules as an HSDS import, with a
problem per field, plus search and the verification state of each entry.

A form arrives as a ``FormValues`` (single values and lists of strings, e.g. Starlette's
``FormData``); ``parse_service`` turns it into the record ``hsds.importing.normalise`` would make,
or into ``FieldProblem``s, each with a machine code the console words in the admin's language.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from bot.directory.hsds import schema
from bot.needs import CATEGORIES
from bot.safety.text import fold
from bot.store.models import Organization, Service

TRI_STATE = (
    "free",
    "confidential",
    "may_involve_police",
    "may_share_with_immigration",
    "lgbtq_affirming",
)
# Who may use a service: "" anyone, or only "women" or only "men" (a man is never offered a
# women-only service).
GENDER_ONLY = ("", "women", "men")
PHONE_KINDS = tuple(schema.PHONE_TO_HSDS)
NEW_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL = re.compile(r"^https?://\S+$")
LIMITS = {"name": 200, "region": 100, "email": 200, "verified_by": 200, "org_name": 200}
STATES = ("ok", "flagged", "hidden", "never", "retired")


class FormValues(Protocol):
    def get(self, key: str, /) -> Any: ...
    def getlist(self, key: str, /) -> list[Any]: ...


@dataclass(frozen=True)
class FieldProblem:
    name: str  # the form field (its input's id is "f-<name>")
    code: str  # the same codes as schema.RowProblem, plus a few of the form's own
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class ServiceForm:
    """What an admin typed, parsed: the record to store and the problems to show."""

    record: dict[str, Any] = field(default_factory=dict)
    organization: dict[str, Any] = field(default_factory=dict)  # {id} or {name, url, description}
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, name: str, code: str, **params: str) -> None:
        self.problems.append(FieldProblem(name, code, params))


def _text(values: FormValues, key: str) -> str:
    return str(values.get(key) or "").strip()


def tri_state(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def parse_service(
    values: FormValues, today: dt.date, verifier: str, new: bool, session: Session
) -> ServiceForm:
    """Validate one service form. ``verifier`` is who is signed in ("Mark verified today")."""
    form = ServiceForm()
    _identity(form, values, new, session)
    _where(form, values)
    _reach(form, values)
    _contact(form, session)
    _hours(form, values)
    _facts(form, values)
    _verification(form, values, today, verifier)
    return form


def _identity(form: ServiceForm, values: FormValues, new: bool, session: Session) -> None:
    name = _text(values, "name")
    if not name:
        form.problem("name", "missing_name")
    elif len(name) > LIMITS["name"]:
        form.problem("name", "too_long", max=str(LIMITS["name"]))
    form.record.update(name=name, description=_text(values, "description"))
    names: dict[str, str] = {}
    for code in schema.LANGS:
        other = _text(values, f"name_{code}")
        if len(other) > schema.NAME_MAX:
            form.problem(f"name_{code}", "too_long", max=str(schema.NAME_MAX))
        elif other and other != name:  # the same name again says nothing
            names[code] = other
    form.record["names"] = names or None
    if new:
        wanted = _text(values, "id")
        if wanted and not NEW_ID.match(wanted):
            form.problem("id", "bad_new_id")
        elif wanted and session.get(Service, wanted) is not None:
            form.problem("id", "taken_id", value=wanted)
        form.record["id"] = wanted
    org_id = _text(values, "organization")
    if org_id:
        if session.get(Organization, org_id) is None:
            form.problem("organization", "missing_organization")
        form.organization = {"id": org_id}
    else:
        org = organization_fields(values, "new_org_")
        if not org["name"]:
            form.problem("organization", "missing_organization")
        for problem in check_organization(org):
            form.problems.append(
                FieldProblem("new_org_" + problem.name, problem.code, problem.params)
            )
        form.organization = org
    categories = [str(c) for c in values.getlist("categories")]
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        form.problem("categories", "unknown_category", value=unknown[0])
    elif not categories:
        form.problem("categories", "no_category")
    form.record["categories"] = [c for c in CATEGORIES if c in categories]
    languages = [str(code) for code in values.getlist("languages") if code]
    for code in re.split(r"[\s,;]+", _text(values, "other_languages").lower()):
        if code and not LANGUAGE_CODE.match(code):
            form.problem("other_languages", "bad_language", value=code)
        elif code and code not in languages:
            languages.append(code)
    form.record["languages"] = languages


def organization_fields(values: FormValues, prefix: str = "") -> dict[str, Any]:
    return {
        "name": _text(values, prefix + "name"),
        "url": _text(values, prefix + "url") or None,
        "description": _text(values, prefix + "description"),
    }


def check_organization(org: dict[str, Any]) -> list[FieldProblem]:
    problems = []
    if len(org["name"]) > LIMITS["org_name"]:
        problems.append(FieldProblem("name", "too_long", {"max": str(LIMITS["org_name"])}))
    if org["url"] and (not URL.match(org["url"]) or len(org["url"]) > 300):
        problems.append(FieldProblem("url", "bad_url"))
    return problems


def _where(form: ServiceForm, values: FormValues) -> None:
    try:
        form.record["country"] = schema.country_code(values.get("country"))
    except schema.RowProblem as exc:
        form.problem("country", exc.code, **exc.params)
        form.record["country"] = _text(values, "country").upper()[:2]
    region = _text(values, "region")
    if len(region) > LIMITS["region"]:
        form.problem("region", "too_long", max=str(LIMITS["region"]))
    public = values.get("public_address") == "1"
    address = _text(values, "address")
    if address and not public:
        form.problem("address", "address_not_public")
    form.record.update(region=region or None, public_address=public, address=address or None)


def _reach(form: ServiceForm, values: FormValues) -> None:
    numbers = [str(n).strip() for n in values.getlist("phone_number")]
    kinds = [str(k) for k in values.getlist("phone_kind")]
    phones = []
    for n, number in enumerate(numbers):
        if not number:
            continue
        try:
            phones.append(schema.phone(number, kinds[n] if n < len(kinds) else "voice"))
        except schema.RowProblem as exc:
            form.problem("phones", exc.code, **exc.params)
    email = _text(values, "email")
    if email and (not EMAIL.match(email) or len(email) > LIMITS["email"]):
        form.problem("email", "bad_email", value=email[:60])
    form.record.update(phones=phones, email=email or None)


def _contact(form: ServiceForm, session: Session) -> None:
    """A phone, an email or the organisation's website: people need a way to reach them."""
    if form.record.get("phones") or form.record.get("email"):
        return
    if any(p.name == "phones" for p in form.problems):
        return  # a number was given but is wrong: that problem says enough
    org_id = form.organization.get("id")
    found = session.get(Organization, org_id) if org_id else None
    website = found.url if found is not None else form.organization.get("url")
    if not website:
        form.problem("phones", "no_contact")


def _hours(form: ServiceForm, values: FormValues) -> None:
    try:
        zone = schema.timezone(values.get("timezone"))
    except schema.RowProblem as exc:
        form.problem("timezone", exc.code, **exc.params)
        zone = None
    weekly: dict[str, list[list[str]]] = {}
    for day in schema.DAYS:
        try:
            weekly[day] = parse_day(_text(values, f"hours_{day}"))
        except schema.RowProblem as exc:
            form.problem(f"hours_{day}", exc.code, **exc.params)
    form.record["hours"] = schema.hours_record(
        _text(values, "hours_text")[:300],
        zone,
        values.get("open_24_7") == "1",
        weekly,
        _text(values, "holidays")[:300],
    )


def parse_day(text: str) -> list[list[str]]:
    """'09:00-13:00, 15:00-18:00' → [["09:00", "13:00"], ["15:00", "18:00"]]; empty: closed."""
    intervals = []
    for part in re.split(r"[,;]", text):
        part = part.strip().replace("–", "-").replace(" ", "")
        if part:
            opens, _, closes = part.partition("-")
            intervals.append(schema.interval(_hhmm(opens), _hhmm(closes)))
    return intervals


def _hhmm(text: str) -> str:
    """'9' or '9:30' or '09.30' → '09:00' / '09:30' (anything else is left for the check)."""
    found = re.fullmatch(r"(\d{1,2})(?:[:.h](\d{2}))?", text)
    return f"{int(found.group(1)):02d}:{found.group(2) or '00'}" if found else text


def day_text(intervals: Iterable[list[str]]) -> str:
    return ", ".join(f"{a}-{b}" for a, b in intervals)


def _facts(form: ServiceForm, values: FormValues) -> None:
    for flag in TRI_STATE:
        value = _text(values, flag)
        if value not in ("yes", "no", ""):
            form.problem(flag, "bad_boolean", field=flag, value=value[:20])
        form.record[flag] = tri_state(value)
    form.record["for_children"] = values.get("for_children") == "1"
    gender = _text(values, "gender_only")
    if gender not in GENDER_ONLY:
        form.problem("gender_only", "bad_gender", value=gender[:20])
    form.record["gender_only"] = gender or None


def _verification(form: ServiceForm, values: FormValues, today: dt.date, verifier: str) -> None:
    source = _text(values, "source")
    if not source:
        form.problem("source", "missing_source")
    form.record["source"] = source
    if values.get("verify_today"):
        form.record.update(last_verified=today, verified_by=verifier)
        return
    try:
        form.record["last_verified"] = schema.verified_date(values.get("last_verified"), today)
    except schema.RowProblem as exc:
        form.problem("last_verified", exc.code, **exc.params)
        form.record["last_verified"] = None
    verified_by = _text(values, "verified_by")
    if not verified_by:
        form.problem("verified_by", "missing_verified_by")
    elif len(verified_by) > LIMITS["verified_by"]:
        form.problem("verified_by", "too_long", max=str(LIMITS["verified_by"]))
    form.record["verified_by"] = verified_by


# --- storing ---


def slug(text: str, limit: int = 32) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:limit].strip("-")


def free_id(session: Session, model: type[Service] | type[Organization], base: str) -> str:
    base = base.strip("-") or "entry"
    candidate, n = base, 1
    while session.get(model, candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def new_service_id(session: Session, country: str | None, name: str) -> str:
    """A free id for a new entry, "<country>-<name slug>" (the form, an approval, an import)."""
    return free_id(session, Service, f"{str(country or '').lower()}-{slug(name)}")


def write_service(
    session: Session, svc: Service | None, sid: str, org_id: str, record: dict[str, Any]
) -> Service:
    """Create (``svc`` None, with id ``sid``) or update one entry with ``record``'s fields: the one
    place the console's form, an approved change and an import write a service."""
    if svc is None:
        svc = Service(id=sid, organization_id=org_id, status="active")
    for key, value in record.items():
        setattr(svc, key, value)
    svc.organization_id = org_id
    session.add(svc)
    session.flush()
    return svc


def save_service(session: Session, form: ServiceForm, existing: Service | None) -> Service:
    """Store a valid form: the service, and its new organisation when one was typed."""
    org_id = form.organization.get("id")
    if not org_id:
        org = form.organization
        org_id = free_id(session, Organization, slug(org["name"]))
        session.add(
            Organization(
                id=org_id, name=org["name"], url=org["url"], description=org["description"]
            )
        )
    record = dict(form.record)
    sid = record.pop("id", None)
    if existing is None:
        sid = sid or new_service_id(session, record["country"], record["name"])
    return write_service(session, existing, sid or "", org_id, record)


def save_organization(session: Session, org_id: str | None, org: dict[str, Any]) -> Organization:
    found = session.get(Organization, org_id) if org_id else None
    if found is None:
        found = Organization(id=free_id(session, Organization, slug(org["name"])))
    found.name, found.url, found.description = org["name"], org["url"], org["description"]
    session.add(found)
    session.flush()
    return found


def mark_verified(session: Session, sid: str, who: str, today: dt.date) -> Service | None:
    svc = session.get(Service, sid)
    if svc is not None:
        svc.last_verified, svc.verified_by = today, who[: LIMITS["verified_by"]]
    return svc


# --- reading ---


@dataclass(frozen=True)
class Row:
    service: Service
    state: str  # one of STATES
    age_days: int | None  # days since last verified


@dataclass(frozen=True)
class Ages:
    """The settings that turn a verification date into a state (G1)."""

    today: dt.date
    flag_after_days: int
    hide_after_days: int | None

    def state(self, svc: Service) -> str:
        if svc.status != "active":
            return "retired"
        if svc.last_verified is None:
            return "never"
        age = (self.today - svc.last_verified).days
        if self.hide_after_days is not None and age > self.hide_after_days:
            return "hidden"
        return "flagged" if age > self.flag_after_days else "ok"

    def row(self, svc: Service) -> Row:
        age = (self.today - svc.last_verified).days if svc.last_verified else None
        return Row(svc, self.state(svc), age)


@dataclass(frozen=True)
class Filters:
    text: str = ""
    country: str = ""
    category: str = ""
    status: str = ""  # "", active, retired
    state: str = ""  # "", or one of STATES; "due" = flagged, hidden or never verified


def search(
    session: Session, filters: Filters, ages: Ages, country_name: Callable[[str], str]
) -> list[Row]:
    """Services matching the filters, by country then name; the words of ``text`` must all
    appear in the name (in any language), organisation, description, region, id, country or
    category."""
    query = (
        select(Service)
        .join(Service.organization)
        .options(contains_eager(Service.organization))
        .order_by(Service.country, Service.name)
    )
    if filters.country:
        query = query.where(Service.country == filters.country)
    if filters.status in ("active", "retired"):
        query = query.where(Service.status == filters.status)
    words = fold(filters.text).split()
    rows = []
    for svc in session.scalars(query):
        if filters.category and filters.category not in (svc.categories or []):
            continue
        row = ages.row(svc)
        if filters.state == "due" and row.state not in ("flagged", "hidden", "never"):
            continue
        if filters.state in STATES and row.state != filters.state:
            continue
        if words:
            haystack = fold(
                " ".join(
                    [
                        svc.id,
                        svc.name,
                        *(svc.names or {}).values(),  # "ligne d'urgence" finds the hotline
                        svc.organization.name,
                        svc.description or "",
                        svc.region or "",
                        svc.country,
                        country_name(svc.country),
                        *(svc.categories or []),
                    ]
                )
            )
            if not all(w in haystack for w in words):
                continue
        rows.append(row)
    return rows
