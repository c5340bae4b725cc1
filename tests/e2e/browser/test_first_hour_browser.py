"""A newcomer's first hour, in Chromium: the steps of docs/first-hour.md, and the console's layout.

- The console's menu stays on one line at 1280 px (ten links in a row wrapped to three lines): the
  admin pages sit in a menu that opens without JavaScript; at 320 px nothing scrolls sideways,
  and the queue's rows become cards.
- An unknown console address shows the console's own "Page not found" page.
- Try the assistant in the web chat, take the conversation over as staff, open the messages and
  the form for a new service: each step photographed.

With ``BOT_SCREENSHOTS=1`` the pictures go to docs/img/first-hour/ (the guide's own, regenerated
by this test; 1280x800 at most); otherwise to tests/artifacts/first-hour/ (gitignored).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from kit import PASSWORD, Account, console_url, wait_until
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page

from bot.console.auth import Accounts
from bot.runtime import Runtime
from bot.store.models import HandoffRequest
from e2e.browser.conftest import sign_in_page
from e2e.browser.test_webchat_browser import (
    chat_url,
    latest_request,
    reply,
    sideways,
    webchat_conversations,
    write,
)

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 15_000  # ms: waiting for a live update, never a fixed sleep


def shots_dir() -> Path:
    if os.environ.get("BOT_SCREENSHOTS") == "1":
        where = ROOT / "docs" / "img" / "first-hour"
    else:
        where = ROOT / "tests" / "artifacts" / "first-hour"
    where.mkdir(parents=True, exist_ok=True)
    return where


async def shot(page: Page, name: str) -> Path:
    """The visible screen only (never a full page): small pictures a guide can hold. For the
    guide they are reduced to 256 colours without dithering (a console screenshot has few; the
    files are less than half the size, and text stays sharp)."""
    path = shots_dir() / f"{name}.png"
    await page.screenshot(path=str(path))
    if os.environ.get("BOT_SCREENSHOTS") == "1":
        with Image.open(path) as taken:
            small = taken.convert("RGB").quantize(
                colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
        small.save(path, optimize=True)
    return path


def english_admin(stack: Runtime) -> Account:
    """An admin who reads the console in English and answers English conversations."""
    email = f"first-hour-{uuid.uuid4().hex[:8]}@example.org"
    user, _ = Accounts(stack.db, stack.settings, stack.crypto).create(
        email, "admin", "Sam", PASSWORD, ["en"], "en"
    )
    return Account(user.id, email, "Sam", "admin")


async def nav_lines(page: Page) -> float:
    """The navigation's height in lines of its own links."""
    sizes: dict[str, float] = await page.evaluate(
        """() => {
            const nav = document.querySelector('#console-nav');
            const link = nav.querySelector('a');
            return {nav: nav.getBoundingClientRect().height,
                    link: link.getBoundingClientRect().height};
        }"""
    )
    return sizes["nav"] / sizes["link"]


async def test_the_console_menu_fits_and_a_missing_page_is_the_consoles_own(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    clean_presence: None,
) -> None:
    admin = english_admin(stack)
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 800}))
    page = await sign_in_page(contexts[-1], stack, admin.email)

    # 1280 px, an admin (every item): one line, the header no taller than two lines of text.
    assert await nav_lines(page) < 1.6
    header = await page.evaluate("document.querySelector('header.top').offsetHeight")
    assert header < 90, header
    admin_links = page.locator("#admin-menu .menu-items a")
    assert await admin_links.count() == 6
    assert not await admin_links.first.is_visible()
    await page.click("#admin-menu summary")  # <details>: opens with no script at all
    assert await admin_links.first.is_visible()
    await shot(page, "06-admin-menu")
    await admin_links.filter(has_text="Directory").click()
    await page.wait_for_url("**/console/directory")
    current = page.locator('#console-nav [aria-current="page"]')
    assert await current.text_content() == "Directory"  # inside the closed menu

    # 320 px: the same menu, wrapped but never wider than the phone.
    contexts.append(await browser.new_context(viewport={"width": 320, "height": 640}))
    phone = await sign_in_page(contexts[-1], stack, admin.email)
    # The header itself fits the phone (a queue table with rows may be wider: not the menu's).
    widest = await phone.evaluate(
        """() => Math.max(...[...document.querySelectorAll('header.top *')]
            .filter(e => e.checkVisibility()).map(e => e.getBoundingClientRect().right))"""
    )
    assert widest <= 320, await phone.evaluate(
        """() => [...document.querySelectorAll('header.top *')]
            .filter(e => e.checkVisibility() && e.getBoundingClientRect().right > 320)
            .map(e => e.tagName + ' ' + e.className + ' ' + e.id)"""
    )
    assert await nav_lines(phone) < 3.6
    await phone.click("#admin-menu summary")  # open, the menu's items stay on the screen too
    assert (
        await phone.evaluate(
            """() => Math.max(...[...document.querySelectorAll('#admin-menu a')]
            .map(e => e.getBoundingClientRect().right))"""
        )
        <= 320
    )

    # A mistyped address: the console's page, its menu, a way back.
    response = await page.goto(console_url(stack) + "/queu")
    assert response is not None and response.status == 404
    assert await page.inner_text("#error-title") == "Page not found"
    assert await page.locator("#console-nav").is_visible()
    await shot(page, "07-not-found")
    await page.get_by_role("link", name="Back to the queue").click()
    await page.wait_for_url("**/console/queue")


async def test_first_hour_steps(
    stack: Runtime,
    browser: Browser,
    contexts: list[BrowserContext],
    clean_presence: None,
) -> None:
    catalog = stack.catalog
    admin = english_admin(stack)
    contexts.append(await browser.new_context(viewport={"width": 1280, "height": 800}))
    console = await sign_in_page(contexts[-1], stack, admin.email)

    # Step 1: try the assistant in the web chat, as a survivor would on a phone.
    contexts.append(await browser.new_context(viewport={"width": 400, "height": 760}))
    chat = await contexts[-1].new_page()
    before = webchat_conversations(stack)
    await chat.goto(chat_url(stack, "en"))
    await chat.wait_for_selector("#text:enabled", timeout=TIMEOUT)
    await write(chat, "hello")
    await reply(chat, "EXIT").wait_for(timeout=TIMEOUT)
    safe = chat.get_by_role("button", name="1. " + catalog.text("button_yes", "en"))
    await safe.click(timeout=TIMEOUT)
    person = catalog.text("button_request_human", "en")
    await chat.get_by_role("button", name=f"6. {person}").wait_for(timeout=TIMEOUT)
    await shot(chat, "01-web-chat")

    # Step 2: ask for a person; the request arrives in the console's queue, live.
    await chat.get_by_role("button", name=f"6. {person}").click()
    ask = chat.get_by_role("button", name="1. " + catalog.text("button_send_request", "en"))
    await ask.click(timeout=TIMEOUT)
    new = await wait_until(lambda: webchat_conversations(stack) - before)
    conversation_id = next(iter(new))
    req = await wait_until(lambda: latest_request(stack, conversation_id))
    assert isinstance(req, HandoffRequest)
    row = console.locator(f'tr[data-handoff-id="{req.id}"]')
    await row.wait_for(timeout=TIMEOUT)
    await shot(console, "02-queue")

    # The same queue on a 320 px phone: the waiting row is a card, each cell under its heading;
    # nothing scrolls sideways and the link that opens it is on the screen.
    contexts.append(await browser.new_context(viewport={"width": 320, "height": 640}))
    phone = await sign_in_page(contexts[-1], stack, admin.email)
    card = phone.locator(f'tr[data-handoff-id="{req.id}"]')
    await card.wait_for(timeout=TIMEOUT)
    assert await sideways(phone) == 0
    opens = await card.get_by_role("link").bounding_box()
    assert opens is not None and opens["x"] >= 0 and opens["x"] + opens["width"] <= 320, opens
    assert (
        await card.locator("td").first.evaluate("e => getComputedStyle(e, '::before').content")
        == '"Language: "'
    )
    await contexts.pop().close()

    # Step 3: take it over and answer; the web chat shows the answer at once.
    await row.get_by_role("link").click()
    await console.click("#accept")
    await console.wait_for_selector('[data-status="accepted"]')
    await write(chat, "I need help with my papers")
    await console.locator("#messages li.msg.in", has_text="papers").wait_for(timeout=TIMEOUT)
    await console.fill("#reply-text", "Hi, I am Sam from the team. Are you somewhere safe now?")
    await console.click("#send")
    await reply(chat, "I am Sam").wait_for(timeout=TIMEOUT)
    await shot(console, "03-staff-reply")
    await shot(chat, "04-web-chat-staff")

    # Step 4: the assistant's messages, each editable by an admin: folded per group (one table
    # of every message was 16,000 px long), a group opens with a click and no script.
    await console.goto(console_url(stack) + "/messages")
    await console.wait_for_selector("h1")
    height = await console.evaluate("document.documentElement.scrollHeight")
    assert height < 1600, height
    replies = console.locator("#group-replies")
    assert await replies.get_attribute("open") is None
    await replies.locator("summary").click()
    await console.locator('tr[data-key="utter_goodbye"]').wait_for(timeout=TIMEOUT)
    await shot(console, "05-messages")

    # Step 5: the form for a new service in the directory.
    await console.goto(console_url(stack) + "/directory/new")
    await console.wait_for_selector("form")
    await shot(console, "08-add-service")
