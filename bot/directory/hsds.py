"""Import and export of the service directory in the Open Referral Human Services Data
Specification (HSDS 3.0): JSON (a list of service objects with their organisation, phones,
languages, schedules, service areas and attributes) and tabular CSV (one file per HSDS table).

Our safety fields, which HSDS has no column for, travel as HSDS attributes of the taxonomy
``safe-harbour`` (need categories, confidential, may involve police or immigration, for children,
LGBTQ+-affirming, public address, free, source, verified by). An import validates every record
first and writes nothing unless all are valid; a dry run reports what would change.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.languages import CODES
from bot.needs import CATEGORIES
from bot.store.models import Organization, Service

TAXONOMY = "safe-harbour"
FLAGS = ("confidential", "may_involve_authorities", "for_children", "lgbtq_affirming", "free")
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
CSV_TABLES = (
    "organization",
    "service",
    "phone",
    "language",
    "schedule",
    "service_area",
    "attribute",
)


MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # a directory is a few MB; more is a mistake or a zip bomb


class ImportError_(Exception):
    """The file could not be read at all (not JSON, not CSV, missing tables)."""


class RowProblem(ValueError):
    """Why one entry is refused: a machine ``code`` with its ``params`` (the console shows them
    in the admin's language) and, as the exception's text, the English reason the CLI prints."""

    def __init__(self, code: str, reason: str, **params: str) -> None:
        super().__init__(reason)
        self.code = code
        self.params = params


@dataclass
class RowError:
    where: str  # e.g. "service.csv row 4" or "services[2]"
    reason: str  # English, for the command line
    code: str = "invalid"
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    applied: bool = False
    names: dict[str, str] = field(default_factory=dict)  # service id -> name, for showing

    @property
    def ok(self) -> bool:
        return not self.errors


# --- export ---


def _attr(name: str, value: Any) -> dict[str, Any]:
    return {
        "id": f"{name}",
        "taxonomy_term_id": f"{TAXONOMY}:{name}",
        "taxonomy_term": {"id": f"{TAXONOMY}:{name}", "name": name, "taxonomy": TAXONOMY},
        "value": "" if value is None else str(value).lower() if isinstance(value, bool) else value,
    }


def service_to_hsds(svc: Service) -> dict[str, Any]:
    org = svc.organization
    hours = svc.hours or {}
    attributes = [_attr(f"category:{c}", "true") for c in svc.categories or []]
    attributes += [_attr(flag, getattr(svc, flag)) for flag in FLAGS]
    attributes += [
        _attr("public_address", svc.public_address),
        _attr("source", svc.source),
        _attr("verified_by", svc.verified_by),
    ]
    schedules = _schedules(svc.id, hours)
    out: dict[str, Any] = {
        "id": svc.id,
        "organization_id": org.id,
        "name": svc.name,
        "description": svc.description,
        "email": svc.email,
        "status": STATUS_TO_HSDS.get(svc.status, "inactive"),
        "assured_date": svc.last_verified.isoformat() if svc.last_verified else None,
        "organization": {
            "id": org.id,
            "name": org.name,
            "description": org.description,
            "website": org.url,
        },
        "phones": [
            {
                "id": f"{svc.id}-phone-{i}",
                "number": p.get("number"),
                "type": PHONE_TO_HSDS.get(p.get("kind", "voice"), "voice"),
                "description": p.get("kind", "voice"),
            }
            for i, p in enumerate(svc.phones or [], 1)
        ],
        "languages": [
            {"id": f"{svc.id}-lang-{code}", "code": code} for code in svc.languages or []
        ],
        "schedules": schedules,
        "service_areas": [
            {"id": f"{svc.id}-area", "name": svc.country, "description": svc.region or ""}
        ],
        "attributes": attributes,
    }
    if svc.public_address and svc.address:
        out["service_at_locations"] = [
            {
                "id": f"{svc.id}-loc",
                "location": {
                    "id": f"{svc.id}-location",
                    "location_type": "physical",
                    "addresses": [{"address_1": svc.address, "country": svc.country}],
                },
            }
        ]
    return out


def _schedules(sid: str, hours: dict[str, Any]) -> list[dict[str, Any]]:
    """The main schedule (text, time zone, 24/7, holidays as notes), then one WEEKLY schedule per
    opening interval of each day."""
    main: dict[str, Any] = {
        "id": f"{sid}-schedule",
        "description": hours.get("text") or "",
        "timezone": hours.get("timezone"),
    }
    if hours.get("open_24_7"):
        main.update({"freq": "DAILY", "opens_at": "00:00", "closes_at": "23:59"})
    if hours.get("holidays"):
        main["notes"] = hours["holidays"]
    out = [main]
    weekly = hours.get("weekly") or {}
    for day in DAYS:
        for n, (opens, closes) in enumerate(weekly.get(day) or [], 1):
            out.append(
                {
                    "id": f"{sid}-schedule-{day}-{n}",
                    "timezone": hours.get("timezone"),
                    "freq": "WEEKLY",
                    "byday": HSDS_DAYS[day],
                    "opens_at": opens,
                    "closes_at": closes,
                }
            )
    return out


def export_json(session: Session) -> dict[str, Any]:
    services = session.scalars(select(Service).order_by(Service.id))
    return {"hsds_version": "3.0", "services": [service_to_hsds(s) for s in services]}


def export_to(session: Session, path: Path) -> None:
    data = export_json(session)
    if path.suffix == ".json":
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return
    if path.suffix == ".zip":
        path.write_bytes(zip_bytes(data))
        return
    tables = to_tables(data["services"])
    path.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        (path / f"{name}.csv").write_text(_csv(rows), encoding="utf-8")


def zip_bytes(data: dict[str, Any]) -> bytes:
    """An export (``export_json``) as a zip of HSDS CSV tables."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, rows in to_tables(data["services"]).items():
            zf.writestr(f"{name}.csv", _csv(rows))
    return buf.getvalue()


def to_tables(services: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in CSV_TABLES}
    orgs: dict[str, dict[str, Any]] = {}
    for s in services:
        orgs[s["organization"]["id"]] = s["organization"]
        tables["service"].append(
            {
                k: s.get(k)
                for k in (
                    "id",
                    "organization_id",
                    "name",
                    "description",
                    "email",
                    "status",
                    "assured_date",
                )
            }
        )
        for p in s["phones"]:
            tables["phone"].append(
                {
                    "id": p["id"],
                    "service_id": s["id"],
                    "number": p["number"],
                    "type": p["type"],
                    "description": p["description"],
                }
            )
        for lang in s["languages"]:
            tables["language"].append(
                {"id": lang["id"], "service_id": s["id"], "code": lang["code"]}
            )
        for sch in s["schedules"]:
            tables["schedule"].append(
                {
                    "id": sch["id"],
                    "service_id": s["id"],
                    "description": sch.get("description"),
                    "timezone": sch.get("timezone"),
                    "freq": sch.get("freq"),
                    "opens_at": sch.get("opens_at"),
                    "closes_at": sch.get("closes_at"),
                    "byday": sch.get("byday"),
                    "notes": sch.get("notes"),
                }
            )
        for area in s["service_areas"]:
            tables["service_area"].append(
                {
                    "id": area["id"],
                    "service_id": s["id"],
                    "name": area["name"],
                    "description": area["description"],
                }
            )
        for a in s["attributes"]:
            tables["attribute"].append(
                {
                    "id": f"{s['id']}-{a['id']}",
                    "link_id": s["id"],
                    "link_entity": "service",
                    "taxonomy_term_id": a["taxonomy_term_id"],
                    "value": a["value"],
                }
            )
        for sal in s.get("service_at_locations", []):
            address = sal["location"]["addresses"][0]["address_1"]
            tables["attribute"].append(
                {
                    "id": f"{s['id']}-address",
                    "link_id": s["id"],
                    "link_entity": "service",
                    "taxonomy_term_id": f"{TAXONOMY}:address",
                    "value": address,
                }
            )
    tables["organization"] = [
        {
            "id": o["id"],
            "name": o["name"],
            "description": o.get("description"),
            "website": o.get("website"),
        }
        for o in orgs.values()
    ]
    return tables


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


# --- import ---


def read(path: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Service objects from a JSON file, a zip of CSVs or a folder of CSVs, with where each came
    from (for error messages)."""
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImportError_(f"not a readable JSON file ({type(exc).__name__})") from None
        services = data.get("services") if isinstance(data, dict) else data
        if not isinstance(services, list):
            raise ImportError_('expected a list of services, or {"services": [...]}')
        return services, {str(i): f"services[{i}]" for i in range(len(services))}
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                tables = [i for i in zf.infolist() if i.filename.endswith(".csv")]
                if sum(i.file_size for i in tables) > MAX_UNPACKED_BYTES:
                    raise ImportError_("the CSV files in this zip are too large once unpacked")
                files = {Path(i.filename).stem: zf.read(i).decode("utf-8-sig") for i in tables}
        except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise ImportError_(f"not a readable zip of CSV files ({type(exc).__name__})") from None
    elif path.is_dir():
        files = {p.stem: p.read_text(encoding="utf-8-sig") for p in path.glob("*.csv")}
    else:
        raise ImportError_("give a .json file, a .zip of CSV files, or a folder of CSV files")
    return from_tables({k: list(csv.DictReader(io.StringIO(v))) for k, v in files.items()})


def from_tables(
    tables: dict[str, list[dict[str, str]]],
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    for required in ("organization", "service"):
        if required not in tables:
            raise ImportError_(f"{required}.csv is missing")
    orgs = {row.get("id", ""): row for row in tables["organization"]}
    services: list[dict[str, Any]] = []
    where: dict[str, str] = {}
    for n, row in enumerate(tables["service"], start=2):  # row 1 is the header
        sid = row.get("id", "")
        org = orgs.get(row.get("organization_id", ""), {})
        services.append(
            {
                **row,
                "organization": {
                    "id": org.get("id", row.get("organization_id")),
                    "name": org.get("name"),
                    "description": org.get("description"),
                    "website": org.get("website"),
                },
                "phones": [r for r in tables.get("phone", []) if r.get("service_id") == sid],
                "languages": [r for r in tables.get("language", []) if r.get("service_id") == sid],
                "schedules": [r for r in tables.get("schedule", []) if r.get("service_id") == sid],
                "service_areas": [
                    r for r in tables.get("service_area", []) if r.get("service_id") == sid
                ],
                "attributes": [r for r in tables.get("attribute", []) if r.get("link_id") == sid],
            }
        )
        where[str(len(services) - 1)] = f"service.csv row {n}"
    return services, where


def _bool(value: Any, what: str = "") -> bool | None:
    text = str(value).strip().lower() if value is not None else ""
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    if text in ("", "none", "null", "unknown"):
        return None
    raise RowProblem(
        "bad_boolean",
        f"{what + ' ' if what else ''}'{value}' is not true, false or empty",
        field=what,
        value=str(value),
    )


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


def _hours(schedules: list[dict[str, Any]]) -> dict[str, Any]:
    main = next((s for s in schedules if not s.get("byday")), {})
    weekly: dict[str, list[list[str]]] = {}
    for sch in schedules:
        for code in str(sch.get("byday") or "").upper().split(","):
            day = next((d for d, c in HSDS_DAYS.items() if c == code.strip()), None)
            if day is not None:
                weekly.setdefault(day, []).append(
                    interval(sch.get("opens_at"), sch.get("closes_at"))
                )
            elif code.strip():
                raise RowProblem("bad_hours", f"byday '{code}' is not a day (MO … SU)", value=code)
    return hours_record(
        str(main.get("description") or "").strip() or None,
        timezone(main.get("timezone") or next((s.get("timezone") for s in schedules), None)),
        main.get("freq") == "DAILY"
        and main.get("opens_at") == "00:00"
        and main.get("closes_at") == "23:59",
        weekly,
        str(main.get("notes") or "").strip() or None,
    )


def normalise(item: dict[str, Any]) -> dict[str, Any]:
    """One HSDS service object → our record; raises RowProblem (a ValueError) with the reason."""
    if not isinstance(item, dict):
        raise RowProblem("not_object", "not an object")
    sid = str(item.get("id") or "").strip()
    if not sid or len(sid) > 80:
        raise RowProblem("bad_id", "id is missing or longer than 80 characters")
    name = str(item.get("name") or "").strip()
    if not name:
        raise RowProblem("missing_name", "name is missing")
    org = item.get("organization") or {}
    org_id = str(org.get("id") or item.get("organization_id") or "").strip()
    if not org_id or not org.get("name"):
        raise RowProblem("missing_organization", "organization id or name is missing")
    status = str(item.get("status") or "active").strip().lower()
    if status not in STATUS_FROM_HSDS:
        raise RowProblem(
            "bad_status",
            f"status '{status}' is not one of " + ", ".join(STATUS_FROM_HSDS),
            value=status,
        )
    areas = item.get("service_areas") or []
    country = country_code(areas[0].get("name") if areas else "")
    region = (str(areas[0].get("description") or "").strip() or None) if areas else None
    attrs: dict[str, Any] = {}
    for a in item.get("attributes") or []:
        term = str(a.get("taxonomy_term_id") or "")
        if term.startswith(f"{TAXONOMY}:"):
            attrs[term.split(":", 1)[1]] = a.get("value")
    unknown = [
        key.split(":", 1)[1]
        for key in attrs
        if key.startswith("category:") and key.split(":", 1)[1] not in CATEGORIES
    ]
    if unknown:
        raise RowProblem(
            "unknown_category",
            f"category '{unknown[0]}' is not one of " + ", ".join(CATEGORIES),
            value=unknown[0],
        )
    categories = [c for c in CATEGORIES if _bool(attrs.get(f"category:{c}"), c) is True]
    if not categories:
        raise RowProblem(
            "no_category", "no need category (attribute safe-harbour:category:hotline, …)"
        )
    phones = [
        phone(p.get("number"), p.get("description") or p.get("type"))
        for p in item.get("phones") or []
    ]
    if not phones and not item.get("email"):
        raise RowProblem("no_contact", "no phone and no email: people could not reach it")
    languages = []
    for lang in item.get("languages") or []:
        code = str(lang.get("code") or "").strip().lower()
        if code:
            languages.append(code)
    last_verified = verified_date(item.get("assured_date"))
    hours = _hours(list(item.get("schedules") or []))
    public_address = _bool(attrs.get("public_address"), "public_address") is True
    address = attrs.get("address")
    for sal in item.get("service_at_locations") or []:
        addresses = (sal.get("location") or {}).get("addresses") or []
        if addresses:
            address = addresses[0].get("address_1")
    if address and not public_address:
        raise RowProblem(
            "address_not_public",
            "an address is given but public_address is not true (G3: never a confidential address)",
        )
    source = str(attrs.get("source") or "").strip()
    if not source:
        raise RowProblem("missing_source", "source is missing (attribute safe-harbour:source)")
    return {
        "id": sid,
        "organization": {
            "id": org_id,
            "name": str(org["name"]).strip(),
            "description": org.get("description") or "",
            "url": org.get("website") or None,
        },
        "name": name,
        "description": str(item.get("description") or ""),
        "email": item.get("email") or None,
        "status": STATUS_FROM_HSDS[status],
        "country": country,
        "region": region,
        "categories": categories,
        "languages": languages,
        "phones": phones,
        "hours": hours,
        **{flag: _bool(attrs.get(flag), flag) for flag in FLAGS},
        "for_children": _bool(attrs.get("for_children"), "for_children") is True,
        "public_address": public_address,
        "address": address if public_address else None,
        "source": source,
        "last_verified": last_verified,
        "verified_by": str(attrs.get("verified_by") or ""),
    }


def import_services(
    session: Session, items: list[dict[str, Any]], where: dict[str, str], dry_run: bool
) -> ImportReport:
    report = ImportReport()
    records = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        place = where.get(str(i), f"services[{i}]")
        try:
            record = normalise(item)
        except RowProblem as exc:
            report.errors.append(RowError(place, str(exc), exc.code, exc.params))
            continue
        except (ValueError, TypeError, AttributeError) as exc:
            report.errors.append(RowError(place, str(exc)))
            continue
        if record["id"] in seen:
            report.errors.append(
                RowError(
                    place,
                    f"id '{record['id']}' appears twice",
                    "duplicate_id",
                    {"value": record["id"]},
                )
            )
            continue
        seen.add(record["id"])
        records.append(record)
        report.names[record["id"]] = record["name"]
    if report.errors:
        return report
    for record in records:
        existing = session.get(Service, record["id"])
        if existing is None:
            report.created.append(record["id"])
        elif _differs(existing, record):
            report.updated.append(record["id"])
        else:
            report.unchanged.append(record["id"])
        if not dry_run:
            _apply(session, existing, record)
    report.applied = not dry_run
    return report


def _differs(svc: Service, record: dict[str, Any]) -> bool:
    for key, value in record.items():
        if key == "organization":
            if svc.organization_id != value["id"]:
                return True
            continue
        if getattr(svc, key) != value:
            return True
    return False


def _apply(session: Session, svc: Service | None, record: dict[str, Any]) -> None:
    o = record["organization"]
    org = session.get(Organization, o["id"]) or Organization(id=o["id"])
    org.name, org.description, org.url = o["name"], o["description"], o["url"]
    session.add(org)
    if svc is None:
        svc = Service(id=record["id"], organization_id=org.id)
    for key, value in record.items():
        if key != "organization":
            setattr(svc, key, value)
    svc.organization_id = org.id
    session.add(svc)
    session.flush()
