"""A hotline's number, changed in a real browser, reaches people in crisis only after a second
admin approves it on the "Waiting for a second admin" page (issue #12 item 3).

Chromium (Playwright) for Ada and Noa, the gateway for a new contact in crisis in Mexico; every
step is photographed into tests/artifacts/console/<backend>/ (see conftest.Shots).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kit import Account, Survivor, console_url
from playwright.async_api import Browser, BrowserContext
from sqlalchemy import select

from bot.runtime import Runtime
from bot.store.content_models import PendingChange
from bot.store.models import Service
from e2e.browser.conftest import Shots, admin_menu, sign_in_page

HOTLINE = "mx-linea-trata"  # Mexico's hotline in the sample directory: 800 5533 000
OLD, NEW = "800 5533 000", "800 0000 111"
CRISIS = "ayuda me tienen encerrada en el cuarto"
TIMEOUT = 15_000  # ms


@pytest.fixture
def restore_hotline(stack: Runtime) -> Iterator[None]:
    with stack.db.session() as s:
        svc = s.get(Service, HOTLINE)
        assert svc is not None
        phones = list(svc.phones)
        first = max(s.scalars(select(PendingChange.id)), default=0)
    yield
    with stack.db.session() as s:
        svc = s.get(Service, HOTLINE)
        assert svc is not None
        svc.phones = phones
        for change in s.scalars(select(PendingChange).where(PendingChange.id > first)):
            if change.status == "pending":
                change.status = "rejected"


async def crisis(stack: Runtime) -> tuple[Survivor, str]:
    survivor = Survivor(stack, "es", "MX")
    result = await survivor.say(CRISIS)
    assert result.replies[0].key == "utter_crisis", [r.key for r in result.replies]
    return survivor, result.replies[0].text


async def test_a_hotline_number_waits_for_a_second_admin_in_the_browser(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
    restore_hotline: None,
) -> None:
    shots = Shots(stack, "twoperson")
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    ada = await sign_in_page(contexts[-1], stack, staff["ada"].email)
    await ada.goto(console_url(stack) + f"/directory/service/{HOTLINE}")
    await ada.fill('input[name="phone_number"] >> nth=0', NEW)
    await ada.click("button.primary")
    await ada.wait_for_url("**done=pending**")
    notice = await ada.inner_text("#approval-notice")
    assert "espera a otra persona de administración" in notice
    await shots.staff(ada, "author-sees-it-waiting")
    survivor, text = await crisis(stack)
    assert OLD in text and NEW not in text
    await shots.survivor(browser, survivor, "old-number-while-waiting")

    # Ada's own page offers her no approve button, and says why.
    await ada.click("#approval-notice a")
    with stack.db.session() as s:
        change = s.scalars(
            select(PendingChange).where(
                PendingChange.target == HOTLINE, PendingChange.status == "pending"
            )
        ).one()
    section = ada.locator(f"#change-{change.id}")
    await section.wait_for(timeout=TIMEOUT)
    assert await section.locator('button[value="approve"]').count() == 0
    assert "debe aprobarlo otra persona" in await section.inner_text()

    # Noa finds it from the menu, with what is live beside what it would become.
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    noa = await sign_in_page(contexts[-1], stack, staff["noa"].email)
    # The menu shows how many changes wait, before it is even opened.
    assert await noa.inner_text("#approvals-waiting-menu") != ""
    await admin_menu(noa, "Esperando a otra persona de administración")
    section = noa.locator(f"#change-{change.id}")
    await section.wait_for(timeout=TIMEOUT)
    assert await section.locator("del").first.inner_text() == f"{OLD} (voice)"
    assert await section.locator("ins").first.inner_text() == f"{NEW} (voice)"
    await shots.staff(noa, "second-admin-sees-the-diff")
    await section.locator('button[value="approve"]').click()
    await noa.wait_for_selector("#approval-outcome")
    assert "Aprobado" in await noa.inner_text("#approval-outcome")
    await shots.staff(noa, "approved")

    again, text = await crisis(stack)
    assert NEW in text and OLD not in text
    await shots.survivor(browser, again, "new-number-after-approval")
