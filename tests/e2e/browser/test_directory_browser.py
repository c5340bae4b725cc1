"""An HSDS import in a real browser: a file with one bad row is rejected whole, with the row's
place and reason; the corrected file is checked, applied (the job's page follows both as they
run), and the assistant offers the new entry in its very next answer.

Admin Ada uses Chromium (Playwright, console in Spanish); the survivor is the real gateway
(``kit.Survivor``). Screenshots go to tests/artifacts/console/<backend>/directory-*.png.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kit import Account, Survivor, console_url
from playwright.async_api import Browser, BrowserContext, FilePayload, Page
from sqlalchemy import select

from bot.directory.hsds import exporting
from bot.runtime import Runtime
from bot.store.models import Organization, Service
from e2e.browser.conftest import Shots, sign_in_page

TIMEOUT = 15_000  # ms


def entry(sid: str, name: str, country: str, category: str, org: Organization) -> dict[str, Any]:
    """One service as HSDS, built the way an export builds it."""
    svc = Service(
        id=sid,
        name=name,
        description="",
        country=country,
        region="Lima",
        categories=[category],
        languages=["es"],
        phones=[{"number": "+51 1 555 0100", "kind": "voice"}],
        email=None,
        hours={"text": "24/7", "timezone": "America/Lima", "open_24_7": True},
        free=True,
        confidential=True,
        may_involve_police=False,
        may_share_with_immigration=False,
        for_children=False,
        gender_only=None,
        lgbtq_affirming=None,
        public_address=False,
        address=None,
        source="https://example.org/directorio",
        last_verified=dt.date.today(),
        verified_by="Ada",
        status="active",
    )
    svc.organization = org
    return exporting.service_to_hsds(svc)


def csv_zip(services: list[dict[str, Any]]) -> bytes:
    return exporting.zip_bytes({"services": services})


@pytest.fixture
def ids(stack: Runtime) -> Iterator[dict[str, str]]:
    """Fresh ids for this run; whatever was imported under them is removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    made = {
        "org": f"test-org-{tag}",
        "shelter": f"pe-casa-segura-{tag}",
        "legal": f"pe-defensoria-{tag}",
        "tag": tag,
    }
    yield made
    with stack.db.session() as s:
        for key in ("shelter", "legal"):
            svc = s.get(Service, made[key])
            if svc is not None:
                s.delete(svc)
        s.flush()
        org = s.get(Organization, made["org"])
        if org is not None:
            s.delete(org)


async def upload(page: Page, name: str, body: bytes) -> None:
    """Upload on the import page; the job's page then follows its check (htmx, every second)
    until it has finished."""
    await page.goto(page.url.split("/directory/import")[0] + "/directory/import")
    payload: FilePayload = {"name": name, "mimeType": "application/zip", "buffer": body}
    await page.set_input_files("#f-file", files=[payload])
    await page.get_by_role("button", name="Revisar el archivo (no se escribe nada)").click()
    await page.wait_for_selector("#import-result:not([data-state=checking])", timeout=TIMEOUT)


async def test_hsds_import_rejects_a_bad_row_then_the_assistant_offers_the_new_entry(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
    ids: dict[str, str],
) -> None:
    shots = Shots(stack, "directory")
    org = Organization(id=ids["org"], name=f"Red de Apoyo {ids['tag']}", description="", url=None)
    shelter_name = f"Casa Segura Lima {ids['tag']}"
    legal_name = f"Defensoría Migrante {ids['tag']}"
    good_shelter = entry(ids["shelter"], shelter_name, "PE", "shelter", org)
    bad_legal = entry(ids["legal"], legal_name, "PE", "legal", org)
    bad_legal["service_areas"][0]["name"] = "XX"

    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    page = await sign_in_page(contexts[0], stack, staff["ada"].email)
    await page.goto(console_url(stack) + "/directory/import")
    await shots.staff(page, "import-page")

    # One bad row: the whole file is rejected, and the page names the row and the reason.
    await upload(page, "directorio.zip", csv_zip([good_shelter, bad_legal]))
    assert "Rechazado: no se importó nada" in await page.inner_text("#import-result")
    row = page.locator("#import-errors tbody tr")
    assert await row.count() == 1
    assert "service.csv row 3" in await row.inner_text()  # the header is row 1
    assert "«XX» no es un código de país de dos letras" in await row.inner_text()
    assert await page.locator("#apply-import").count() == 0
    await shots.staff(page, "bad-row-rejected")
    with stack.db.session() as s:
        assert s.scalars(select(Service).where(Service.id.in_(list(ids.values())))).all() == []
        assert s.get(Organization, ids["org"]) is None

    # Corrected: the check says what would be created, and still writes nothing.
    bad_legal["service_areas"][0]["name"] = "PE"
    await upload(page, "directorio-corregido.zip", csv_zip([good_shelter, bad_legal]))
    created = page.locator("#import-created")
    await created.wait_for(timeout=TIMEOUT)
    assert shelter_name in await created.inner_text()
    assert legal_name in await created.inner_text()
    assert "Si lo aplicas: nuevos: 2" in await page.inner_text("#import-result")
    with stack.db.session() as s:
        assert s.get(Service, ids["shelter"]) is None
    await shots.staff(page, "dry-run-would-create")

    await page.click("#apply-import")
    await page.wait_for_selector("#import-result[data-state=done]", timeout=TIMEOUT)
    assert "Nuevos: 2, actualizados: 0, sin cambios: 0." in await page.inner_text("#import-result")
    await shots.staff(page, "applied")

    # The very next answer offers it: a survivor in Peru who needs a safe place to stay.
    survivor = Survivor(stack, "es", "PE")
    await survivor.say("hola")
    await survivor.say("1")
    shown = await survivor.say("necesito un lugar donde quedarme")
    cards = [r.text for r in shown.replies if r.key == "service_card"]
    assert 1 <= len(cards) <= 3, [r.key for r in shown.replies]
    assert shelter_name in cards[0] and "+51 1 555 0100" in cards[0]
    await shots.survivor(browser, survivor, "offered-the-new-shelter")

    # The directory finds both as the admin types (htmx, no page load), verified today.
    await page.goto(console_url(stack) + "/directory")
    await page.evaluate("window.__noReload = true")
    await page.fill("#f-q", f"casa segura {ids['tag']}")
    results = page.locator("#directory-results", has_text="Servicios encontrados: 1")
    await results.wait_for(timeout=TIMEOUT)
    assert await page.evaluate("window.__noReload === true")
    assert "verificado hoy" in await results.inner_text()
    await shots.staff(page, "search-as-you-type")

    # The imported entry opens in the form with every field, and saves unchanged.
    await page.get_by_role("link", name=shelter_name).click()
    await page.wait_for_selector("#f-name")
    assert await page.input_value("#f-country") == "PE"
    assert await page.input_value("#f-timezone") == "America/Lima"
    assert await page.is_checked("#f-open_24_7")
    assert not await page.is_checked("#f-public_address")
    await shots.staff(page, "service-form")
    await page.get_by_role("button", name="Guardar y marcar como verificado hoy por mí").click()
    await page.wait_for_selector("p[role=status] >> text=Guardado")
    with stack.db.session() as s:
        svc = s.get(Service, ids["shelter"])
        assert svc is not None and svc.verified_by == "Ada" and svc.name == shelter_name

    # A phone-width page still works.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(console_url(stack) + f"/directory?q={ids['tag']}")
    assert "Servicios encontrados: 2" in await page.inner_text("#directory-results")
    await shots.staff(page, "listed-on-a-phone")
