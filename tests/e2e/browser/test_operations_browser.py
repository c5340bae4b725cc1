"""An admin adds an exit word in a real browser; a survivor leaves with it at once.

Screenshots in tests/artifacts/console/<backend>/ (see conftest.Shots), desktop and phone width.
"""

from __future__ import annotations

import uuid

from kit import Account, Survivor, console_url
from playwright.async_api import Browser, BrowserContext
from sqlalchemy import delete

from bot.runtime import Runtime
from bot.store.models import Mode
from bot.store.ops_models import ExitWord
from e2e.browser.conftest import Shots, sign_in_page

TIMEOUT = 15_000  # ms


async def test_admin_adds_an_exit_word_and_a_survivor_leaves_with_it(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
) -> None:
    shots = Shots(stack, "exit-word")
    word = "tamarindo" + "".join(chr(97 + int(c, 16)) for c in uuid.uuid4().hex[:3])
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    try:
        page = await sign_in_page(contexts[0], stack, staff["ada"].email)  # console in Spanish
        await page.goto(console_url(stack) + "/operations/exit-words")
        await page.select_option("#x-language", "es")
        await page.fill("#x-word", "hola")
        await page.click("form:has(#x-word) button[type=submit]")
        problem = page.locator("#exit-problem")
        await problem.wait_for(timeout=TIMEOUT)
        assert "saludo" in await problem.inner_text()
        await shots.staff(page, "greeting-refused")

        await page.fill("#x-word", word)
        await page.click("form:has(#x-word) button[type=submit]")
        await page.locator("#exit-status").wait_for(timeout=TIMEOUT)
        assert word in await page.locator("tr[data-language=es]").inner_text()
        await shots.staff(page, "word-added")

        survivor = Survivor(stack, "es", "MX")
        await survivor.say("hola")
        result = await survivor.say(word.upper())
        assert result.mode == Mode.CLOSED and result.intent == "command:exit"
        await shots.survivor(browser, survivor, "left-with-the-word")

        await page.set_viewport_size({"width": 390, "height": 844})
        await page.click(f"tr[data-language=es] li:has(code:text('{word}')) button")
        await page.locator("#exit-status").wait_for(timeout=TIMEOUT)
        assert word not in await page.locator("tr[data-language=es]").inner_text()
        await shots.staff(page, "word-removed-phone-width")
        again = Survivor(stack, "es", "MX")
        await again.say("hola")
        assert (await again.say(word)).intent != "command:exit"
    finally:
        with stack.db.session() as s:
            s.execute(delete(ExitWord))
        stack.reload_operations()
