"""The web chat in Chromium: a survivor on a 320 px phone chats, asks for a person, a staff member
in a second browser accepts and replies, and the survivor sees it live; the quick exit leaves no
trace in the tab's history or in browser storage. Both backends; every step photographed into
tests/artifacts/console/<backend>/webchat-*.png (see conftest.Shots)."""

from __future__ import annotations

from typing import Any

from kit import Account, wait_until
from playwright.async_api import Browser, BrowserContext, Page, Route
from sqlalchemy import select

from bot.runtime import Runtime
from bot.store.models import Contact, Conversation, HandoffRequest
from e2e.browser.conftest import Shots, sign_in_page

TIMEOUT = 15_000  # ms: waiting for a live update, never a fixed sleep
NEUTRAL = "https://neutral.invalid/weather"  # BOT_WEBCHAT_EXIT_URL in tests/conftest.py
BEFORE = "https://search.invalid/results"  # a page the person visited before the chat


def chat_url(runtime: Runtime, language: str) -> str:
    return f"http://127.0.0.1:{runtime.settings.port}/chat?lang={language}"


async def neutral_sites(context: BrowserContext) -> None:
    """The neutral site and the page before, answered by the browser itself (no network)."""

    async def answer(route: Route) -> None:
        name = "Weather" if "neutral" in route.request.url else "Search"
        await route.fulfill(
            status=200, content_type="text/html", body=f"<title>{name}</title><h1>{name}</h1>"
        )

    await context.route("https://*.invalid/**", answer)


def webchat_conversations(runtime: Runtime) -> set[str]:
    with runtime.db.session() as s:
        return set(
            s.scalars(
                select(Conversation.id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Contact.channel == "webchat")
            )
        )


def latest_request(runtime: Runtime, conversation_id: str) -> HandoffRequest | None:
    with runtime.db.session() as s:
        return s.scalars(
            select(HandoffRequest)
            .where(HandoffRequest.conversation_id == conversation_id)
            .order_by(HandoffRequest.created_at.desc())
        ).first()


async def sideways(page: Page) -> int:
    """Pixels the page is wider than the screen (0: no sideways scrolling on a 320 px phone)."""
    width: int = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


async def write(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def reply(page: Page, text: str) -> Any:
    return page.locator("#log li.them", has_text=text)


async def test_a_survivor_on_the_web_reaches_a_person(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    staff: dict[str, Account],
    clean_presence: None,
) -> None:
    shots = Shots(stack, "webchat")
    catalog = stack.catalog
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 900}))
    console = await sign_in_page(contexts[-1], stack, staff["lucia"].email)

    contexts.append(await browser.new_context(viewport={"width": 320, "height": 640}))
    phone = await contexts[-1].new_page()
    before = webchat_conversations(stack)
    await phone.goto(chat_url(stack, "es"))
    assert await phone.title() == "Chat"
    await phone.wait_for_selector("#text:enabled", timeout=TIMEOUT)
    assert await sideways(phone) == 0
    await shots.page("survivor", phone, "opened")

    await write(phone, "hola")
    await reply(phone, "SALIR").wait_for(timeout=TIMEOUT)
    safe = phone.get_by_role("button", name="1. " + catalog.text("button_yes", "es"))
    await safe.wait_for(timeout=TIMEOUT)
    await shots.page("survivor", phone, "first-answer")
    await safe.focus()
    await phone.keyboard.press("Enter")  # buttons work from the keyboard
    person = catalog.text("button_request_human", "es")
    await phone.get_by_role("button", name=f"6. {person}").click(timeout=TIMEOUT)
    ask = phone.get_by_role("button", name="1. " + catalog.text("button_send_request", "es"))
    await ask.wait_for(timeout=TIMEOUT)
    assert await sideways(phone) == 0  # long texts and five buttons still fit
    await shots.page("survivor", phone, "summary-before-sending")
    await ask.click()
    new = await wait_until(lambda: webchat_conversations(stack) - before)
    assert len(new) == 1
    conversation_id = next(iter(new))
    req = await wait_until(lambda: latest_request(stack, conversation_id))
    assert isinstance(req, HandoffRequest)
    await shots.page("survivor", phone, "queued")

    # The request arrives in the open console, live; Lucía accepts it.
    row = console.locator(f'tr[data-handoff-id="{req.id}"]')
    await row.wait_for(timeout=TIMEOUT)
    await shots.staff(console, "web-conversation-arrives")
    await row.get_by_role("link").click()
    await console.wait_for_selector("#accept")
    await console.click("#accept")
    await console.wait_for_selector('[data-status="accepted"]')
    await reply(phone, "Lucía").wait_for(timeout=TIMEOUT)
    await shots.page("survivor", phone, "lucia-joined")

    # Both ways, live, with no reload on either side.
    await phone.evaluate("window.__noReload = true")
    await console.evaluate("window.__noReload = true")
    await write(phone, "me quitaron el pasaporte")
    await console.locator("#messages li.msg.in", has_text="pasaporte").wait_for(timeout=TIMEOUT)
    await shots.staff(console, "web-message-arrives-live")
    await console.fill("#reply-text", "Hola, soy Lucía. ¿Estás en un lugar seguro ahora?")
    await console.click("#send")
    await reply(phone, "soy Lucía").wait_for(timeout=TIMEOUT)
    assert await phone.evaluate("window.__noReload === true")
    assert await console.evaluate("window.__noReload === true")
    await shots.page("survivor", phone, "lucia-replies-live")
    await shots.staff(console, "reply-sent")

    # The quick-exit button: the page goes, the conversation is erased, the console is told.
    await neutral_sites(contexts[-1])
    await phone.click("#quick-exit")
    await phone.wait_for_url(NEUTRAL, timeout=TIMEOUT)
    await wait_until(lambda: conversation_id not in webchat_conversations(stack))
    assert latest_request(stack, conversation_id) is None  # erased with the conversation
    await shots.page("survivor", phone, "after-quick-exit")
    await console.locator("[data-gone]").first.wait_for(timeout=TIMEOUT)  # told live
    await shots.staff(console, "conversation-gone")


async def test_quick_exit_leaves_no_trace(
    stack: Runtime, browser: Browser, contexts: list[BrowserContext]
) -> None:
    shots = Shots(stack, "webchat-exit")
    contexts.append(await browser.new_context(viewport={"width": 360, "height": 740}))
    context = contexts[-1]
    await neutral_sites(context)
    page = await context.new_page()
    await page.goto(BEFORE)
    before = webchat_conversations(stack)
    await page.goto(chat_url(stack, "fr"))
    await page.wait_for_selector("#text:enabled", timeout=TIMEOUT)
    await write(page, "bonjour")
    await reply(page, "QUITTER").wait_for(timeout=TIMEOUT)
    new = await wait_until(lambda: webchat_conversations(stack) - before)
    await shots.page("survivor", page, "chatting")

    # While chatting, nothing is kept in the browser beyond the page's memory.
    kept = await page.evaluate(
        """async () => ({
            cookies: document.cookie,
            local: localStorage.length,
            session: sessionStorage.length,
            databases: (await indexedDB.databases()).length,
            caches: (await caches.keys()).length,
        })"""
    )
    assert kept == {"cookies": "", "local": 0, "session": 0, "databases": 0, "caches": 0}

    await page.keyboard.press("Escape")
    await page.wait_for_url(NEUTRAL, timeout=TIMEOUT)
    assert await page.title() == "Weather"
    cdp = await context.new_cdp_session(page)
    history = await cdp.send("Page.getNavigationHistory")
    # The tab's first, empty entry, the page before, and the neutral site: no chat.
    assert [entry["url"] for entry in history["entries"]] == ["about:blank", BEFORE, NEUTRAL]
    assert await page.evaluate("history.length") == 3
    await page.go_back()
    await page.wait_for_url(BEFORE, timeout=TIMEOUT)  # back leads past the chat, not to it
    state = await context.storage_state()
    assert state == {"cookies": [], "origins": []}
    await shots.page("survivor", page, "back-after-exit")
    # And on the server, the conversation is erased as the exit word erases it.
    await wait_until(lambda: not (new & webchat_conversations(stack)))
