"""WhatsApp Cloud API: a thin httpx client of our own and the webhook (docs: research/channels.md).

- ``GET /webhooks/whatsapp`` answers Meta's ``hub.*`` handshake; ``POST`` checks
  ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app secret) in constant time
  before reading anything (401 on mismatch), answers 400 to a body that is not JSON and 200 to
  everything else, readable or not, so Meta does not redeliver it for a week. Never a 5xx for a
  payload; only when storage itself fails, so Meta retries and nothing is lost.
- The person is keyed on the business-scoped ``user_id`` and falls back to ``wa_id`` / ``from``
  (both optional since usernames); replies go to the phone number when there is one, else to the
  user id (``recipient``). Statuses are not stored (failed ones are logged by error code).
- Replies are merged into as few messages as the buttons allow (Meta's per-user pair rate limit is
  about one message every 6 seconds): texts join the next question; a question shows reply
  buttons (at most 3, titles at most 20 characters), else a list (at most 10 rows), else its
  options as a typed "1 … · 2 …" line.
- Meta allows free-form messages only within 24 hours of the person's last message. Outside that
  window a message is held: an approved template is sent instead, only to a contact who opted in,
  and the held messages go out once the person writes; without opt-in the message is dead-lettered.
  Error 131047 (window closed) takes the same path, never a blind retry.
- WhatsApp cannot delete messages on the phone: the exit reply says so (conversation).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import re
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.base import (
    Intake,
    Outcome,
    SendResult,
    loads_object,
    numbered_index,
    read_body,
    split_text,
)
from bot.channels.inbox import Inbox
from bot.channels.outbox import Outbox
from bot.channels.parts import ChannelParts
from bot.handoff.late import erase_expired
from bot.http_limits import client_int
from bot.languages import LANGUAGES
from bot.settings import Settings
from bot.store.channel_models import ChannelWindow
from bot.store.models import Contact, utcnow
from bot.types import Inbound, Reply, ReplyButton

log = logging.getLogger("bot.channels.whatsapp")

MAX_BODY = 3_500_000  # Meta: webhook payloads up to 3 MB
MAX_AGE = dt.timedelta(days=7)  # Meta stops retrying a delivery after seven days
MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_BUTTONS, MAX_BUTTON_TITLE = 3, 20
MAX_ROWS, MAX_ROW_TITLE, MAX_ROW_DESCRIPTION = 10, 24, 72
MAX_ID = 200  # list row ids are limited to 200 characters (reply button ids to 256)
WINDOW = dt.timedelta(hours=24) - dt.timedelta(minutes=10)  # a margin for clock skew
CHALLENGE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
PHONE = re.compile(r"\d{6,20}")
USER_ID = re.compile(r"[A-Z]{2}(\.[A-Za-z0-9]{1,128}){1,2}")
RATE_LIMITED = {130429, 131056, 80007, 131048, 4, 613}
PAIR_RATE_WAIT = 6.0  # seconds: Meta's per-user pace
WINDOW_CLOSED = 131047
MEDIA = {
    "image", "audio", "video", "document", "sticker", "location", "contacts", "order",
    "unsupported", "unknown",
}  # fmt: skip
TEMPLATE_LANGUAGES = {lang.code: lang.whatsapp for lang in LANGUAGES}
# Calling codes of the region → a country hint for the crisis numbers (the phone itself never
# leaves this adapter). +1 is shared by the US, Canada and most of the Caribbean: no hint.
CALLING_CODES = {
    "1809": "DO", "1829": "DO", "1849": "DO", "1876": "JM", "1658": "JM", "1868": "TT",
    "52": "MX", "53": "CU", "54": "AR", "55": "BR", "56": "CL", "57": "CO", "58": "VE",
    "51": "PE", "501": "BZ", "502": "GT", "503": "SV", "504": "HN", "505": "NI", "506": "CR",
    "507": "PA", "509": "HT", "591": "BO", "592": "GY", "593": "EC", "595": "PY", "597": "SR",
    "598": "UY",
}  # fmt: skip


def country_of(phone: str | None) -> str | None:
    if not phone:
        return None
    for length in (4, 3, 2):
        found = CALLING_CODES.get(phone[:length])
        if found:
            return found
    return None


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.encode("latin-1"), expected.encode())


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object, limit: int = 256) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def parse(data: dict[str, Any], phone_number_id: str) -> tuple[list[Intake], list[int]]:
    """The messages in a webhook (any number of entries, changes and messages), and the error
    codes of failed statuses. Anything unexpected is skipped, never raised."""
    intakes: list[Intake] = []
    failed: list[int] = []
    if data.get("object") != "whatsapp_business_account":
        return intakes, failed
    for entry in _list(data.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            change = _dict(change)
            value = _dict(change.get("value"))
            if change.get("field", "messages") != "messages":
                continue
            if _dict(value.get("metadata")).get("phone_number_id") != phone_number_id:
                continue  # another number of the same app (or no number at all)
            contacts = [_dict(c) for c in _list(value.get("contacts"))]
            for message in _list(value.get("messages")):
                intake = _message(_dict(message), contacts)
                if intake is not None:
                    intakes.append(intake)
            for status in _list(value.get("statuses")):
                if _dict(status).get("status") == "failed":
                    for error in _list(_dict(status).get("errors")):
                        code = _dict(error).get("code")
                        failed.append(code if isinstance(code, int) else 0)
    return intakes, failed


def _message(message: dict[str, Any], contacts: list[dict[str, Any]]) -> Intake | None:
    message_id = _str(message.get("id"))
    kind = _str(message.get("type"), 32)
    phone = _str(message.get("from"), 32)
    if message_id is None or kind is None:
        return None
    contact = next((c for c in contacts if phone and c.get("wa_id") == phone), None)
    if contact is None and len(contacts) == 1:
        contact = contacts[0]
    contact = contact or {}
    user_id = _str(contact.get("user_id"), 160) or _str(message.get("from_user_id"), 160)
    phone = phone or _str(contact.get("wa_id"), 32)
    if phone is not None and not PHONE.fullmatch(phone):
        phone = None
    if user_id is not None and not USER_ID.fullmatch(user_id):
        user_id = None
    key = user_id or phone
    if key is None:
        return None
    text = payload = None
    unsupported = False
    if kind == "text":
        text = _str(_dict(message.get("text")).get("body"), 65536)
        if text is None:
            return None
        text = text[:MAX_TEXT]
    elif kind == "interactive":
        interactive = _dict(message.get("interactive"))
        reply = _dict(interactive.get(str(interactive.get("type"))))
        payload = _str(reply.get("id"))
    elif kind == "button":  # a template's quick-reply button
        payload = _str(_dict(message.get("button")).get("payload"))
    elif kind in MEDIA:  # answered politely ("I can only read text"), never kept
        unsupported = True
    else:  # reactions, system notices, revoked messages, kinds we do not know: nothing to answer
        return None
    if kind in ("interactive", "button"):
        if payload is None:
            return None
        if client_int(payload) is not None:  # an option too long for a button id: its number
            text, payload = payload, None
    sent_at = None
    seconds = client_int(message.get("timestamp"), most=2**40)
    if seconds is not None:
        sent_at = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
    inbound = Inbound(
        channel="whatsapp",
        user_id=key,
        message_id=message_id,
        text=text,
        payload=payload,
        country_hint=country_of(phone),
        unsupported=unsupported,
    )
    return Intake(inbound, phone or key, sent_at=sent_at)


def too_old(intake: Intake, now: dt.datetime | None = None) -> bool:
    """Signed, but sent more than ``MAX_AGE`` ago: Meta retries for at most a week, so this is a
    replay of a captured delivery (or a clock far off), not a message someone is waiting on."""
    if intake.sent_at is None:
        return False
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now - intake.sent_at > MAX_AGE


class WhatsAppChannel:
    name = "whatsapp"

    def __init__(self, runtime: ChannelParts, inbox: Inbox, outbox: Outbox) -> None:
        self.runtime = runtime
        self.settings: Settings = runtime.settings
        self.inbox = inbox
        self.outbox = outbox
        base = self.settings.whatsapp_api_url.rstrip("/")
        self.client = httpx.AsyncClient(
            base_url=f"{base}/{self.settings.whatsapp_phone_number_id}",
            headers={"Authorization": f"Bearer {self.settings.whatsapp_access_token}"},
            timeout=httpx.Timeout(15.0, connect=5.0),
        )
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ---

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/webhooks/whatsapp", self.verify, methods=["GET"]),
            Route("/webhooks/whatsapp", self.webhook, methods=["POST"]),
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    def purge(self) -> None:
        """Windows go with their contact; a permission to reopen the chat is erased at its
        expiry, not merely ignored (bot/handoff/late.py)."""
        with self.runtime.db.session() as s:
            erased = erase_expired(s)
        if erased:
            log.info("whatsapp late-reply permissions expired", extra={"rows": erased})

    # --- receiving ---

    async def verify(self, request: Request) -> Response:
        query = request.query_params
        expected = self.settings.whatsapp_verify_token.encode()
        token = query.get("hub.verify_token", "").encode()
        challenge = query.get("hub.challenge", "")
        if (
            expected
            and query.get("hub.mode") == "subscribe"
            and hmac.compare_digest(token, expected)
            and CHALLENGE.fullmatch(challenge)
        ):
            log.info("whatsapp webhook verified")
            return PlainTextResponse(challenge)
        log.warning("whatsapp verification refused")
        return Response(status_code=403)

    async def webhook(self, request: Request) -> Response:
        body = await read_body(request, MAX_BODY)
        if body is None:
            log.warning("whatsapp webhook refused", extra={"error": "too_large"})
            return Response(status_code=413)
        header = request.headers.get("x-hub-signature-256", "")
        if not signature_ok(self.settings.whatsapp_app_secret, body, header):
            log.warning("whatsapp webhook refused", extra={"error": "signature"})
            return Response(status_code=401)
        try:
            data = loads_object(body)
        except ValueError:
            log.warning("whatsapp webhook refused", extra={"error": "not_json"})
            return Response(status_code=400)
        intakes, failed = parse(data or {}, self.settings.whatsapp_phone_number_id)
        if any(too_old(intake) for intake in intakes):
            log.warning("whatsapp message refused", extra={"error": "too_old"})
            intakes = [intake for intake in intakes if not too_old(intake)]
        for code in failed:
            log.warning("whatsapp message failed", extra={"error": code})
        if not intakes:
            log.info("whatsapp webhook without messages")
        try:
            for intake in intakes:
                if await self.inbox.receive(intake):
                    assert intake.inbound.message_id
                    self._spawn(self._mark_read(intake.inbound.message_id))
                else:
                    log.info("whatsapp duplicate dropped")
        except SQLAlchemyError as exc:
            log.warning("whatsapp message not stored", extra={"error": type(exc).__name__})
            return Response(status_code=503)  # Meta retries: nothing is lost
        return Response(status_code=200)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _mark_read(self, message_id: str) -> None:
        """Blue ticks and "typing…" while the turn runs: the person knows we got it."""
        body = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
            "typing_indicator": {"type": "text"},
        }
        try:
            response = await self.client.post("/messages", json=body)
        except httpx.HTTPError as exc:
            log.info("whatsapp mark read failed", extra={"error": type(exc).__name__})
            return
        if response.status_code != 200:
            log.info("whatsapp mark read failed", extra={"error": response.status_code})

    def after_turn(
        self, s: Session, contact_id: str, address: str, inbound_at: dt.datetime
    ) -> None:
        """The person wrote: the 24-hour window runs from their message; the reply address is
        the phone number when known (it may appear later than the user id)."""
        window = s.get(ChannelWindow, contact_id)
        if window is None:
            window = ChannelWindow(contact_id=contact_id)
            s.add(window)
        if window.last_inbound_at is None or window.last_inbound_at < inbound_at:
            window.last_inbound_at = inbound_at
        contact = s.get(Contact, contact_id)
        crypto = self.runtime.crypto
        if contact is not None and crypto.decrypt(contact.address_enc) != address:
            contact.address_enc = crypto.encrypt(address)

    # --- sending ---

    def address_ok(self, address: str) -> bool:
        return bool(PHONE.fullmatch(address) or USER_ID.fullmatch(address))

    def plan(
        self, replies: list[Reply], *, address: str, language: str, erase: bool
    ) -> list[dict[str, Any]]:
        numbered = numbered_index(replies)
        messages: list[dict[str, Any]] = []
        texts: list[str] = []
        for i, reply in enumerate(replies):
            texts.append(reply.text)
            if reply.buttons:
                body = "\n\n".join(t for t in texts if t)
                messages.extend(_question(body, reply.buttons, numbered == i))
                texts = []
        rest = "\n\n".join(t for t in texts if t)
        messages.extend(_text(part) for part in split_text(rest, MAX_TEXT))
        return [
            {"kind": "message", "to": address, "message": m, "language": language} for m in messages
        ]

    async def send(self, contact_id: str, payload: dict[str, Any]) -> SendResult:
        address = str(payload["to"])
        opted_in = False
        # A DELETE confirmation, and the crisis lifeline (bot/channels/lifeline.py, sent while the
        # database may be away), answer a person who wrote just now: the window is open.
        if not (payload.get("after_erase") or payload.get("just_wrote")):
            now = utcnow()
            with self.runtime.db.session() as s:
                window = s.get(ChannelWindow, contact_id)
                open_ = bool(
                    window and window.last_inbound_at and now - window.last_inbound_at < WINDOW
                )
                opted_in = bool(window and window.opted_in_until and window.opted_in_until > now)
            if not open_:
                return await self._closed(address, opted_in, str(payload.get("language")))
        result = await self._post({**_recipient(address), **payload["message"]})
        if result.error == str(WINDOW_CLOSED):
            return await self._closed(address, opted_in, str(payload.get("language")))
        return result

    async def _closed(self, address: str, opted_in: bool, language: str) -> SendResult:
        """Outside the 24-hour window: only an approved template, only to who opted in."""
        template = self.settings.whatsapp_template
        if not (opted_in and template):
            return SendResult(Outcome.DEAD, "window_closed")
        body = {
            **_recipient(address),
            "type": "template",
            "template": {
                "name": template,
                "language": {"code": TEMPLATE_LANGUAGES.get(language, "en")},
            },
        }
        result = await self._post(body)
        if result.outcome is Outcome.SENT:
            return SendResult(Outcome.HOLD, "window_closed")
        return result

    async def _post(self, body: dict[str, Any]) -> SendResult:
        try:
            response = await self.client.post("/messages", json=body)
        except httpx.HTTPError as exc:
            return SendResult(Outcome.RETRY, type(exc).__name__)
        if response.status_code == 200:
            return SendResult(Outcome.SENT)
        try:
            error = _dict(_dict(response.json()).get("error"))
        except ValueError:
            error = {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        label = str(code or response.status_code)
        if code == WINDOW_CLOSED:
            return SendResult(Outcome.DEAD, label)
        if response.status_code == 429 or code in RATE_LIMITED:
            wait = PAIR_RATE_WAIT if code == 131056 else None
            return SendResult(Outcome.RETRY, label, retry_after=wait)
        if response.status_code >= 500 or error.get("is_transient") is True:
            return SendResult(Outcome.RETRY, label)
        if response.status_code == 401 or code == 190:
            return SendResult(Outcome.RETRY, label)  # the access token: staff can renew it
        return SendResult(Outcome.DEAD, label)


def _recipient(address: str) -> dict[str, str]:
    """A phone number goes in ``to``; a business-scoped user id in ``recipient``."""
    key = "to" if address.isdigit() else "recipient"
    return {"messaging_product": "whatsapp", "recipient_type": "individual", key: address}


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _question(body: str, buttons: list[ReplyButton], numbered: bool) -> list[dict[str, Any]]:
    """One question: reply buttons, else a list, else the options as a typed line. A body too
    long for an interactive message sends its beginning as text first."""
    titles = [f"{n}. {b.title}" if numbered else b.title for n, b in enumerate(buttons, 1)]
    ids = [b.payload for b in buttons]
    usable = all(0 < len(i) <= MAX_ID for i in ids) and len(set(ids)) == len(ids)
    if not usable or len(buttons) > MAX_ROWS:
        if not numbered:
            return [_text(part) for part in split_text(body, MAX_TEXT)]
        line = " · ".join(f"{n} {b.title}" for n, b in enumerate(buttons, 1))
        return [_text(part) for part in split_text(f"{body}\n\n{line}", MAX_TEXT)]
    head, tail = _cut(body, MAX_INTERACTIVE_BODY)
    messages = [_text(part) for part in split_text(head, MAX_TEXT)]
    tail = tail or "…"  # an interactive message needs a body
    if len(buttons) <= MAX_BUTTONS and all(len(t) <= MAX_BUTTON_TITLE for t in titles):
        action: dict[str, Any] = {
            "buttons": [
                {"type": "reply", "reply": {"id": i, "title": t}}
                for i, t in zip(ids, titles, strict=True)
            ]
        }
        kind = "button"
    else:
        rows = []
        for i, t in zip(ids, titles, strict=True):
            row = {"id": i, "title": t if len(t) <= MAX_ROW_TITLE else t[: MAX_ROW_TITLE - 1] + "…"}
            if len(t) > MAX_ROW_TITLE:
                row["description"] = t[:MAX_ROW_DESCRIPTION]
            rows.append(row)
        label = f"☰ 1–{len(buttons)}" if numbered else "☰"
        action = {"button": label, "sections": [{"rows": rows}]}
        kind = "list"
    messages.append(
        {
            "type": "interactive",
            "interactive": {"type": kind, "body": {"text": tail}, "action": action},
        }
    )
    return messages


def _cut(body: str, limit: int) -> tuple[str, str]:
    """Split ``body`` so the tail fits ``limit``: at a paragraph, a line or a space."""
    if len(body) <= limit:
        return "", body
    start = len(body) - limit
    for sep in ("\n\n", "\n", " "):
        at = body.find(sep, start)
        if at != -1:
            return body[:at].rstrip(), body[at:].strip()
    return body[:start], body[start:]
