"""Simulated people: they write through the real webhooks, with payloads built from the fixtures.

``say``/``tap`` post one update or signed webhook to the running bot server, wait until the inbox
and the outbox hold nothing more for that person, and return what the fake API received since.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.store.channel_models import InboxMessage, OutboxMessage
from bot.store.db import Database
from fakes import fixture
from fakes.graph import FakeGraph
from fakes.telegram import FakeTelegram

_update_ids = itertools.count(random.randint(10**8, 9 * 10**8))


async def wait_until(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll until ``check()`` is truthy (the bot works in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the bot")
        await asyncio.sleep(0.05)


def count(db: Database, model: type, **where: object) -> int:
    """Rows of a table, e.g. ``count(db, OutboxMessage, contact_id=…, status="dead")``."""
    columns = model.__table__.c  # type: ignore[attr-defined]
    with db.session() as s:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(columns[name] == value)
        return int(s.scalar(query) or 0)


def pending(runtime: Runtime, contact_id: str) -> int:
    """Inbox rows and unsent (pending) outbox rows of one person."""
    return count(runtime.db, InboxMessage, contact_id=contact_id) + count(
        runtime.db, OutboxMessage, contact_id=contact_id, status="pending"
    )


async def settle(runtime: Runtime, contact_id: str, timeout: float = 60.0) -> None:
    await wait_until(lambda: pending(runtime, contact_id) == 0, timeout)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


class TelegramPerson:
    def __init__(self, runtime: Runtime, fake: FakeTelegram, language: str = "en") -> None:
        self.runtime = runtime
        self.fake = fake
        self.language = language
        self.chat_id = random.randint(10**9, 9 * 10**9)
        self.contact_id = runtime.crypto.pseudonym("telegram", str(self.chat_id))
        self.url = f"http://127.0.0.1:{runtime.settings.port}/webhooks/telegram"
        self.secret = runtime.settings.telegram_secret
        self._message_ids = itertools.count(1)
        self.my_message_ids: list[int] = []

    def message(self, text: str) -> dict[str, Any]:
        update = fixture("telegram_update_message_text_ptb.json")
        message_id = next(self._message_ids)
        self.my_message_ids.append(message_id)
        update["update_id"] = next(_update_ids)
        message = update["message"]
        message.update(text=text, message_id=message_id, date=int(time.time()))
        message["chat"]["id"] = message["from"]["id"] = self.chat_id
        message["from"]["language_code"] = self.language
        return update

    def tap_update(self, data: str, on_message_id: int) -> dict[str, Any]:
        update = fixture("telegram_update_callback_query_consent_ptb.json")
        update["update_id"] = next(_update_ids)
        query = update["callback_query"]
        query.update(data=data, id=f"q{random.getrandbits(48)}")
        query["from"]["id"] = query["message"]["chat"]["id"] = self.chat_id
        query["from"]["language_code"] = self.language
        query["message"]["message_id"] = on_message_id
        return update

    async def post(self, update: dict[str, Any], secret: str | None = None) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.secret if secret is None else secret}
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(self.url, json=update, headers=headers)

    async def send(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        before = len(self.fake.sent(self.chat_id))
        response = await self.post(update)
        assert response.status_code == 200, response.status_code
        await settle(self.runtime, self.contact_id)
        return self.fake.sent(self.chat_id)[before:]

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.send(self.message(text))

    async def tap(self, data: str, on_message_id: int) -> list[dict[str, Any]]:
        return await self.send(self.tap_update(data, on_message_id))


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WhatsAppPerson:
    """A WhatsApp user; ``bsuid=False`` writes like before usernames (no ``user_id``),
    ``phone=False`` like a username user whose number Meta does not share."""

    def __init__(
        self, runtime: Runtime, fake: FakeGraph, *, bsuid: bool = True, phone: bool = True
    ) -> None:
        self.runtime = runtime
        self.fake = fake
        self.phone = f"52155{random.randint(10**7, 10**8 - 1)}" if phone else None
        self.user_id = f"MX.{random.randint(10**18, 10**19 - 1)}" if bsuid else None
        key = self.user_id or self.phone
        assert key is not None
        self.contact_id = runtime.crypto.pseudonym("whatsapp", key)
        self.address = self.phone or key
        self.url = f"http://127.0.0.1:{runtime.settings.port}/webhooks/whatsapp"
        self.secret = runtime.settings.whatsapp_app_secret
        self.wamids: list[str] = []

    def envelope(self, fixture_name: str, **message: Any) -> dict[str, Any]:
        """A real inbound payload from the fixtures, addressed from this person to our number."""
        data = copy.deepcopy(fixture(fixture_name))
        value = data["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = self.runtime.settings.whatsapp_phone_number_id
        contact: dict[str, Any] = {"profile": {"name": "Test Name"}}
        if self.phone:
            contact["wa_id"] = self.phone
        if self.user_id:
            contact["user_id"] = self.user_id
        value["contacts"] = [contact]
        wamid = f"wamid.TEST{random.getrandbits(64):016x}"
        self.wamids.append(wamid)
        msg = value["messages"][0]
        msg.update(id=wamid, timestamp=str(int(time.time())), **message)
        if self.phone:
            msg["from"] = self.phone
        else:
            msg.pop("from", None)
        return data

    def text(self, text: str) -> dict[str, Any]:
        return self.envelope("whatsapp_inbound_text_pywa.json", text={"body": text})

    def button(self, payload: str) -> dict[str, Any]:
        interactive = {"type": "button_reply", "button_reply": {"id": payload, "title": "x"}}
        return self.envelope(
            "whatsapp_inbound_interactive_button_reply_pywa.json", interactive=interactive
        )

    def row(self, payload: str) -> dict[str, Any]:
        interactive = {"type": "list_reply", "list_reply": {"id": payload, "title": "x"}}
        return self.envelope(
            "whatsapp_inbound_interactive_list_reply_pywa.json", interactive=interactive
        )

    async def post_bytes(self, body: bytes, signature: str | None = None) -> httpx.Response:
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, self.secret) if signature is None else signature,
        }
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(self.url, content=body, headers=headers)

    async def send(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        before = len(self.fake.sent(self.address))
        response = await self.post_bytes(json.dumps(data).encode())
        assert response.status_code == 200, response.status_code
        await settle(self.runtime, self.contact_id)
        return self.fake.sent(self.address)[before:]

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.send(self.text(text))

    async def tap(self, payload: str) -> list[dict[str, Any]]:
        return await self.send(self.button(payload))

    async def pick(self, payload: str) -> list[dict[str, Any]]:
        return await self.send(self.row(payload))


def body_text(message: dict[str, Any]) -> str:
    """The text a WhatsApp message shows, whatever its kind."""
    if message["type"] == "text":
        return str(message["text"]["body"])
    if message["type"] == "interactive":
        return str(message["interactive"]["body"]["text"])
    return ""


def options(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, title) of a WhatsApp message's reply buttons or list rows."""
    if message["type"] != "interactive":
        return []
    action = message["interactive"]["action"]
    if "buttons" in action:
        return [(b["reply"]["id"], b["reply"]["title"]) for b in action["buttons"]]
    return [(r["id"], r["title"]) for s in action["sections"] for r in s["rows"]]
