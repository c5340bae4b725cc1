"""The warm handoff in a real browser: Chromium (Playwright) for staff, the gateway for survivors.

Every step is photographed into tests/artifacts/console/<backend>/ (see conftest.Shots).
"""

from __future__ import annotations

import datetime as dt

from kit import Account, Survivor, console_url
from playwright.async_api import Browser, BrowserContext

from bot.runtime import Runtime
from bot.store.models import HandoffRequest, Mode, utcnow
from e2e.browser.conftest import Shots, sign_in_page

TIMEOUT = 15_000  # ms: waiting for a live update, never a fixed sleep


async def queued_request(survivor: Survivor) -> HandoffRequest:
    result = await survivor.tap("/handoff_yes")
    assert result.mode == Mode.QUEUED, [r.key for r in result.replies]
    req = survivor.request()
    assert req is not None
    return req


async def test_warm_handoff_in_spanish(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
) -> None:
    shots = Shots(stack, "handoff")
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    page = await sign_in_page(contexts[0], stack, staff["lucia"].email)
    await page.evaluate("window.__noReload = true")
    await shots.staff(page, "queue-signed-in")

    # A survivor on Telegram asks for a person in Spanish and sees the summary first.
    survivor = Survivor(stack, "es", "MX")
    await survivor.say("hola")
    await survivor.say("1")
    await survivor.say("necesito un abogado")  # the assistant answers: services in Mexico
    explained = await survivor.say("quiero hablar con una persona")
    keys = [r.key for r in explained.replies]
    assert keys == ["utter_handoff_explain", "utter_ask_handoff_consent"]
    assert "México" in explained.replies[1].text
    await shots.survivor(browser, survivor, "summary-before-sending")
    req = await queued_request(survivor)
    await shots.survivor(browser, survivor, "queued")

    # The conversation arrives in the open console without a reload (Server-Sent Events).
    row = page.locator(f'tr[data-handoff-id="{req.id}"]')
    await row.wait_for(timeout=TIMEOUT)
    assert await page.evaluate("window.__noReload === true")
    await page.wait_for_function("document.title.startsWith('(')", timeout=TIMEOUT)
    await shots.staff(page, "new-conversation-arrives")

    await row.get_by_role("link").click()
    await page.wait_for_selector("#accept")
    assert "México" in await page.inner_text("#card-country")
    await shots.staff(page, "summary-before-accepting")
    await page.click("#accept")
    await page.wait_for_selector('[data-status="accepted"]')
    joined = await survivor.wait_for("utter_staff_joined")
    assert joined.text.startswith("Lucía, del equipo, se unió")
    await shots.survivor(browser, survivor, "lucia-joined")

    # Messages flow both ways, live.
    await page.evaluate("window.__noReload = true")
    silent = await survivor.say("necesito ayuda con mis papeles")
    assert silent.replies == [] and silent.mode == Mode.STAFF
    await page.locator("#messages li.msg.in", has_text="mis papeles").wait_for(timeout=TIMEOUT)
    await shots.staff(page, "message-arrives-live")
    await page.fill("#reply-text", "Hola, soy Lucía. ¿Tienes tus documentos contigo ahora?")
    await page.click("#send")
    sent = await survivor.wait_for("staff_message")
    assert sent.text.startswith("Hola, soy Lucía")
    await page.locator("#messages li.msg.out", has_text="soy Lucía").wait_for(timeout=TIMEOUT)
    await survivor.say("no, los tiene mi jefe")
    await page.locator("#messages li.msg.in", has_text="mi jefe").wait_for(timeout=TIMEOUT)
    assert await page.evaluate("window.__noReload === true")
    await shots.survivor(browser, survivor, "talking-with-lucia")

    # A private note, then hand back to the assistant.
    await page.fill("#note-text", "Documentos retenidos por el empleador. Ofrecer ayuda legal.")
    await page.click("#add-note")
    await page.locator("#notes li", has_text="Documentos retenidos").wait_for(timeout=TIMEOUT)
    await shots.staff(page, "note-added")
    await page.click("#hand-back")
    await page.wait_for_url("**/console/queue")
    left = await survivor.wait_for("utter_staff_left")
    assert left.text.startswith("Lucía, del equipo, salió")
    await shots.staff(page, "handed-back")

    # The assistant resumes where it was: Rasa answers the next message.
    resumed = await survivor.say("necesito un abogado")
    assert resumed.mode == Mode.BOT
    assert resumed.replies[0].key == "utter_services_intro", [r.key for r in resumed.replies]
    await shots.survivor(browser, survivor, "assistant-resumes")


async def test_nobody_on_duty_and_nobody_answering(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
) -> None:
    shots = Shots(stack, "fallback")
    # Nobody is signed in: the survivor is told so at once, honestly, with numbers and hours.
    alone = Survivor(stack, "pt", "BR")
    await alone.ask_for_person("oi")
    told = await alone.tap("/handoff_yes")
    reply = told.replies[0]
    assert reply.key == "utter_handoff_no_one" and "190" in reply.text
    assert [b.payload for b in reply.buttons] == ["/handoff_wait", "/handoff_leave"]
    await shots.survivor(browser, alone, "nobody-on-duty")
    assert alone.request() is not None

    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    supervisor = await sign_in_page(contexts[-1], stack, staff["sol"].email)
    await supervisor.click("text=" + "Marcar ausente")  # the supervisor steps away
    await supervisor.wait_for_selector("#presence-state.away")
    await supervisor.goto(console_url(stack) + "/supervisor")
    pt_row = supervisor.locator('tr[data-queue="pt"]')
    await pt_row.wait_for(timeout=TIMEOUT)
    assert "nadie" in await pt_row.inner_text()
    await shots.staff(supervisor, "supervisor-sees-nobody-on-duty")

    # Someone is on duty but nobody accepts in time: one honest message, then silence.
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    lucia = await sign_in_page(contexts[-1], stack, staff["lucia"].email)
    waiting = Survivor(stack, "es", "MX")
    await waiting.ask_for_person()
    req = await queued_request(waiting)
    await lucia.locator(f'tr[data-handoff-id="{req.id}"]').wait_for(timeout=TIMEOUT)
    live = stack.live
    timeout = dt.timedelta(minutes=stack.settings.handoff_accept_timeout_minutes + 1)
    await live.check_queue(utcnow() + timeout)  # a simulated clock
    fallback = await waiting.wait_for("utter_handoff_no_answer")
    assert "911" in fallback.text
    await shots.survivor(browser, waiting, "nobody-answered-yet")
    await live.check_queue(utcnow() + dt.timedelta(hours=2))
    assert waiting.pull() == []  # never "are you still there?"
    await lucia.locator(f'tr[data-handoff-id="{req.id}"]', has_text="nadie").wait_for(
        timeout=TIMEOUT
    )
    await shots.staff(lucia, "queue-shows-who-was-told")
    kept = await waiting.say("1")
    assert kept.replies[0].key == "utter_handoff_keep_waiting"
    await shots.survivor(browser, waiting, "keeps-waiting")


async def test_code_word_gate(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
) -> None:
    shots = Shots(stack, "codeword")
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    page = await sign_in_page(contexts[0], stack, staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    await survivor.tap("/card_code_word")
    saved = await survivor.say("Girasol azul")
    assert saved.replies[0].key == "utter_code_word_saved"
    await shots.survivor(browser, survivor, "code-word-set")
    req = await queued_request(survivor)
    await survivor.say("me quitaron el pasaporte")  # written before anyone joined

    await page.goto(console_url(stack) + f"/c/{req.id}")
    await page.wait_for_selector("#details-hidden")
    assert await page.locator("#card-country").count() == 0
    assert "pasaporte" not in await page.inner_text("#messages")
    await page.click("#accept")
    await page.wait_for_selector('[data-status="accepted"]')
    await survivor.wait_for("utter_staff_joined")
    await shots.staff(page, "details-hidden-until-confirmed")

    await page.click("#ask-code-word")
    await page.wait_for_selector("#code-word-waiting")
    await survivor.wait_for("utter_ask_code_word_check")
    await survivor.say("rosa")  # the answer: checked, never shown to staff
    wrong = page.locator("#messages li.msg.check", has_text="no coincide")
    await wrong.wait_for(timeout=TIMEOUT)
    assert await page.locator("#details-hidden").count() == 1
    assert "rosa" not in (await page.inner_text("#messages")).lower()
    await shots.staff(page, "wrong-code-word")
    await page.locator("#ask-code-word").wait_for(timeout=TIMEOUT)
    await page.click("#ask-code-word")
    await survivor.wait_for("utter_ask_code_word_check")
    await survivor.say("GIRASOL AZUL")
    await page.wait_for_selector("#card-country", timeout=TIMEOUT)  # the panel opens by itself
    await page.locator("#messages li.msg.check", has_text="Ahora se muestran").wait_for()
    assert "pasaporte" in await page.inner_text("#messages")
    assert "girasol" not in (await page.inner_text("#messages")).lower()
    await shots.staff(page, "code-word-confirmed")
    await shots.survivor(browser, survivor, "asked-for-code-word")


async def test_only_supervisors_open_a_colleagues_conversation(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
) -> None:
    shots = Shots(stack, "roles")
    for _ in range(3):
        contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    lucia = await sign_in_page(contexts[0], stack, staff["lucia"].email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person()
    req = await queued_request(survivor)
    await lucia.goto(console_url(stack) + f"/c/{req.id}")
    await lucia.click("#accept")
    await lucia.wait_for_selector('[data-status="accepted"]')
    await survivor.wait_for("utter_staff_joined")

    mateo = await sign_in_page(contexts[1], stack, staff["mateo"].email)
    refused = await mateo.goto(console_url(stack) + f"/c/{req.id}")
    assert refused is not None and refused.status == 403
    assert "asignada a otra persona" in await mateo.inner_text("main")
    await shots.staff(mateo, "staff-refused")

    supervisor = await sign_in_page(contexts[2], stack, staff["sol"].email)
    await supervisor.goto(console_url(stack) + "/supervisor")
    row = supervisor.locator(f'tr[data-taken-id="{req.id}"]')
    await row.wait_for(timeout=TIMEOUT)
    await row.locator("select").select_option(staff["mateo"].id)
    await shots.staff(supervisor, "supervisor-reassigns")
    await row.get_by_role("button").click()
    await supervisor.wait_for_url("**/console/supervisor")
    joined = await survivor.wait_for("utter_staff_joined")
    assert joined.text.startswith("Mateo")
    await mateo.goto(console_url(stack) + "/queue")
    await mateo.locator(f'[data-mine-id="{req.id}"]').wait_for(timeout=TIMEOUT)
    await shots.staff(mateo, "now-assigned-to-mateo")
    opened = await mateo.goto(console_url(stack) + f"/c/{req.id}")
    assert opened is not None and opened.status == 200
    await shots.survivor(browser, survivor, "mateo-joined")
