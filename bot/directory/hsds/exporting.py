"""Writing the directory out in HSDS 3.0: each service as an HSDS service object (organisation,
phones, languages, schedules, service area, attributes), our safety fields as attributes of the
``safe-harbour`` taxonomy, and the whole as JSON, a zip of CSV tables or a folder of them. It is
its own module because the export only reads the database and never validates, so the CLI's
``export`` and the console's download need nothing of the import."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory.country_editing import all_countries, country_to_json
from bot.directory.hsds.csv_tables import csv_text, to_tables
from bot.directory.hsds.schema import (
    DAYS,
    FLAGS,
    HSDS_DAYS,
    LANGS,
    PHONE_TO_HSDS,
    STATUS_TO_HSDS,
    TAXONOMY,
)
from bot.store.models import Service


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
    names = svc.names or {}
    # The name in each language as one attribute per language, so the map travels intact in JSON
    # and CSV alike (HSDS's alternate_name, below, is one string without a language).
    attributes += [_attr(f"name:{lang}", names[lang]) for lang in LANGS if names.get(lang)]
    attributes += [_attr(flag, getattr(svc, flag)) for flag in FLAGS]
    attributes += [
        _attr("gender_only", svc.gender_only or ""),
        _attr("public_address", svc.public_address),
        _attr("source", svc.source),
        _attr("verified_by", svc.verified_by),
    ]
    schedules = _schedules(svc.id, hours)
    out: dict[str, Any] = {
        "id": svc.id,
        "organization_id": org.id,
        "name": svc.name,
        "alternate_name": " / ".join(names[lang] for lang in LANGS if names.get(lang)) or None,
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
    """The services in HSDS 3.0, and, beside them, our countries with their numbers (HSDS has no
    place for a country's emergency numbers; importers that do not know the key ignore it)."""
    services = session.scalars(select(Service).order_by(Service.id))
    return {
        "hsds_version": "3.0",
        "services": [service_to_hsds(s) for s in services],
        "countries": [country_to_json(c) for c in all_countries(session)],
    }


COUNTRIES_FILE = "countries.json"  # beside the CSV tables in a zip or folder


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
        (path / f"{name}.csv").write_text(csv_text(rows), encoding="utf-8")
    (path / COUNTRIES_FILE).write_text(_countries_text(data), encoding="utf-8")


def _countries_text(data: dict[str, Any]) -> str:
    return json.dumps({"countries": data.get("countries", [])}, ensure_ascii=False, indent=1)


def zip_bytes(data: dict[str, Any]) -> bytes:
    """An export (``export_json``) as a zip of HSDS CSV tables."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, rows in to_tables(data["services"]).items():
            zf.writestr(f"{name}.csv", csv_text(rows))
        zf.writestr(COUNTRIES_FILE, _countries_text(data))
    return buf.getvalue()
