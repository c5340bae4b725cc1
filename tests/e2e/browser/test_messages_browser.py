"""Admins edit what the assistant says, in a real browser, and survivors receive it after approval.

Chromium (Playwright) for the admins, the gateway for the survivor; every step is photographed
into tests/artifacts/console/<backend>/ (see conftest.Shots), the phone preview on its own too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kit import Account, Survivor, console_url
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy import delete, func, select

from bot.nlg import edits
from bot.runtime import Runtime
from bot.store.content_models import MessageEdit
from e2e.browser.conftest import Shots, admin_menu, sign_in_page

TIMEOUT = 15_000  # ms: waiting for a live check or a page, never a fixed sleep
CRISIS = "ayuda me tienen encerrada en el cuarto"


@pytest.fixture
def restore_messages(stack: Runtime) -> Iterator[None]:
    """Remove every message edit the test made and reload the live catalog (defaults again)."""
    with stack.db.session() as s:
        before = s.scalar(select(func.max(MessageEdit.id))) or 0
    yield
    with stack.db.session() as s:
        s.execute(delete(MessageEdit).where(MessageEdit.id > before))
        edits.load_live(s, stack.catalog)


async def phone_shot(shots: Shots, page: Page, step: str) -> Path:
    """The editor's phone preview alone, next to the test's numbered screenshots."""
    path = shots.dir / f"{shots.test}-phone-{step}.png"
    await page.locator("#msgedit-preview").screenshot(path=str(path))
    return path


async def thanks(survivor: Survivor) -> str:
    result = await survivor.say("muchas gracias")
    assert result.replies[-1].key == "utter_thanks", [r.key for r in result.replies]
    return result.replies[-1].text


async def crisis(stack: Runtime) -> tuple[Survivor, str]:
    """A new survivor in Mexico writes a crisis message; the text of the first reply."""
    survivor = Survivor(stack, "es", "MX")
    result = await survivor.say(CRISIS)
    assert result.replies[0].key == "utter_crisis", [r.key for r in result.replies]
    return survivor, result.replies[0].text


async def save_draft(page: Page) -> int:
    await page.click("#msgedit-save")
    await page.wait_for_url("**done=saved**")
    draft = await page.locator("article.msgedit-draft").last.get_attribute("id")
    assert draft and draft.startswith("draft-")
    return int(draft.removeprefix("draft-"))


async def test_edit_then_survivor_gets_the_new_text_after_approval(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
    restore_messages: None,
) -> None:
    shots = Shots(stack, "msgedit")
    old = stack.catalog.text("utter_thanks", "es")
    new = "Con gusto.\nAquí sigo si necesitas algo más."
    survivor = Survivor(stack, "es", "MX")
    await survivor.say("hola")
    await survivor.say("1")
    assert await thanks(survivor) == old
    await shots.survivor(browser, survivor, "default-thanks")

    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    page = await sign_in_page(contexts[0], stack, staff["ada"].email)
    await admin_menu(page, "Mensajes")
    await page.fill("#f-q", "Aquí estoy si necesitas")
    await page.click("#msgedit-filter-show")
    row = page.locator('tr[data-key="utter_thanks"]')
    await row.wait_for(timeout=TIMEOUT)
    assert await page.locator("tbody tr[data-key]").count() == 1
    await shots.staff(page, "found-by-search")
    await row.get_by_role("link", name="utter_thanks").click()
    await page.wait_for_selector("#msgedit-text")
    assert await page.input_value("#msgedit-text") == old
    await shots.staff(page, "editor")

    # Checks react while typing: "@" inside a word is an error, then fixing it clears it.
    inclusive = page.locator('#msgedit-checks li[data-code="inclusive"]')
    await page.fill("#msgedit-text", "Con gusto.\nAquí sigo si necesitas algo más, amig@s.")
    await inclusive.wait_for(timeout=TIMEOUT)
    assert "dentro de las palabras" in await inclusive.inner_text()
    await shots.staff(page, "check-flags-at-sign")
    await page.fill("#msgedit-text", new)
    await inclusive.wait_for(state="detached", timeout=TIMEOUT)
    bubble = page.locator("#msgedit-bubble")
    await page.wait_for_function(
        "t => document.querySelector('#msgedit-bubble').innerText.includes(t)", arg="Aquí sigo"
    )
    assert await page.inner_text("#msgedit-notification-text") == "Con gusto."
    assert "Aquí sigo si necesitas algo más." in await bubble.inner_text()
    await shots.staff(page, "checks-clear-preview-updated")
    await phone_shot(shots, page, "preview")

    draft = await save_draft(page)
    assert "Borrador guardado" in await page.inner_text("#msgedit-done")
    assert await thanks(survivor) == old  # a draft is not live
    await shots.staff(page, "draft-saved")

    await page.click(f"#msgedit-approve-{draft}")
    await page.wait_for_url("**done=approved**")
    await shots.staff(page, "approved")
    assert await thanks(survivor) == new
    await shots.survivor(browser, survivor, "new-thanks-after-approval")

    # The history shows the new version live, with who approved it; on a phone-sized screen too.
    await page.click("#msgedit-history-link")
    live = page.locator(f'tr.live[data-version="{draft}"]')
    await live.wait_for(timeout=TIMEOUT)
    assert "Ada" in await live.inner_text() and "Aquí sigo" in await live.inner_text()
    await page.set_viewport_size({"width": 390, "height": 844})
    await shots.staff(page, "history-on-a-small-screen")


async def test_safety_critical_edit_waits_for_a_second_admin(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
    restore_messages: None,
) -> None:
    shots = Shots(stack, "msgapproval")
    old = stack.catalog.text("utter_crisis", "es")
    new = old.replace("Aquí estoy.", "Te leo.", 1)
    assert new != old

    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    ada = await sign_in_page(contexts[-1], stack, staff["ada"].email)
    await ada.goto(console_url(stack) + "/messages?lang=es&safety=1")
    await (
        ada.locator('tr[data-key="utter_crisis"]')
        .get_by_role("link", name="Editar en Español")
        .click()
    )
    await ada.wait_for_selector("#msgedit-text")
    await ada.fill("#msgedit-text", new)
    await ada.wait_for_function(
        "() => document.querySelector('#msgedit-notification-text').innerText === 'Te leo.'"
    )
    await phone_shot(shots, ada, "crisis-preview")
    draft = await save_draft(ada)

    # Ada wrote it: no approve button, and the page says why.
    assert await ada.locator(f"#msgedit-approve-{draft}").count() == 0
    assert "otra persona de administración" in await ada.inner_text(f"#msgedit-own-{draft}")
    await shots.staff(ada, "author-cannot-approve")
    survivor, text = await crisis(stack)
    assert text.startswith("Aquí estoy.\n") and "911 (México)" in text  # still the old one
    await shots.survivor(browser, survivor, "old-crisis-text-while-waiting")

    # Noa, in her own browser, finds it waiting and approves it.
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    noa = await sign_in_page(contexts[-1], stack, staff["noa"].email)
    await admin_menu(noa, "Mensajes")
    await noa.click("#msgedit-waiting-link")
    waiting = noa.locator(f'tr[data-draft="{draft}"]')
    await waiting.wait_for(timeout=TIMEOUT)
    with stack.db.session() as s:
        drafts = len(edits.waiting(s))  # every draft of the shared stack, this one among them
    assert int(await noa.inner_text("#msgedit-waiting-count")) == drafts
    await shots.staff(noa, "waiting-for-approval")
    await waiting.get_by_role("link").click()
    await noa.click(f"#msgedit-approve-{draft}")
    await noa.wait_for_url("**done=approved**")
    await shots.staff(noa, "second-admin-approved")

    again, text = await crisis(stack)
    assert text.startswith("Te leo.\n") and "911 (México)" in text
    await shots.survivor(browser, again, "new-crisis-text")
