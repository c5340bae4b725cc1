"""Retraining from the console in a real browser: a new phrase that the assistant then understands.

Admin Ada adds three made-up phrases to ``request_human`` in Spanish, sees them pending, retrains,
waits for the figures and "live", and a survivor who writes the phrase is then offered a person.
A real training runs (minutes on a small machine). The shared stack is left as it was found:
the phrases are deleted and the model that was live before is put back.
Screenshots: tests/artifacts/console/<backend>/understanding-*.png.
"""

from __future__ import annotations

import pytest
from kit import Survivor, console_url, ensure_accounts
from playwright.async_api import Browser, BrowserContext
from sqlalchemy import delete, select

from bot.console.views_understanding import retraining_for, shipped
from bot.rasa.model import admin_data
from bot.rasa.retrain import Retrainer, write_admin_data
from bot.runtime import Runtime
from bot.store.content_models import TrainingExample
from bot.store.models import StaffPresence
from e2e.browser.conftest import Shots, sign_in_page

WORD = "zorblat"  # made up: no language has it, and no other test uses it
PHRASES = [WORD, f"{WORD} por favor", f"quiero {WORD} ya"]
RETRAIN_TIMEOUT = 600_000  # ms: validation, training and measuring take minutes on 2 cores


async def test_retraining_with_a_new_phrase_that_the_assistant_then_understands(
    real_stack: Runtime,
    backend: str,
    browser: Browser,
    contexts: list[BrowserContext],
) -> None:
    if backend:
        pytest.skip(
            "retraining is the same on both databases (only phrase statuses are stored); "
            "trained and measured once, on SQLite"
        )
    stack = real_stack  # a real training, a real switch: the real Rasa process
    staff = ensure_accounts(stack)
    with stack.db.session() as s:
        s.execute(delete(StaffPresence))  # nobody on duty: the survivor is offered a person
    before = await stack.rasa.parse(WORD)
    assert before.intent != "request_human"  # not understood yet
    assert stack.rasa_process is not None
    live_model = stack.rasa_process.model
    shots = Shots(stack, "understanding")
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    page = await sign_in_page(contexts[0], stack, staff["ada"].email)
    page.set_default_timeout(30_000)
    try:
        # The intents, then request_human in Spanish, where Ada adds three phrases.
        await page.goto(console_url(stack) + "/understanding")
        await page.locator("#intent-request_human").wait_for()
        await shots.staff(page, "intents")
        await page.click('a[href="/console/understanding/request_human/es"]')
        await page.wait_for_url("**/understanding/request_human/es")
        await page.fill("#phrases", "\n".join(PHRASES))
        await page.get_by_role("button", name="Añadir estas frases").click()
        await page.locator("#added li").first.wait_for()
        assert await page.locator("#added li").all_inner_texts() == PHRASES
        pending = page.locator('tr[data-status="pending"]', has_text=WORD)
        assert await pending.count() == 3
        assert "no está en uso hasta reentrenar" in await pending.first.inner_text()
        await shots.staff(page, "phrases-pending")

        # Search finds them as Ada types (htmx), and nothing else.
        await page.fill("#q", WORD)
        await page.locator("#examples .u-shipped").wait_for(state="detached")
        assert await page.locator("#examples tr[data-status]").count() == 3

        # Retrain and test: progress while it runs, then the figures and the verdict.
        await page.click("text=Todas las intenciones")
        await page.get_by_role("button", name="Reentrenar y probar").click()
        await page.locator("ol.u-steps").wait_for()
        await shots.staff(page, "retraining-progress")
        verdict = page.locator(".u-verdict")
        await verdict.wait_for(timeout=RETRAIN_TIMEOUT)
        await shots.staff(page, "retraining-result")
        text = await verdict.inner_text()
        assert "En uso." in text, text
        for code in ("en", "es", "pt", "fr"):
            assert await page.locator(f'table.u-figures tr[data-language="{code}"] td').count() == 9
        # The page was loaded anew when it finished: the counts include the three live phrases.
        assert "pendientes" not in await page.inner_text("#intent-request_human")
        count = page.locator('a[href="/console/understanding/request_human/es"]')
        with stack.db.session() as s:
            live = s.scalars(
                select(TrainingExample.text).where(
                    TrainingExample.intent == "request_human",
                    TrainingExample.language == "es",
                    TrainingExample.status == "live",
                )
            ).all()
        assert set(PHRASES) <= set(live)
        assert int(await count.inner_text()) == len(shipped("es")["request_human"]) + len(live)
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone-sized window
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await shots.staff(page, "retraining-result-narrow")
        job = retraining_for(stack).run
        assert job is not None and job.result is not None and job.result.status == "live"
        with stack.db.session() as s:
            statuses = s.scalars(
                select(TrainingExample.status).where(TrainingExample.text.contains(WORD))
            ).all()
        assert statuses == ["live"] * 3

        # The page of the intent shows them live; a survivor's phrase is now understood.
        await page.goto(console_url(stack) + "/understanding/request_human/es?q=" + WORD)
        assert await page.locator('tr[data-status="live"]', has_text=WORD).count() == 3
        after = await stack.rasa.parse(f"{WORD} por favor")
        assert after.intent == "request_human", after
        survivor = Survivor(stack, "es", "MX")
        await survivor.say("hola")
        await survivor.say("1")  # it is safe to chat
        offered = await survivor.say(f"quiero {WORD} ya")
        assert [r.key for r in offered.replies] == [
            "utter_handoff_explain",
            "utter_ask_handoff_consent",
        ]
        await shots.survivor(browser, survivor, "phrase-understood")
    finally:
        with stack.db.session() as s:
            s.execute(delete(TrainingExample).where(TrainingExample.text.contains(WORD)))
            write_admin_data(s, admin_data(stack.settings), include_pending=False)
            s.execute(delete(StaffPresence))
        if stack.rasa_process is not None and stack.rasa_process.model != live_model:
            await Retrainer(stack).restore(live_model)
