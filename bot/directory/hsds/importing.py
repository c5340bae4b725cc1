"""Reading a directory in HSDS 3.0 (JSON, or CSV tables as a zip or a folder) and importing it all
or nothing: every service object is turned into our record and checked first, and nothing is
written unless every one is valid; a dry run reports what would be created, updated or left
unchanged. This is the only path by which a file changes the directory, so its guarantees (no
partial import, no confidential address, no entry without a source or a way to reach it) live in
one place, used alike by ``bot directory import`` and the console's import page."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.directory.changes import CountryChange, ServiceChange, propose_or_apply
from bot.directory.editing import write_service
from bot.directory.hsds.csv_tables import from_tables
from bot.directory.hsds.schema import (
    FLAGS,
    GENDER_ONLY,
    HSDS_DAYS,
    OLD_AUTHORITIES_FLAG,
    STATUS_FROM_HSDS,
    TAXONOMY,
    ImportError_,
    RowProblem,
    country_code,
    hours_record,
    interval,
    phone,
    timezone,
    verified_date,
)
from bot.directory.hsds.schema import names as schema_names
from bot.directory.numbers import NumberProblem, clean_all
from bot.needs import CATEGORIES, CRISIS_CATEGORIES
from bot.store.models import Country, Organization, Service

# A directory is a few MB and a few thousand rows; more is a mistake or an attack (a 3 KB zip can
# unpack to megabytes of rows that each cost parsing time and memory).
MAX_UNPACKED_BYTES = 16 * 1024 * 1024
MAX_ROWS = 50_000  # CSV rows of all tables together
MAX_SERVICES = 10_000


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
    # Changes held for a second admin (a hotline entry, a country's numbers): not yet live.
    pending: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def outcome(self, key: str, what: str) -> None:
        """Note what applying ``key`` does: "created", "updated" or "unchanged"."""
        {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}[
            what
        ].append(key)


class TooManyRows(ImportError_):
    """The file holds more rows than one import may: ``limit`` says how many it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} rows in the file (all tables together)")
        self.limit = limit

    def __reduce__(self) -> tuple[type[TooManyRows], tuple[int]]:
        # Raised in the import's child process and unpickled here: rebuilt from its limit.
        return (TooManyRows, (self.limit,))


_LISTS = ("phones", "languages", "schedules", "service_areas", "attributes")


def json_rows(item: Any) -> int:
    """The rows a JSON service object would be as CSV tables: itself and each item of its lists,
    so one limit means the same for both forms of a file."""
    if not isinstance(item, dict):
        return 1
    return 1 + sum(len(v) for key in _LISTS if isinstance(v := item.get(key), list))


def read(path: Path, max_rows: int = MAX_ROWS) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Service objects from a JSON file, a zip of CSVs or a folder of CSVs, with where each came
    from (for error messages). More than ``max_rows`` rows raises ``TooManyRows``, counted as
    they are read, so a small zip of a huge table costs no more than the limit."""
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ImportError_(f"not a readable JSON file ({type(exc).__name__})") from None
        services = data.get("services") if isinstance(data, dict) else data
        if not isinstance(services, list):
            raise ImportError_('expected a list of services, or {"services": [...]}')
        if len(services) > MAX_SERVICES:
            raise ImportError_(f"more than {MAX_SERVICES} services in one file")
        if sum(json_rows(item) for item in services) > max_rows:
            raise TooManyRows(max_rows)
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
    tables_rows: dict[str, list[dict[str, Any]]] = {}
    count = 0
    for name, text in files.items():
        rows = tables_rows.setdefault(name, [])
        for row in csv.DictReader(io.StringIO(text)):
            count += 1
            if count > max_rows:
                raise TooManyRows(max_rows)
            rows.append(row)
    return from_tables(tables_rows)


def read_countries(path: Path) -> list[dict[str, Any]] | None:
    """The countries beside the services (our export's ``countries`` key, or countries.json in a
    zip or folder); None when the file has none, which leaves the database's countries alone."""
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if Path(n).name == "countries.json"]
                if not names or zf.getinfo(names[0]).file_size > MAX_UNPACKED_BYTES:
                    return None
                data = json.loads(zf.read(names[0]).decode("utf-8-sig"))
        elif path.is_dir() and (path / "countries.json").is_file():
            data = json.loads((path / "countries.json").read_text(encoding="utf-8-sig"))
        else:
            return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, zipfile.BadZipFile) as exc:
        raise ImportError_(f"the countries are not readable ({type(exc).__name__})") from None
    countries = data.get("countries") if isinstance(data, dict) else None
    if countries is None:
        return None
    if not isinstance(countries, list):
        raise ImportError_('expected "countries" to be a list')
    return countries


def _check_countries(items: list[dict[str, Any]], report: ImportReport) -> list[dict[str, Any]]:
    """Each country as it will be stored, checked like the services: errors go to the report."""
    records = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        place = f"countries[{i}]"
        try:
            code = country_code(item.get("code") if isinstance(item, dict) else None)
            numbers = clean_all(item.get("numbers") or [])
        except (RowProblem, NumberProblem) as exc:
            report.errors.append(RowError(place, str(exc), getattr(exc, "code", "invalid")))
            continue
        if code in seen:
            report.errors.append(
                RowError(place, f"country '{code}' appears twice", "duplicate_id", {"value": code})
            )
            continue
        seen.add(code)
        languages = [str(x) for x in item.get("languages") or []]
        records.append({"code": code, "numbers": numbers, "languages": languages})
    return records


def _authorities(attrs: dict[str, Any]) -> dict[str, bool | None]:
    """The police and immigration flags; a file with only the older single flag gives it to
    both, since its yes may have meant either (warning too much is the safer mistake)."""
    old = _bool(attrs.get(OLD_AUTHORITIES_FLAG), OLD_AUTHORITIES_FLAG)
    out = {}
    for flag in ("may_involve_police", "may_share_with_immigration"):
        out[flag] = _bool(attrs[flag], flag) if flag in attrs else old
    return out


def _gender_only(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    if text in ("", "none", "null", "any", "all"):
        return None
    if text not in GENDER_ONLY:
        raise RowProblem(
            "bad_gender",
            f"gender_only '{value}' is not women, men or empty",
            value=str(value),
        )
    return text


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
    if not phones and not item.get("email") and not org.get("website"):
        raise RowProblem(
            "no_contact", "no phone, email or organisation website: people could not reach it"
        )
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
    names = schema_names(
        {key.split(":", 1)[1]: value for key, value in attrs.items() if key.startswith("name:")}
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
        "names": names or None,
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
        **_authorities(attrs),
        "for_children": _bool(attrs.get("for_children"), "for_children") is True,
        "gender_only": _gender_only(attrs.get("gender_only")),
        "public_address": public_address,
        "address": address if public_address else None,
        "source": source,
        "last_verified": last_verified,
        "verified_by": str(attrs.get("verified_by") or ""),
    }


def import_services(
    session: Session,
    items: list[dict[str, Any]],
    where: dict[str, str],
    dry_run: bool,
    countries: list[dict[str, Any]] | None = None,
    author: str | None = None,
) -> ImportReport:
    """Services (and the countries beside them, if the file has any), all or nothing, in the
    caller's one transaction (the command line; ``author`` None: no staff account). Countries are
    reported as ``country:XX``. The console runs the same steps in batches instead
    (``bot/directory/hsds/jobs.py``). What a crisis reply shows is held for a second admin
    (``report.pending``)."""
    report = ImportReport()
    country_records = _check_countries(countries or [], report)
    records = check_items(items, where, 0, report, set())
    if report.errors:
        return report
    for c in country_records:
        report.outcome(f"country:{c['code']}", country_outcome(session, c))
        if not dry_run and apply_country(session, c, author):
            report.pending.append(f"country:{c['code']}")
    for record in records:
        existing = session.get(Service, record["id"])
        report.outcome(record["id"], service_outcome(existing, record))
        if not dry_run and apply_service(session, existing, record, author):
            report.pending.append(record["id"])
    report.applied = not dry_run
    return report


def check_countries(items: list[dict[str, Any]], report: ImportReport) -> list[dict[str, Any]]:
    """Each country as it will be stored; errors go to the report (nothing is read or written)."""
    return _check_countries(items, report)


def check_items(
    items: list[dict[str, Any]],
    where: dict[str, str],
    start: int,
    report: ImportReport,
    seen: set[str],
) -> list[dict[str, Any]]:
    """Service objects ``items`` (the file's from index ``start``) as records; each refused one
    goes to the report with its place. ``seen`` carries the ids met so far, so a batch finds an
    id that an earlier batch had. Reads no database: a batch of checks holds no lock."""
    records = []
    for i, item in enumerate(items, start=start):
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
    return records


def country_outcome(session: Session, c: dict[str, Any]) -> str:
    """ "created", "updated" or "unchanged": what applying this country record would do."""
    stored = session.get(Country, c["code"])
    if stored is None:
        return "created"
    if stored.numbers != c["numbers"] or (c["languages"] and stored.languages != c["languages"]):
        return "updated"
    return "unchanged"


def service_outcome(existing: Service | None, record: dict[str, Any]) -> str:
    """ "created", "updated" or "unchanged": what applying this record over ``existing`` does."""
    if existing is None:
        return "created"
    return "updated" if _differs(existing, record) else "unchanged"


def apply_country(session: Session, c: dict[str, Any], author: str | None = None) -> bool:
    """Write one checked country record (its emergency and support numbers), or hold it for a
    second admin: a crisis reply shows these numbers (``bot/directory/changes.py``). Like
    ``apply_service``, the one place an import changes a country. True when held."""
    change = CountryChange(c["code"], c["numbers"], c["languages"] or None)
    return propose_or_apply(session, change, author).pending is not None


def _differs(svc: Service, record: dict[str, Any]) -> bool:
    for key, value in record.items():
        if key == "organization":
            if svc.organization_id != value["id"]:
                return True
            continue
        if getattr(svc, key) != value:
            return True
    return False


def apply_service(
    session: Session, svc: Service | None, record: dict[str, Any], author: str | None = None
) -> bool:
    """Write one checked record over ``svc`` (None: a new entry), or hold it for a second admin
    when the entry is or becomes one a crisis reply shows (a hotline: ``propose_or_apply``). The
    one place an import changes a service, from the command line or a console job. True when
    held."""
    crisis = CRISIS_CATEGORIES & {*(svc.categories if svc else []), *record.get("categories", [])}
    if crisis:
        change = ServiceChange("save", record["id"], record)
        return propose_or_apply(session, change, author).pending is not None
    o = record["organization"]
    org = session.get(Organization, o["id"]) or Organization(id=o["id"])
    org.name, org.description, org.url = o["name"], o["description"], o["url"]
    session.add(org)
    fields = {key: value for key, value in record.items() if key != "organization"}
    write_service(session, svc, record["id"], org.id, fields)
    return False
