"""HSDS's tabular form: service objects laid out as one CSV table each for organisations,
services, phones, languages, schedules, service areas and attributes, and those tables joined back
into service objects. Both directions live here, apart from the JSON shape and the checks, because
the CSV layout (which table holds what, how rows link to their service) is one concern whether a
file is being written for a spreadsheet or read from one."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from bot.directory.hsds.schema import TAXONOMY, ImportError_

CSV_TABLES = (
    "organization",
    "service",
    "phone",
    "language",
    "schedule",
    "service_area",
    "attribute",
)


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
                    "alternate_name",
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


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) sends
# whoever opens the export somewhere, or worse). Such cells are written with a leading apostrophe,
# which spreadsheets show as text and ``from_tables`` takes off again. A phone number such as
# "+52 55 1234 5678" has nothing to run and is left alone, so exports stay readable.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9 ().-]*")


def cell(value: Any) -> Any:
    """A value as safe to open in a spreadsheet (see ``_FORMULA_START``)."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if value[0] in "+-" and _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def uncell(value: str) -> str:
    """What ``cell`` wrote, as it was."""
    if value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


def csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else cell(v) for k, v in row.items()})
    return buf.getvalue()


def from_tables(
    tables: dict[str, list[dict[str, str]]],
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    for required in ("organization", "service"):
        if required not in tables:
            raise ImportError_(f"{required}.csv is missing")
    tables = {
        name: [{k: uncell(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows]
        for name, rows in tables.items()
    }
    orgs = {row.get("id", ""): row for row in tables["organization"]}
    # Each linked table grouped by its service once: looking them up per service instead costs
    # services × rows (10,000 × 50,000 list scans froze the server for half a minute).
    linked = {
        name: _by(tables.get(name, []), "link_id" if name == "attribute" else "service_id")
        for name in ("phone", "language", "schedule", "service_area", "attribute")
    }
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
                "phones": list(linked["phone"].get(sid, [])),
                "languages": list(linked["language"].get(sid, [])),
                "schedules": list(linked["schedule"].get(sid, [])),
                "service_areas": list(linked["service_area"].get(sid, [])),
                "attributes": list(linked["attribute"].get(sid, [])),
            }
        )
        where[str(len(services) - 1)] = f"service.csv row {n}"
    return services, where


def _by(rows: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by the value of ``key``, in file order within each group."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row.get(key) or "", []).append(row)
    return groups
