"""A real browser for the console: Debian's Chromium driven by Playwright (no `playwright install`).

Screenshots of every step go to tests/artifacts/console/<backend>/ (gitignored): the staff member's
console as Chromium renders it, and the survivor's chat as a phone-sized page built from what the
gateway and the delivery actually sent.
"""

from __future__ import annotations

import html
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kit import ARTIFACTS, PASSWORD, Survivor, clean_presence, console_url, staff
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from bot.runtime import Runtime
from bot.types import Reply

__all__ = ["clean_presence", "staff"]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required in CI (.ci/run installs it)")
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    """Browser profiles (one per staff member), all closed after the test."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        await context.close()


class Shots:
    """Numbered screenshots of one test: the staff console and the survivor's phone."""

    def __init__(self, runtime: Runtime, test: str) -> None:
        backend = "sqlite" if runtime.db.url.startswith("sqlite") else "postgres"
        self.dir = ARTIFACTS / backend
        self.dir.mkdir(parents=True, exist_ok=True)
        self.test = test
        self.n = 0
        for old in self.dir.glob(f"{test}-*.png"):
            old.unlink()

    def _path(self, who: str, step: str) -> Path:
        self.n += 1
        return self.dir / f"{self.test}-{self.n:02d}-{who}-{step}.png"

    async def staff(self, page: Page, step: str) -> Path:
        path = self._path("staff", step)
        await page.screenshot(path=str(path), full_page=True)
        return path

    async def page(self, who: str, page: Page, step: str) -> Path:
        """A real page as it is (the web chat on a phone-sized screen, for one)."""
        path = self._path(who, step)
        await page.screenshot(path=str(path), full_page=True)
        return path

    async def survivor(self, browser: Browser, survivor: Survivor, step: str) -> Path:
        survivor.pull()
        path = self._path("survivor", step)
        page = await browser.new_page(viewport={"width": 420, "height": 860})
        await page.set_content(phone(survivor.seen[-8:]))
        await page.screenshot(path=str(path), full_page=True)
        await page.close()
        return path


def phone(replies: list[Reply]) -> str:
    """The chat as the survivor's phone would show it (bubbles and buttons; no styling secrets)."""
    bubbles = []
    for reply in replies:
        mine = reply.key == "survivor"
        text = html.escape(reply.text).replace("\n", "<br>")
        buttons = "".join(f"<span class='b'>{html.escape(b.title)}</span>" for b in reply.buttons)
        label = "" if mine else f"<div class='k'>{html.escape(reply.key)}</div>"
        bubbles.append(
            f"<div class='m {'me' if mine else 'bot'}'>{label}{text}"
            f"{'<div class=bs>' + buttons + '</div>' if buttons else ''}</div>"
        )
    return (
        "<html><head><meta charset='utf-8'><style>"
        "body{margin:0;font:15px/1.4 sans-serif;background:#dfe7ef}"
        ".top{background:#517da2;color:#fff;padding:12px 16px;font-weight:600}"
        ".c{padding:12px;display:flex;flex-direction:column;gap:8px}"
        ".m{max-width:82%;padding:8px 10px;border-radius:10px;background:#fff}"
        ".me{align-self:flex-end;background:#e1ffc7}"
        ".k{font-size:10px;color:#8a96a3}.bs{display:flex;flex-wrap:wrap;gap:4px;margin-top:6px}"
        ".b{border:1px solid #517da2;color:#517da2;border-radius:6px;padding:2px 6px}"
        "</style></head><body><div class='top'>Ana (Telegram)</div><div class='c'>"
        + "".join(bubbles)
        + "</div></body></html>"
    )


async def sign_in_page(context: BrowserContext, runtime: Runtime, email: str) -> Page:
    page = await context.new_page()
    await page.goto(console_url(runtime) + "/signin")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/queue")
    await page.wait_for_selector("#queue-list h2")
    return page


async def admin_menu(page: Page, item: str) -> None:
    """Open a page from the console's Admin menu, as a person does: the menu, then the item.
    The menu is a <details> element: it opens with no script."""
    if await page.get_attribute("#admin-menu", "open") is None:
        await page.click("#admin-menu summary")
    await page.click(f"#admin-menu .menu-items >> text={item}")
