"""The web chat over real HTTP on 127.0.0.1: the page, a chat's token, its stream of replies, the
inbox and outbox behind them, the quick exit and the tab closing, and what a stranger may not do.

A ``WebPage`` does what bot/channels/webchat/static/chat.js does (the browser tests run the real
script in Chromium); here every answer can be checked exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import httpx
import pytest
from fakes.people import count, settle, wait_until
from sqlalchemy import select

from bot.channels.webchat.sessions import user_id_of
from bot.runtime import Runtime
from bot.store.channel_models import InboxMessage, OutboxMessage
from bot.store.models import Contact, Conversation
from bot.types import Reply

SAME = {"sec-fetch-site": "same-origin"}


def base_url(runtime: Runtime) -> str:
    return f"http://127.0.0.1:{runtime.settings.port}"


class WebPage:
    """One open chat page: its token in memory, its stream read in the background."""

    def __init__(self, runtime: Runtime, client: httpx.AsyncClient) -> None:
        self.runtime = runtime
        self.client = client
        self.token = ""
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.closed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @property
    def contact_id(self) -> str:
        return self.runtime.crypto.pseudonym("webchat", user_id_of(self.token))

    async def open(self, language: str = "en", listen: bool = True) -> WebPage:
        response = await self.client.post(
            "/chat/session", json={"language": language}, headers=SAME
        )
        assert response.status_code == 200, response.text
        self.token = response.json()["token"]
        if listen:
            await self.listen()
        return self

    async def listen(self) -> None:
        self.closed.clear()
        started = asyncio.Event()
        self._reader = asyncio.create_task(self._read(started))
        await asyncio.wait_for(started.wait(), 10)

    async def _read(self, started: asyncio.Event) -> None:
        # A connection of its own, closed when the page stops (as a closed tab closes it).
        try:
            async with (
                httpx.AsyncClient(base_url=self.client.base_url, timeout=None) as own,
                own.stream("GET", "/chat/stream", headers={"x-chat-token": self.token}) as response,
            ):
                assert response.status_code == 200
                started.set()
                kind = ""
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        self.events.append((kind, json.loads(line[6:])))
        finally:
            started.set()
            self.closed.set()

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await self._reader

    def headers(self) -> dict[str, str]:
        return {**SAME, "x-chat-token": self.token}

    async def send(self, text: str | None = None, payload: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"id": uuid.uuid4().hex}
        if text is not None:
            body["text"] = text
        if payload is not None:
            body["payload"] = payload
        return await self.client.post("/chat/send", json=body, headers=self.headers())

    def messages(self) -> list[dict[str, Any]]:
        return [data for kind, data in self.events if kind == "message"]

    async def say(
        self, text: str | None = None, payload: str | None = None
    ) -> list[dict[str, Any]]:
        """Send, wait until the turn's replies arrived, and return them."""
        before = len(self.messages())
        response = await self.send(text, payload)
        assert response.status_code == 202, response.text
        await settle(self.runtime, self.contact_id)
        return await wait_until(lambda: self.messages()[before:], 15)  # type: ignore[no-any-return]


@pytest.fixture
async def client(stack: Runtime) -> Any:
    async with httpx.AsyncClient(base_url=base_url(stack), timeout=20) as c:
        yield c


@pytest.fixture
async def pages(stack: Runtime, client: httpx.AsyncClient) -> Any:
    opened: list[WebPage] = []

    async def make(language: str = "en", listen: bool = True) -> WebPage:
        page = await WebPage(stack, client).open(language, listen)
        opened.append(page)
        return page

    yield make
    for page in opened:
        await page.stop()


def conversations(runtime: Runtime, contact_id: str) -> int:
    with runtime.db.session() as s:
        return len(
            list(s.scalars(select(Conversation.id).where(Conversation.contact_id == contact_id)))
        )


async def test_the_page_is_neutral_private_and_in_the_right_language(
    stack: Runtime, client: httpx.AsyncClient
) -> None:
    page = await client.get("/chat?lang=fr")
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text
    assert "<title>Discussion</title>" in page.text
    assert ">Sortie rapide</button>" in page.text
    assert 'data-exit-url="https://neutral.invalid/weather"' in page.text
    headers = page.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self';" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in headers
    browser = await client.get("/chat", headers={"accept-language": "pt-BR,pt;q=0.9"})
    assert '<html lang="pt">' in browser.text and ">Saída rápida</button>" in browser.text
    unknown = await client.get("/chat?lang=xx", headers={"accept-language": "de"})
    assert '<html lang="en">' in unknown.text and ">Quick exit</button>" in unknown.text
    script = await client.get("/chat/static/chat.js")
    assert script.status_code == 200
    assert script.headers["cache-control"] == "no-store"
    assert "localStorage" not in script.text and "sessionStorage" not in script.text
    assert "document.cookie" not in script.text


async def test_a_chat_goes_through_the_inbox_turn_and_outbox(stack: Runtime, pages: Any) -> None:
    page: WebPage = await pages("es")
    first = await page.say("hola")
    assert "SALIR" in first[0]["text"]  # the exit word, as on every channel
    asked = first[-1]
    assert [b["data"] for b in asked["buttons"]] == ["/affirm", "/deny"]
    assert [b["title"][:3] for b in asked["buttons"]] == ["1. ", "2. "]
    menu = await page.say(payload="/affirm")
    assert [b["title"].split(".")[0] for b in menu[-1]["buttons"]] == ["1", "2", "3", "4", "5", "6"]
    with stack.db.session() as s:
        contact = s.get(Contact, page.contact_id)
        assert contact is not None and contact.channel == "webchat"
        assert stack.crypto.decrypt(contact.address_enc) == user_id_of(page.token)
    assert count(stack.db, InboxMessage, contact_id=page.contact_id) == 0
    assert count(stack.db, OutboxMessage, contact_id=page.contact_id) == 0

    # Staff (or any notice) reach the page through the same durable outbox.
    await stack.delivery.send(page.contact_id, [Reply("Hola, soy Lucía.", key="staff_message")])
    said = await wait_until(lambda: [m for m in page.messages() if m["text"] == "Hola, soy Lucía."])
    assert said == [{"kind": "message", "text": "Hola, soy Lucía.", "buttons": []}]


async def test_a_resent_message_is_handled_once(stack: Runtime, pages: Any) -> None:
    page: WebPage = await pages("en")
    body = {"id": "0123456789abcdef0123", "text": "hello"}
    first = await page.client.post("/chat/send", json=body, headers=page.headers())
    again = await page.client.post("/chat/send", json=body, headers=page.headers())
    assert (first.status_code, first.json()) == (202, {"ok": True, "duplicate": False})
    assert (again.status_code, again.json()) == (202, {"ok": True, "duplicate": True})
    await settle(stack, page.contact_id)
    await wait_until(lambda: page.messages())
    assert len([m for m in page.messages() if "EXIT" in m["text"]]) == 1


async def test_replies_wait_for_a_page_that_is_away(stack: Runtime, pages: Any) -> None:
    page: WebPage = await pages("en", listen=False)  # the page is not listening (yet)
    assert (await page.send("hello")).status_code == 202
    await wait_until(
        lambda: count(stack.db, OutboxMessage, contact_id=page.contact_id, status="held") == 1
    )
    await page.listen()  # the page connects: what waited goes out, in order
    await wait_until(lambda: len(page.messages()) == 3)
    assert "EXIT" in page.messages()[0]["text"]
    await wait_until(lambda: count(stack.db, OutboxMessage, contact_id=page.contact_id) == 0)


@pytest.mark.xfail(
    strict=False,  # a race: since the outbox's database work left the event loop, usually won
    reason="known gap: in the running stack the server may not notice a stream's closed "
    "connection before the next reply is written to it, so that one reply counts as delivered "
    "(a bare uvicorn + Starlette app notices within 1 ms); docs/webchat.md",
)
async def test_a_page_that_left_does_not_count_as_delivered(stack: Runtime, pages: Any) -> None:
    page: WebPage = await pages("en", listen=False)
    assert (await page.send("hello")).status_code == 202
    await wait_until(
        lambda: count(stack.db, OutboxMessage, contact_id=page.contact_id, status="held") == 1
    )
    # A page listens on a connection that is then really closed, as a closed tab closes it.
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.settings.port)
    request = f"GET /chat/stream HTTP/1.1\r\nHost: x\r\nX-Chat-Token: {page.token}\r\n\r\n"
    writer.write(request.encode())
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    seen = b""
    while seen.count(b"event: message") < 3:  # the held replies; a browser reads all it gets
        seen += await reader.read(65536)
    await wait_until(lambda: count(stack.db, OutboxMessage, contact_id=page.contact_id) == 0)
    writer.close()
    await writer.wait_closed()
    await stack.delivery.send(page.contact_id, [Reply("Still there.", key="staff_message")])
    await wait_until(
        lambda: count(stack.db, OutboxMessage, contact_id=page.contact_id, status="held") == 1
    )
    await page.listen()
    await wait_until(lambda: [m for m in page.messages() if m["text"] == "Still there."])
    await wait_until(lambda: count(stack.db, OutboxMessage, contact_id=page.contact_id) == 0)


async def test_quick_exit_erases_and_ends_the_chat(stack: Runtime, pages: Any) -> None:
    page: WebPage = await pages("es")
    await page.say("hola")
    assert conversations(stack, page.contact_id) == 1
    gone = await page.client.post("/chat/exit", json={}, headers=page.headers())
    assert gone.status_code == 204
    await wait_until(lambda: conversations(stack, page.contact_id) == 0)
    await wait_until(lambda: page.closed.is_set())
    assert (await page.send("hola")).status_code == 410
    stream = await page.client.get("/chat/stream", headers={"x-chat-token": page.token})
    assert stream.status_code == 410
    # Anything sent to them later is not delivered to anyone; staff see it as a dead letter.
    await stack.delivery.send(page.contact_id, [Reply("Late.", key="staff_message")])
    await wait_until(
        lambda: count(stack.db, OutboxMessage, contact_id=page.contact_id, status="dead") == 1
    )
    with stack.db.session() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.contact_id == page.contact_id))
        assert row is not None and row.last_error == "no_session"
        s.delete(row)


async def test_the_exit_word_clears_the_page(stack: Runtime, pages: Any) -> None:
    page: WebPage = await pages("pt")
    await page.say("oi")
    response = await page.send("SAIR")
    assert response.status_code == 202
    await wait_until(lambda: page.closed.is_set())
    assert page.events[-1] == ("erase", {"kind": "erase"})
    assert conversations(stack, page.contact_id) == 0
    assert (await page.send("oi")).status_code == 410


async def test_closing_the_tab_ends_the_chat(stack: Runtime, pages: Any) -> None:
    page: WebPage = await pages("fr")
    await page.say("bonjour")
    beacon = await page.client.post(
        "/chat/end",
        content=json.dumps({"token": page.token}),
        headers={**SAME, "content-type": "text/plain;charset=UTF-8"},
    )
    assert beacon.status_code == 204
    await wait_until(lambda: conversations(stack, page.contact_id) == 0)
    assert (await page.send("bonjour")).status_code == 410


async def test_a_chat_that_never_wrote_leaves_nothing(stack: Runtime, pages: Any) -> None:
    page: WebPage = await pages("en")
    assert (await page.client.post("/chat/exit", headers=page.headers())).status_code == 204
    with stack.db.session() as s:
        assert s.get(Contact, page.contact_id) is None
    assert count(stack.db, InboxMessage, contact_id=page.contact_id) == 0


async def test_strangers_and_bad_input_are_refused(
    stack: Runtime, client: httpx.AsyncClient, pages: Any
) -> None:
    cross = {"sec-fetch-site": "cross-site"}
    assert (await client.post("/chat/session", json={}, headers=cross)).status_code == 403
    page: WebPage = await pages("en", listen=False)
    body = {"id": uuid.uuid4().hex, "text": "hello"}
    stolen = await client.post(
        "/chat/send", json=body, headers={**cross, "x-chat-token": page.token}
    )
    assert stolen.status_code == 403
    foreign = {"origin": "https://evil.example", "x-chat-token": page.token}
    assert (await client.post("/chat/send", json=body, headers=foreign)).status_code == 403
    guessed = {**SAME, "x-chat-token": "x" * 43}
    assert (await client.post("/chat/send", json=body, headers=guessed)).status_code == 410
    for bad in (
        {"text": "hello"},  # no id
        {"id": "not hex!", "text": "hello"},
        {"id": uuid.uuid4().hex, "text": "   "},
        {"id": uuid.uuid4().hex, "text": 7},
        {"id": uuid.uuid4().hex, "payload": "no slash"},
        {"id": uuid.uuid4().hex, "payload": "/" + "a" * 300},
    ):
        answer = await client.post("/chat/send", json=bad, headers=page.headers())
        assert (answer.status_code, answer.json()) == (400, {"error": "invalid"}), bad
    huge = await client.post(
        "/chat/send", content=b"{" + b" " * 20_000 + b"}", headers=page.headers()
    )
    assert huge.status_code == 413
    assert count(stack.db, InboxMessage, contact_id=page.contact_id) == 0


async def test_each_client_is_rate_limited(stack: Runtime, client: httpx.AsyncClient) -> None:
    # A client address of its own (uvicorn trusts X-Forwarded-For from loopback), so the
    # buckets other tests use are untouched.
    address = {"x-forwarded-for": "10.20.30.40", **SAME}
    settings = stack.settings
    saved = settings.webchat_per_minute, settings.webchat_sessions_per_minute
    settings.webchat_per_minute, settings.webchat_sessions_per_minute = 2, 2
    try:
        opened = [await client.post("/chat/session", json={}, headers=address) for _ in range(3)]
        assert [r.status_code for r in opened] == [200, 200, 429]
        assert int(opened[2].headers["retry-after"]) >= 1
        token = opened[0].json()["token"]
        headers = {**address, "x-chat-token": token}
        sent = [
            await client.post(
                "/chat/send", json={"id": uuid.uuid4().hex, "text": "hello"}, headers=headers
            )
            for _ in range(3)
        ]
        assert [r.status_code for r in sent] == [202, 202, 429]
        assert sent[2].json() == {"error": "too_fast"}
    finally:
        settings.webchat_per_minute, settings.webchat_sessions_per_minute = saved
        for response in opened[:2]:
            await client.post(
                "/chat/exit", headers={**address, "x-chat-token": response.json()["token"]}
            )
