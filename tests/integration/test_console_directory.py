"""The directory pages of the console, over HTTP against the running stack (real Rasa, both DBs).

Admin Ada (console in Spanish) adds, edits, verifies, retires and imports services exactly as a
browser would (forms, CSRF tokens, cookies); a survivor on Telegram (``kit.Survivor``)
shows what the assistant offers after each change. Every test removes what it created.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kit import (
    Account,
    Survivor,
    apply_import,
    clean_presence,
    client_for,
    csrf_of,
    import_file,
    outside_crisis,
    sign_in,
    staff,
)
from sqlalchemy import select

from bot.directory import editing
from bot.directory.hsds import exporting, importing, schema
from bot.directory.service import Directory, EmergencyNumber
from bot.runtime import Runtime
from bot.store.console_models import AuditEvent
from bot.store.content_models import PendingChange
from bot.store.models import Organization, Service

__all__ = ["clean_presence", "staff"]  # fixtures used by name
TODAY = dt.date.today()


# --- helpers ---


class Created:
    """Services and organisations a test made; removed afterwards, even when it fails."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.services: list[str] = []
        self.orgs: list[str] = []

    def cleanup(self) -> None:
        with self.runtime.db.session() as s:
            for sid in self.services:
                svc = s.get(Service, sid)
                if svc is not None:
                    self.orgs.append(svc.organization_id)
                    s.delete(svc)
            s.flush()
            for oid in set(self.orgs):
                org = s.get(Organization, oid)
                if org is not None and not org.services:
                    s.delete(org)


@pytest.fixture
def created(stack: Runtime) -> Iterator[Created]:
    made = Created(stack)
    yield made
    made.cleanup()


@pytest.fixture
async def ada(
    stack: Runtime, staff: dict[str, Account], clean_presence: None
) -> AsyncIterator[httpx.AsyncClient]:
    client = client_for(stack)
    response = await sign_in(client, staff["ada"].email)
    assert response.url.path.endswith("/queue")
    yield client
    await client.aclose()


def service_form(csrf: str, name: str, country: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf": csrf,
        "name": name,
        "description": "Asesoría legal gratuita para personas migrantes.",
        "organization": "",
        "new_org_name": f"Org {name}",
        "new_org_url": "https://example.org/org",
        "new_org_description": "",
        "country": country,
        "region": "",
        "address": "",
        "categories": ["legal"],
        "languages": ["es"],
        "other_languages": "qu",
        "phone_number": ["+502 2222 0000", ""],
        "phone_kind": ["whatsapp", "voice"],
        "email": "",
        "timezone": "America/Guatemala",
        "hours_text": "lun–vie 9:00–17:00",
        "hours_mon": "9-13, 14:00-17:00",
        "hours_fri": "09:00-17:00",
        "holidays": "Cerrado los feriados nacionales",
        "free": "yes",
        "confidential": "yes",
        "may_involve_police": "no",
        "may_share_with_immigration": "",
        "lgbtq_affirming": "",
        "gender_only": "men",
        "source": "https://example.org/source",
        "last_verified": TODAY.isoformat(),
        "verified_by": "Ada",
    }
    form.update(changes)
    return form


async def offered(stack: Runtime, country: str, need: str = "necesito un abogado") -> str:
    """What a survivor in ``country`` is offered for a need: the text of every service card."""
    survivor = Survivor(stack, "es", country)
    await survivor.say("hola")
    await survivor.say("1")
    result = await survivor.say(need)
    return "\n".join(r.text for r in result.replies if r.key == "service_card")


async def add_service(client: httpx.AsyncClient, form: dict[str, Any]) -> httpx.Response:
    page = await client.get("/directory/new")
    form["csrf"] = csrf_of(page.text)
    return await client.post("/directory/new", data=form)


def service_by_name(stack: Runtime, name: str) -> Service | None:
    with stack.db.session() as s:
        return s.scalars(select(Service).where(Service.name == name)).first()


def audits(stack: Runtime, staff_id: str, prefix: str) -> list[AuditEvent]:
    with stack.db.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.staff_id == staff_id, AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )


# --- creating, editing, retiring ---


async def test_admin_adds_edits_and_retires_a_service_the_assistant_offers(
    stack: Runtime, ada: httpx.AsyncClient, staff: dict[str, Account], created: Created
) -> None:
    name = f"Abogadas Migrantes {uuid.uuid4().hex[:6]}"
    saved = await add_service(ada, service_form("", name, "GT"))
    assert saved.status_code == 200 and "/directory/service/" in saved.url.path
    assert "Guardado. El asistente lo usa desde la próxima respuesta." in saved.text
    svc = service_by_name(stack, name)
    assert svc is not None
    created.services.append(svc.id)
    assert svc.id.startswith("gt-abogadas-migrantes-")
    assert svc.country == "GT" and svc.categories == ["legal"]
    assert svc.languages == ["es", "qu"]
    assert svc.phones == [{"number": "+502 2222 0000", "kind": "whatsapp"}]
    assert svc.hours == {
        "text": "lun–vie 9:00–17:00",
        "timezone": "America/Guatemala",
        "open_24_7": False,
        "weekly": {"mon": [["09:00", "13:00"], ["14:00", "17:00"]], "fri": [["09:00", "17:00"]]},
        "holidays": "Cerrado los feriados nacionales",
    }
    assert (
        svc.free,
        svc.confidential,
        svc.may_involve_police,
        svc.may_share_with_immigration,
        svc.lgbtq_affirming,
        svc.gender_only,
    ) == (True, True, False, None, None, "men")
    assert svc.public_address is False and svc.address is None
    with stack.db.session() as s:
        org = s.get(Organization, svc.organization_id)
        assert org is not None and org.name == f"Org {name}"

    # The assistant offers it at once: the specific service first, then the national hotline.
    cards = await offered(stack, "GT")
    assert name in cards and "+502 2222 0000" in cards

    # Edit: the page shows the stored values; a rename reaches the next answer.
    page = await ada.get(f"/directory/service/{svc.id}")
    assert 'value="09:00-13:00, 14:00-17:00"' in page.text
    assert 'name="may_involve_police" value="no" checked' in page.text
    assert 'name="may_share_with_immigration" value="" checked' in page.text
    assert 'name="gender_only" value="men" checked' in page.text
    renamed = f"{name} (Zona 1)"
    form = service_form(
        csrf_of(page.text), renamed, "GT", organization=svc.organization_id, new_org_name=""
    )
    edited = await ada.post(f"/directory/service/{svc.id}", data=form)
    assert edited.status_code == 200 and renamed in edited.text
    assert renamed in await offered(stack, "GT")

    # Retire: never offered, kept; it shows as retired in the list.
    token = csrf_of(edited.text)
    retired = await ada.post(
        "/directory/status", data={"csrf": token, "service": svc.id, "action": "retire"}
    )
    assert "Retirado: el asistente ya no lo ofrece." in retired.text
    assert renamed not in await offered(stack, "GT")
    listing = await ada.get("/directory", params={"status": "retired", "country": "GT"})
    assert renamed in listing.text and "Retirado: no se ofrece nunca" in listing.text

    # Reactivate, then delete: only a retired entry can be deleted.
    await ada.post(
        "/directory/status", data={"csrf": token, "service": svc.id, "action": "reactivate"}
    )
    assert renamed in await offered(stack, "GT")
    refused = await ada.post(
        "/directory/status", data={"csrf": token, "service": svc.id, "action": "delete"}
    )
    assert refused.status_code == 409 and service_by_name(stack, renamed) is not None
    for action in ("retire", "delete"):
        await ada.post(
            "/directory/status", data={"csrf": token, "service": svc.id, "action": action}
        )
    assert service_by_name(stack, renamed) is None

    # Audited with ids only: never a name or any text.
    events = audits(stack, staff["ada"].id, "directory.")
    actions = [e.action for e in events if e.detail.get("service") == svc.id]
    assert actions == [
        "directory.create",
        "directory.update",
        "directory.retire",
        "directory.reactivate",
        "directory.retire",
        "directory.delete",
    ]
    assert not any(name in json.dumps(e.detail) for e in events)


async def test_an_admin_gives_a_service_the_names_it_uses_in_other_languages(
    stack: Runtime, ada: httpx.AsyncClient, created: Created
) -> None:
    tag = uuid.uuid4().hex[:6]
    name = f"Abogadas Migrantes {tag}"
    french = f"Avocates migrantes {tag}"
    form = service_form("", name, "GT", name_fr=french, name_en=name, name_pt="  ")
    saved = await add_service(ada, form)
    assert saved.status_code == 200
    svc = service_by_name(stack, name)
    assert svc is not None
    created.services.append(svc.id)
    # The same name again, or an empty one, says nothing and is not kept.
    assert svc.names == {"fr": french}
    page = await ada.get(f"/directory/service/{svc.id}")
    assert f'name="name_fr" lang="fr" value="{french}"' in page.text
    assert "Su nombre en otros idiomas" in page.text
    found = await ada.get("/directory", params={"q": f"avocates {tag}"})
    assert name in found.text  # the list finds it by its other names too
    # A name too long is refused under its own field, and nothing changes.
    form = service_form(
        csrf_of(page.text), name, "GT", organization=svc.organization_id, new_org_name=""
    )
    form["name_pt"] = "x" * 201
    refused = await ada.post(f"/directory/service/{svc.id}", data=form)
    assert refused.status_code == 422 and 'id="e-name_pt"' in refused.text
    assert service_by_name(stack, name) is not None
    with stack.db.session() as s:
        stored = s.get(Service, svc.id)
        assert stored is not None and stored.names == {"fr": french}
    # Cleared: the original name is shown in every language again.
    form["name_pt"], form["name_fr"], form["csrf"] = "", "", csrf_of(refused.text)
    cleared = await ada.post(f"/directory/service/{svc.id}", data=form)
    assert cleared.status_code == 200
    with stack.db.session() as s:
        stored = s.get(Service, svc.id)
        assert stored is not None and stored.names is None


async def test_form_problems_are_shown_per_field_and_nothing_is_saved(
    stack: Runtime, ada: httpx.AsyncClient, created: Created
) -> None:
    name = f"Servicio con errores {uuid.uuid4().hex[:6]}"
    form = service_form(
        "",
        name,
        "XX",
        categories=[],
        phone_number=["llámame", ""],
        address="Calle Secreta 1",
        hours_tue="9-25",
        timezone="Marte/Base",
        email="no-es-correo",
        last_verified=(TODAY + dt.timedelta(days=10)).isoformat(),
        confidential="quizas",
        source="",
        other_languages="español!",
    )
    response = await add_service(ada, form)
    assert response.status_code == 422
    page = response.text
    assert "No se guardó nada. Corrige lo siguiente:" in page
    for expected in (
        "«XX» no es un código de país de dos letras (ISO 3166, por ejemplo MX).",
        "Elige al menos un tipo de ayuda.",
        "«llámame» no es un número de teléfono.",
        "Solo se guarda una dirección si se puede compartir con las personas sobrevivientes",
        "«09:00-25:00» no es un horario",
        "«Marte/Base» no es una zona horaria",
        "«no-es-correo» no es un correo electrónico.",
        "La fecha de la última verificación está en el futuro.",
        "confidential: «quizas» no es sí, no ni vacío.",
        "Indica de dónde viene la información (la fuente).",
        "«español!» no es un código de idioma",
    ):
        assert expected in page, expected
    # Each problem sits under its field, which points at it; what was typed is kept.
    timezone = page[page.index('id="f-timezone"') :].split(">")[0]
    assert 'value="Marte/Base"' in timezone
    assert 'aria-invalid="true" aria-describedby="e-timezone"' in timezone
    assert 'id="e-hours_tue"' in page and 'value="Calle Secreta 1"' not in page  # a textarea
    assert "Calle Secreta 1</textarea>" in page
    assert service_by_name(stack, name) is None
    with stack.db.session() as s:
        orgs = s.scalars(select(Organization).where(Organization.name == f"Org {name}"))
        assert orgs.first() is None


# --- verification age ---


async def test_needs_checking_lists_old_entries_and_verified_today_offers_them_again(
    stack: Runtime, ada: httpx.AsyncClient, staff: dict[str, Account], created: Created
) -> None:
    tag = uuid.uuid4().hex[:6]
    old, older = f"Revisar pronto {tag}", f"Muy antiguo {tag}"
    for name, days in ((old, 100), (older, 400)):
        day = (TODAY - dt.timedelta(days=days)).isoformat()
        saved = await add_service(ada, service_form("", name, "HN", last_verified=day))
        assert saved.status_code == 200, saved.text
        svc = service_by_name(stack, name)
        assert svc is not None
        created.services.append(svc.id)
    old_id, older_id = created.services

    page = await ada.get("/directory/needs-checking")
    assert page.text.index(older) < page.text.index(old)  # oldest first
    row = page.text[page.text.index(f'data-service-id="{older_id}"') :]
    assert "No se ofrece: verificado hace más de 365 días" in row.split("</tr>")[0]
    row = page.text[page.text.index(f'data-service-id="{old_id}"') :]
    assert "Hay que revisarlo: verificado hace más de 90 días" in row.split("</tr>")[0]
    assert "verificado hace 100 días" in row.split("</tr>")[0]

    cards = await offered(stack, "HN")
    assert old in cards and older not in cards  # more than a year old: not offered

    verified = await ada.post(
        "/directory/verify",
        data={"csrf": csrf_of(page.text), "service": older_id, "back": "checking"},
    )
    assert "Marcado como verificado hoy." in verified.text
    assert f'data-service-id="{older_id}"' not in verified.text
    with stack.db.session() as s:
        svc = s.get(Service, older_id)
        assert svc is not None and svc.last_verified == TODAY and svc.verified_by == "Ada"
    assert older in await offered(stack, "HN")
    assert [e.detail for e in audits(stack, staff["ada"].id, "directory.verify")][-1] == {
        "service": older_id
    }

    # The list shows the same states, and its filters find them.
    listing = await ada.get("/directory", params={"q": tag, "state": "due"})
    assert old in listing.text and older not in listing.text
    assert "Servicios encontrados: 1" in listing.text


async def test_search_finds_by_words_country_and_kind_of_help(
    stack: Runtime, ada: httpx.AsyncClient, created: Created
) -> None:
    tag = uuid.uuid4().hex[:6]
    name = f"Casa Refugio {tag}"
    saved = await add_service(
        ada, service_form("", name, "PA", categories=["shelter"], description=f"Tejido {tag}")
    )
    assert saved.status_code == 200
    svc = service_by_name(stack, name)
    assert svc is not None
    created.services.append(svc.id)
    by_text = await ada.get("/directory", params={"q": f"tejido {tag} panamá"})
    assert name in by_text.text and "Servicios encontrados: 1" in by_text.text
    by_org = await ada.get("/directory", params={"q": f"org casa refugio {tag}"})
    assert name in by_org.text
    wrong_kind = await ada.get("/directory", params={"q": tag, "category": "legal"})
    assert name not in wrong_kind.text and "Ningún servicio coincide" in wrong_kind.text
    right = await ada.get("/directory", params={"country": "PA", "category": "shelter"})
    assert name in right.text and "Albergue" in right.text


# --- HSDS files ---


async def test_export_then_import_round_trips_through_the_console(
    stack: Runtime, ada: httpx.AsyncClient, staff: dict[str, Account]
) -> None:
    as_json = await ada.get("/directory/export.json")
    assert as_json.headers["content-disposition"].startswith("attachment;")
    data = json.loads(as_json.content)
    ids = [s["id"] for s in data["services"]]
    assert "us-nhth" in ids and data["hsds_version"] == "3.0"
    # every country travels with the services, with its numbers and their sources
    codes = [c["code"] for c in data["countries"]]
    assert len(codes) >= 35 and "PY" in codes
    as_zip = await ada.get("/directory/export.zip")
    with zipfile.ZipFile(io.BytesIO(as_zip.content)) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("service.csv").decode())))
        zipped = json.loads(zf.read("countries.json"))["countries"]
    assert [r["id"] for r in rows] == ids
    assert [c["code"] for c in zipped] == codes

    for name, body in (("export.json", as_json.content), ("export.zip", as_zip.content)):
        checked = await import_file(stack, ada, name, body)
        assert checked.status_code == 200, checked.text
        assert "Revisión superada: todavía no se escribió nada" in checked.text
        assert (
            "Si lo aplicas: nuevos: 0, actualizados: 0, "
            f"sin cambios: {len(ids) + len(codes)}." in checked.text
        )
        assert 'id="apply-import"' in checked.text
    events = audits(stack, staff["ada"].id, "directory.export")
    assert [e.detail["format"] for e in events[-2:]] == ["json", "zip"]


async def test_an_imported_hotline_waits_for_a_second_admin(
    stack: Runtime, ada: httpx.AsyncClient, created: Created, staff: dict[str, Account]
) -> None:
    """A console import job routes a hotline entry through the two-person rule: written only
    when another admin approves it (docs/security.md)."""
    with stack.db.session() as s:
        item = exporting.service_to_hsds(s.get(Service, "us-nhth"))  # type: ignore[arg-type]
    item["id"] = f"import-hotline-{uuid.uuid4().hex[:6]}"
    created.services.append(item["id"])
    checked = await import_file(stack, ada, "hotline.json", json.dumps([item]).encode())
    applied = await apply_import(stack, ada, checked)
    assert 'id="import-pending"' in applied.text
    assert "Esperan a otra persona" in applied.text
    with stack.db.session() as s:
        assert s.get(Service, item["id"]) is None
        waiting = s.scalars(select(PendingChange).where(PendingChange.target == item["id"])).all()
        assert [(w.status, w.author) for w in waiting] == [("pending", staff["ada"].id)]
        for w in waiting:
            s.delete(w)


async def test_import_shows_each_rejected_row_with_its_reason_in_spanish(
    stack: Runtime, ada: httpx.AsyncClient, created: Created
) -> None:
    with stack.db.session() as s:
        good = outside_crisis(exporting.service_to_hsds(s.get(Service, "us-nhth")))  # type: ignore[arg-type]

    def variant(n: int, **changes: Any) -> dict[str, Any]:
        item: dict[str, Any] = json.loads(json.dumps(good))
        item["id"] = f"import-test-{n}-{uuid.uuid4().hex[:6]}"
        item.update(changes)
        return item

    bad_category = variant(3)
    bad_category["attributes"].append(exporting._attr("category:food", "true"))
    bad_boolean = variant(6)
    for a in bad_boolean["attributes"]:
        if a["id"] == "confidential":
            a["value"] = "maybe"
    twin = variant(7)
    items = [
        variant(0, service_areas=[{"id": "a", "name": "XX", "description": ""}]),
        variant(1, name=""),
        variant(2, phones=[{"number": "call me maybe", "type": "voice"}]),
        bad_category,
        variant(4, assured_date="28/11/2026"),
        twin,
        bad_boolean,
        twin,
    ]
    checked = await import_file(stack, ada, "bad.json", json.dumps({"services": items}).encode())
    assert checked.status_code == 422
    page = checked.text
    assert "Rechazado: no se importó nada" in page and "Entradas por corregir: 7." in page
    for place, reason in (
        ("services[0]", "«XX» no es un código de país de dos letras"),
        ("services[1]", "Escribe un nombre."),
        ("services[2]", "«call me maybe» no es un número de teléfono."),
        ("services[3]", "«food» no es un tipo de ayuda que el asistente conozca."),
        ("services[4]", "«28/11/2026» no es una fecha (AAAA-MM-DD)."),
        ("services[6]", "confidential: «maybe» no es sí, no ni vacío."),
        ("services[7]", f"El id «{twin['id']}» aparece dos veces en el archivo."),
    ):
        row = page[page.index(f"<code>{place}</code>") :].split("</tr>")[0]
        assert reason in row, (place, row)
    assert 'id="apply-import"' not in page
    with stack.db.session() as s:
        assert s.get(Service, twin["id"]) is None

    # Corrected, it is checked, then applied; the kept file cannot be applied twice.
    fixed = [variant(8, name="Importado de prueba", service_areas=[{"id": "a", "name": "PA"}])]
    created.services.append(fixed[0]["id"])
    checked = await import_file(stack, ada, "good.json", json.dumps(fixed).encode())
    assert "Si lo aplicas: nuevos: 1, actualizados: 0, sin cambios: 0." in checked.text
    assert "Importado de prueba" in checked.text
    with stack.db.session() as s:
        assert s.get(Service, fixed[0]["id"]) is None  # a check writes nothing
    applied = await apply_import(stack, ada, checked)
    assert "Nuevos: 1, actualizados: 0, sin cambios: 0." in applied.text
    with stack.db.session() as s:
        svc = s.get(Service, fixed[0]["id"])
        assert svc is not None and svc.country == "PA"
    again = await apply_import(stack, ada, checked)  # the same page's button, pressed again
    assert "Esta importación no puede hacer eso ahora." in again.text
    assert "Nuevos: 1, actualizados: 0, sin cambios: 0." in again.text

    wrong = await import_file(stack, ada, "notes.txt", b"hello")
    assert "Sube un archivo .json o un .zip de archivos CSV (HSDS 3.0)." in wrong.text
    broken = await import_file(stack, ada, "broken.json", b"{not json")
    assert "No se pudo leer el archivo como HSDS." in broken.text


# --- who may ---


async def test_only_admins_and_only_with_the_form_token(
    stack: Runtime, staff: dict[str, Account], ada: httpx.AsyncClient, clean_presence: None
) -> None:
    for key in ("lucia", "sol"):
        client = client_for(stack)
        await sign_in(client, staff[key].email)
        for path in ("/directory", "/directory/new", "/directory/export.json"):
            response = await client.get(path)
            assert response.status_code == 403, (key, path)
            assert "us-nhth" not in response.text
        await client.aclose()
    name = f"Sin token {uuid.uuid4().hex[:6]}"
    refused = await ada.post("/directory/new", data=service_form("wrong-token", name, "GT"))
    assert refused.status_code == 403 and service_by_name(stack, name) is None
    refused = await ada.post(
        "/directory/status", data={"csrf": "wrong", "service": "us-nhth", "action": "retire"}
    )
    assert refused.status_code == 403
    with stack.db.session() as s:
        assert s.get(Service, "us-nhth").status == "active"  # type: ignore[union-attr]


# --- the service layer, without the stack ---


def test_day_hours_accept_plain_writing_and_refuse_nonsense() -> None:
    assert editing.parse_day("9-13, 14:30–18") == [["09:00", "13:00"], ["14:30", "18:00"]]
    assert editing.parse_day("22:00-06:00") == [["22:00", "06:00"]]  # past midnight
    assert editing.parse_day("") == []
    for bad in ("9", "25-26", "09:00-09:00", "mañana"):
        with pytest.raises(schema.RowProblem) as caught:
            editing.parse_day(bad)
        assert caught.value.code == "bad_hours"


def test_weekly_hours_and_holidays_travel_in_hsds_json_and_csv(tmp_path: Path) -> None:
    from bot.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    db.migrate()
    hours = schema.hours_record(
        "L-V", "America/Lima", False, {"mon": [["09:00", "13:00"], ["14:00", "18:00"]]}, "Feriados"
    )
    with db.session() as s:
        s.add(Organization(id="o", name="O"))
        s.add(
            Service(
                id="s",
                organization_id="o",
                name="S",
                country="PE",
                categories=["legal"],
                phones=[{"number": "+51 1 000", "kind": "voice"}],
                hours=hours,
                source="x",
                last_verified=TODAY,
            )
        )
    for target in (tmp_path / "d.json", tmp_path / "d.zip"):
        with db.session() as s:
            exporting.export_to(s, target)
        items, _where = importing.read(target)
        assert importing.normalise(items[0])["hours"] == hours
    db.dispose()


def test_row_errors_keep_the_english_reason_for_the_command_line() -> None:
    error = importing.RowError("services[2]", "phone 'x' is not a phone number", "bad_phone", {})
    assert str(error) == "services[2]: phone 'x' is not a phone number"
    with pytest.raises(schema.RowProblem) as caught:
        schema.country_code("EU")  # a grouping, not a country
    assert caught.value.code == "bad_country" and caught.value.params == {"value": "EU"}


# --- countries ---


async def test_countries_page_lists_every_oas_state_with_its_sources(
    ada: httpx.AsyncClient,
) -> None:
    page = await ada.get("/directory/countries")
    assert page.status_code == 200
    for code in ("PY", "GY", "SR", "KN", "VC", "US", "BR"):
        assert f"/directory/country/{code}" in page.text
    assert "800 911 2000" in page.text and "https://www.eluniversal.com.mx/" in page.text
    assert "Sin confirmar" in page.text  # unconfirmed numbers are marked, not hidden from admins


async def test_an_admin_edits_a_countrys_numbers_and_the_reply_uses_them_once_approved(
    stack: Runtime, ada: httpx.AsyncClient, staff: dict[str, Account]
) -> None:
    form = await ada.get("/directory/country/PY")
    assert form.status_code == 200 and 'name="number_0" value="911"' in form.text
    csrf = csrf_of(form.text)
    fields = {
        "csrf": csrf,
        "kind_0": "emergency",
        "number_0": "911",
        "how_0": "voice",
        "source_0": "https://launion.com.py/?p=109720",
        "verified_0": "2026-12-03",
        "confirmed_0": "on",
        "kind_1": "crisis",
        "number_1": "123-456",
        "how_1": "voice",
        "source_1": "https://example.org/py-line",
        "verified_1": "2026-12-03",
        "confirmed_1": "on",
    }
    saved = await ada.post("/directory/country/PY", data=fields)
    assert saved.status_code == 200 and "/directory/country/PY?done=pending" in str(saved.url)
    with stack.db.session() as s:
        assert Directory(s).crisis_line("PY") is None  # a crisis reply's numbers: two admins
    events = audits(stack, staff["ada"].id, "approval.propose")
    change = events[-1].detail["change"]
    assert events[-1].detail == {
        "change": change,
        "kind": "country",
        "country": "py",
        "numbers": 2,
        "confirmed": 2,
    }
    async with client_for(stack) as noa:
        await sign_in(noa, staff["noa"].email)
        page = await noa.get("/approvals")
        approved = await noa.post(
            "/approvals",
            data={"csrf": csrf_of(page.text), "change": str(change), "action": "approve"},
        )
        assert approved.status_code == 200
    with stack.db.session() as s:
        assert Directory(s).crisis_line("PY") == EmergencyNumber("PY", "123-456")
    # a confirmed number without its source is refused whole: nothing changes
    bad = dict(fields, source_1="", number_0="999")
    refused = await ada.post("/directory/country/PY", data=bad)
    assert refused.status_code == 422 and "Fila 2" in refused.text
    with stack.db.session() as s:
        assert Directory(s).emergency("PY") == EmergencyNumber("PY", "911")
