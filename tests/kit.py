"""Helpers for the console tests (HTTP and browser): survivors, staff accounts, waiting, signing in.

The survivor side is one small class, ``Survivor``: it drives ``conversations.handle`` on the
"telegram" channel and reads what was sent outside a turn from ``runtime.delivery`` (the default
delivery keeps it in memory per contact). To drive the fake Telegram API instead, replace its
``say``/``tap``/``delivered`` and nothing else changes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.console.auth import Accounts
from bot.conversation.turns import KeepIntroduction
from bot.directory.service import Directory
from bot.nlg.render import EXAMPLES
from bot.runtime import Runtime
from bot.safety.changes import safety_set
from bot.safety.context import laughter
from bot.safety.lexicon import Lexicons
from bot.store.console_models import HandoffState, StaffUser
from bot.store.models import Conversation, HandoffRequest, StaffPresence
from bot.types import Inbound, Reply, TurnResult

T = TypeVar("T")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "console"
PASSWORD = "a long test password 42"


async def wait_until(check: Callable[[], T], timeout: float = 15.0, step: float = 0.05) -> T:
    """Poll until ``check()`` is truthy (never a fixed sleep); returns its value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


class Survivor:
    """One person on Telegram, as the gateway sees them."""

    def __init__(
        self,
        runtime: Runtime,
        language: str | None = None,
        country: str | None = None,
        channel: str = "telegram",
    ) -> None:
        self.runtime = runtime
        self.channel = channel
        self.user = f"survivor-{uuid.uuid4().hex[:12]}"  # not a chat id: kept in memory
        self.n = 0
        self.seen: list[Reply] = []  # everything this person received, in order
        if language or country:
            runtime.conversations.prepare(channel, self.user, language, country)

    @property
    def contact_id(self) -> str:
        return self.runtime.crypto.pseudonym(self.channel, self.user)

    async def _send(self, text: str | None = None, payload: str | None = None) -> TurnResult:
        self.pull()
        self.seen.append(Reply(text or self._label(payload or ""), key="survivor"))
        self.n += 1
        result = await self.runtime.conversations.handle(
            Inbound(self.channel, self.user, f"{self.user}-{self.n}", text=text, payload=payload)
        )
        self.seen.extend(result.replies)
        return result

    def _label(self, payload: str) -> str:
        for reply in reversed(self.seen):
            for button in reply.buttons:
                if button.payload == payload:
                    return button.title
        return payload

    async def say(self, text: str) -> TurnResult:
        return await self._send(text=text)

    async def tap(self, payload: str) -> TurnResult:
        return await self._send(payload=payload)

    def delivered(self) -> list[Reply]:
        """Lines sent outside the person's turn (staff messages, joins, the fallback)."""
        return list(self.runtime.delivery.sent.get(self.contact_id, []))

    def pull(self) -> list[Reply]:
        """Move newly delivered lines into ``seen`` and return them."""
        fresh = self.runtime.delivery.sent.pop(self.contact_id, [])
        self.seen.extend(fresh)
        return fresh

    async def wait_for(self, key: str, timeout: float = 15.0) -> Reply:
        def found() -> Reply | None:
            self.pull()
            return next((r for r in reversed(self.seen) if r.key == key), None)

        reply = await wait_until(found, timeout)
        assert isinstance(reply, Reply)
        return reply

    def request(self) -> HandoffRequest | None:
        with self.runtime.db.session() as s:
            return s.scalars(
                select(HandoffRequest)
                .join(Conversation)
                .where(Conversation.contact_id == self.contact_id)
                .order_by(HandoffRequest.created_at.desc())
            ).first()

    def age_turn(self, minutes: int) -> None:
        """Pretend their last message was ``minutes`` ago (a simulated clock for the policy)."""
        req = self.request()
        assert req is not None
        with self.runtime.db.session() as s:
            state = s.get(HandoffState, req.id)
            assert state is not None
            state.last_inbound_at = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(
                minutes=minutes
            )

    async def ask_for_person(self, first: str = "hola") -> TurnResult:
        await self.say(first)
        await self.say("1")  # it is safe to chat
        return await self.tap("/request_human")


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    name: str
    role: str


STAFF = {
    "lucia": ("lucia@example.org", "Lucía", "staff", ["es", "en"]),
    "mateo": ("mateo@example.org", "Mateo", "staff", ["es"]),
    "ines": ("ines@example.org", "Inês", "staff", ["pt"]),
    "sol": ("sol@example.org", "Sol", "supervisor", []),
    "ada": ("ada@example.org", "Ada", "admin", []),
    "noa": ("noa@example.org", "Noa", "admin", []),  # the second admin of two-person approvals
}


def ensure_accounts(runtime: Runtime) -> dict[str, Account]:
    accounts = Accounts(runtime.db, runtime.settings, runtime.crypto)
    out = {}
    for key, (email, name, role, languages) in STAFF.items():
        with runtime.db.session() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is None:
            user, _ = accounts.create(email, role, name, PASSWORD, languages, "es")
        out[key] = Account(user.id, email, name, role)
    return out


@pytest.fixture(scope="session")
def staff(stack: Runtime) -> dict[str, Account]:
    return ensure_accounts(stack)


@pytest.fixture
def clean_presence(stack: Runtime) -> Iterator[None]:
    """Nobody on duty before and after each test: other tests count on an empty roster."""
    with stack.db.session() as s:
        s.execute(delete(StaffPresence))
    yield
    with stack.db.session() as s:
        s.execute(delete(StaffPresence))


SignIn = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def signed_in(stack: Runtime, clean_presence: None) -> AsyncIterator[SignIn]:
    """Sign people in through the form (``await signed_in(email)``); every client is closed,
    and presence cleared, after the test."""
    clients: list[httpx.AsyncClient] = []

    async def make(email: str, password: str = PASSWORD) -> httpx.AsyncClient:
        client = client_for(stack)
        clients.append(client)
        response = await sign_in(client, email, password)
        assert response.status_code == 200 and response.url.path.endswith("/queue"), response.url
        return client

    yield make
    for client in clients:
        await client.aclose()


def likely_numbers(runtime: Runtime, language: str) -> list[str]:
    """ "Country number" for each likely country of a language, in the order a crisis reply for
    someone whose country is unknown names them (never one number for everyone)."""
    with runtime.db.session() as s:
        directory = Directory(s)
        out = []
        for code in directory.likely_countries(language, None, limit=EXAMPLES):
            number = directory.emergency(code)
            if number is not None:
                out.append(f"{runtime.renderer.country_name(code, language)} {number.number}")
    return out


def console_url(runtime: Runtime) -> str:
    return f"http://127.0.0.1:{runtime.settings.port}/console"


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF token on the page"
    return html.unescape(found.group(1))


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    """Sign in through the form, as a browser would; returns the response after redirects."""
    form = await client.get("/signin")
    return await client.post(
        "/signin",
        data={"email": email, "password": password, "csrf": csrf_of(form.text)},
        follow_redirects=True,
    )


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=console_url(runtime), timeout=20, follow_redirects=True)


def plain_everyday(lexicons: Lexicons, language: str) -> str:
    """An everyday message of the safety test set with no context marker (no "lol", no "years
    ago"): a crisis phrase made of it is a crisis, not set aside as a joke or a past."""
    table = lexicons.by_language[language]
    return next(
        text
        for text in safety_set(language).everyday
        if not laughter(text) and not table.markers(text)
    )


async def settled(
    runtime: Runtime, client: httpx.AsyncClient, page: httpx.Response
) -> httpx.Response:
    """An import job's page once its work has finished (the job is awaited, not polled by
    time); any other page as it is."""
    if "/directory/import/" not in page.url.path:
        return page
    await runtime.imports.wait()
    return await client.get(str(page.url))


async def import_file(
    runtime: Runtime, client: httpx.AsyncClient, name: str, body: bytes
) -> httpx.Response:
    """Upload an HSDS file on the import page, as a browser would; the job's page once its check
    has finished (or the upload page, when the file was not taken)."""
    page = await client.get("/directory/import")
    posted = await client.post(
        "/directory/import",
        data={"csrf": csrf_of(page.text), "action": "check"},
        files={"file": (name, body, "application/octet-stream")},
    )
    return await settled(runtime, client, posted)


async def apply_import(
    runtime: Runtime, client: httpx.AsyncClient, checked: httpx.Response
) -> httpx.Response:
    """Press "Apply this import" on a checked job's page; its page once the apply has finished."""
    path = checked.url.path.removeprefix("/console")
    posted = await client.post(f"{path}/apply", data={"csrf": csrf_of(checked.text)})
    return await settled(runtime, client, posted)


Handle = Callable[..., Awaitable[TurnResult]]


class Turns:
    """Records the reply keys of every turn the inbox runs (wrapping ``handle`` in place), and
    of every introduction sent on its own while Rasa was away (wrapping ``introduce``)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.keys: dict[str, list[list[str]]] = {}  # per turn
        self.introductions: dict[str, list[list[str]]] = {}
        self.said: dict[str, list[str]] = {}  # everything, in the order it was decided
        self.original: Handle = runtime.conversations.handle
        self.original_introduce: Callable[..., Awaitable[bool]] = runtime.conversations.introduce

    async def handle(
        self,
        msg: Inbound,
        wait_for_rasa: bool = False,
        introduced: str | None = None,
        may_defer: bool = False,
        urgent: bool = False,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> TurnResult:
        result = await self.original(
            msg,
            wait_for_rasa=wait_for_rasa,
            introduced=introduced,
            may_defer=may_defer,
            urgent=urgent,
            still_wanted=still_wanted,
        )
        keys = [r.key or "" for r in result.replies]
        self.keys.setdefault(msg.user_id, []).append(keys)
        self.said.setdefault(msg.user_id, []).extend(keys)
        return result

    async def introduce(self, msg: Inbound, keep: KeepIntroduction) -> bool:
        def recording(s: Session, conversation_id: str, result: TurnResult) -> None:
            keep(s, conversation_id, result)
            keys = [r.key or "" for r in result.replies]
            self.introductions.setdefault(msg.user_id, []).append(keys)
            self.said.setdefault(msg.user_id, []).extend(keys)

        done: bool = await self.original_introduce(msg, recording)
        return done

    def __enter__(self) -> Turns:
        self.runtime.conversations.handle = self.handle  # type: ignore[method-assign]
        self.runtime.conversations.introduce = self.introduce  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.runtime.conversations.handle  # the class's method again
        del self.runtime.conversations.introduce


def outside_crisis(item: dict[str, Any], category: str = "legal") -> dict[str, Any]:
    """An HSDS service item moved from the hotline category to ``category``: an entry no crisis
    reply shows, so an import applies it at once (a hotline waits for a second admin)."""
    from bot.directory.hsds import exporting
    from bot.needs import CRISIS_CATEGORIES

    kept = [
        a
        for a in item.get("attributes", [])
        if not any(a.get("id") == f"category:{c}" for c in CRISIS_CATEGORIES)
    ]
    if not any(a.get("id") == f"category:{category}" for a in kept):
        kept.append(exporting._attr(f"category:{category}", "true"))
    item["attributes"] = kept
    return item
