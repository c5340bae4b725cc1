"""The web chat as the rest of the bot sees it (``Channel`` in ``bot/channels/base.py``).

Routes, all under /chat:

- ``GET /chat``: the page (chrome in the person's language, no content, nothing identifying);
- ``POST /chat/session``: a new chat; the token goes back in the JSON body and lives only in the
  page's memory;
- ``GET /chat/stream``: the chat's replies as Server-Sent Events, read with ``fetch`` so the token
  travels in a header, never in a URL that a proxy or a history could keep;
- ``POST /chat/send``: one message or one tapped button, stored in the durable inbox exactly like
  a Telegram update (the turn and the outbox do the rest);
- ``POST /chat/exit``: the quick exit: the exit word goes through the inbox, as if typed;
- ``POST /chat/end``: the tab is closing (a beacon): the same, when ``BOT_WEBCHAT_END_ON_CLOSE``.

Every POST must come from the page itself: the token is in a header no other site can read or set
(CORS would need a preflight we never answer), and ``Sec-Fetch-Site`` / ``Origin`` are checked as in
the console (``bot/console/security.py``). There is no cookie at all, so no ambient credential for
another site to ride on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.channels.base import Intake, Outcome, SendResult, numbered_index, read_body
from bot.channels.inbox import Inbox
from bot.channels.outbox import Outbox
from bot.channels.parts import ChannelParts
from bot.channels.webchat.sessions import Sessions, WebSession, is_user_id
from bot.console.security import same_origin
from bot.http_limits import RateLimiter
from bot.nlg.messages import WEBCHAT_TEXTS
from bot.safety.commands import KEYWORDS, Command
from bot.store.channel_models import PlatformMessage
from bot.store.models import Contact, utcnow
from bot.types import Inbound, Reply

log = logging.getLogger("bot.channels.webchat")

NAME = "webchat"  # as in Inbound.channel and bot/platforms.py
BASE = "/chat"
HERE = Path(__file__).resolve().parent
MAX_BODY = 16 * 1024  # one message of MAX_TEXT characters in JSON, with room for escapes
MAX_TEXT = 4096  # as on Telegram: a longer message is cut, never refused
MAX_PAYLOAD = 200
CLIENT_ID = re.compile(r"[0-9a-f]{16,32}")
STREAM_SECONDS = 60.0  # streams end and the page reconnects: a shutdown never waits on a page
HEARTBEAT_SECONDS = 15.0
ATTACH_WAIT_SECONDS = 3.0  # a reply waits this long for a page that is reconnecting
WRITE_WAIT_SECONDS = 10.0  # a page's stream that has not written a reply by then is stuck
SWEEP_SECONDS = 10.0
KEEP_MESSAGE_IDS = dt.timedelta(hours=1)
EXIT_WORD = KEYWORDS[Command.EXIT]["en"][0]  # matched in every language, whatever the chat's


def csp(settings_origins: list[str]) -> str:
    """The console's policy (``bot/console/security.py``), with the embedding sites allowed to
    frame the page; none by default."""
    ancestors = " ".join(o for o in settings_origins if _origin_ok(o)) or "'none'"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'; form-action 'none'; frame-ancestors {ancestors}; "
        "base-uri 'none'; object-src 'none'"
    )


def _origin_ok(origin: str) -> bool:
    """An origin fit for frame-ancestors and postMessage: https (or http on loopback), a host,
    nothing else (no path, no wildcard, no quote that could end the header's value)."""
    return bool(
        re.fullmatch(r"https://[a-z0-9.-]+(:\d{1,5})?", origin)
        or re.fullmatch(r"http://(127\.0\.0\.1|localhost)(:\d{1,5})?", origin)
    )


def headers_for(origins: list[str]) -> dict[str, str]:
    headers = {
        "content-security-policy": csp(origins),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "cache-control": "no-store",
        "x-robots-tag": "noindex, nofollow",
    }
    if not any(_origin_ok(o) for o in origins):
        headers["x-frame-options"] = "DENY"  # older browsers, which ignore frame-ancestors
    return headers


class Headers:
    """Pure ASGI middleware for the static files (the views set the same headers themselves)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in self.headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + self.headers
            await send(message)

        await self.app(scope, receive, with_headers)


class WebChatChannel:
    name = NAME

    def __init__(self, runtime: ChannelParts, inbox: Inbox, outbox: Outbox) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.inbox = inbox
        self.outbox = outbox
        self.sessions = Sessions(lambda user_id: runtime.crypto.pseudonym(NAME, user_id))
        self.limiter = RateLimiter()
        self.headers = headers_for(self.settings.webchat_embed_origins)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
        )
        self._sweeper: asyncio.Task[None] | None = None

    # --- lifecycle ---

    def routes(self) -> list[BaseRoute]:
        guard = self._guard
        return [
            Route(BASE, guard(self.page)),
            Route(BASE + "/session", guard(self.open), methods=["POST"]),
            Route(BASE + "/stream", guard(self.stream)),
            Route(BASE + "/send", guard(self.send_message), methods=["POST"]),
            Route(BASE + "/exit", guard(self.quick_exit), methods=["POST"]),
            Route(BASE + "/end", guard(self.end), methods=["POST"]),
            Mount(
                BASE + "/static",
                app=Headers(StaticFiles(directory=HERE / "static"), self.headers),
            ),
        ]

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        self.sessions.close_all()

    def _guard(
        self, view: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            response = await view(request)
            response.headers.update(self.headers)
            return response

        return guarded

    # --- the page ---

    def language(self, request: Request) -> str:
        """The page's language: ``?lang=`` (the embedding site knows it), else the browser's."""
        languages = self.settings.languages
        asked = request.query_params.get("lang", "")[:8].lower()
        if asked in languages:
            return asked
        for part in request.headers.get("accept-language", "")[:200].split(","):
            code = part.split(";")[0].strip()[:2].lower()
            if code in languages:
                return code
        return self.settings.default_language

    def texts(self, language: str) -> dict[str, str]:
        catalog = self.runtime.catalog
        return {key.removeprefix("webchat_"): catalog.text(key, language) for key in WEBCHAT_TEXTS}

    async def page(self, request: Request) -> Response:
        language = self.language(request)
        origins = [o for o in self.settings.webchat_embed_origins if _origin_ok(o)]
        html = self.templates.get_template("chat.html").render(
            language=language,
            t=self.texts(language),
            base=BASE,
            exit_url=self.settings.webchat_exit_url,
            end_on_close=self.settings.webchat_end_on_close,
            parents=" ".join(origins),
        )
        return HTMLResponse(html)

    # --- the chat ---

    def _refused(self, request: Request) -> Response | None:
        if not same_origin(request):
            log.warning("webchat refused", extra={"error": "origin"})
            return JSONResponse({"error": "forbidden"}, status_code=403)
        return None

    def _slow_down(self, key: str, per_minute: int) -> Response | None:
        wait = self.limiter.take(key, per_minute)
        if not wait:
            return None
        log.info("webchat rate limited")
        return JSONResponse(
            {"error": "too_fast"},
            status_code=429,
            headers={"retry-after": str(max(1, int(wait + 0.999)))},
        )

    @staticmethod
    def _address(request: Request) -> str:
        return request.client.host if request.client else ""

    async def _body(self, request: Request) -> dict[str, Any] | None:
        body = await read_body(request, MAX_BODY)
        if not body:
            return None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    async def _session(self, request: Request) -> WebSession | None:
        token = request.headers.get("x-chat-token")
        if token is None:  # a beacon cannot set headers: the token is in its body
            data = await self._body(request)
            value = data.get("token") if data else None
            token = value if isinstance(value, str) else None
        return self.sessions.get(token)

    async def open(self, request: Request) -> Response:
        settings = self.settings
        refused = self._refused(request) or self._slow_down(
            "open:" + self._address(request), settings.webchat_sessions_per_minute
        )
        if refused is not None:
            return refused
        if len(self.sessions) >= settings.webchat_max_sessions:
            log.warning("webchat full", extra={"count": len(self.sessions)})
            return JSONResponse({"error": "busy"}, status_code=503, headers={"retry-after": "60"})
        data = await self._body(request) or {}
        language = data.get("language")
        if language not in settings.languages:
            language = settings.default_language
        token, _ = self.sessions.open(str(language))
        log.info("webchat opened")
        return JSONResponse({"token": token})

    async def stream(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            return JSONResponse({"error": "ended"}, status_code=410)
        queue = self.sessions.attach(session)
        self._release(session)

        async def gone() -> None:
            """Notice the page leaving at once, not at the next write: a reply handed to a
            stream nobody reads would be counted as delivered."""
            while (await request.receive())["type"] != "http.disconnect":
                pass
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

        async def events() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + STREAM_SECONDS
            watcher = asyncio.create_task(gone())
            try:
                yield ": open\n\n"
                while loop.time() < deadline:
                    try:
                        async with asyncio.timeout(HEARTBEAT_SECONDS):
                            item = await queue.get()
                    except TimeoutError:
                        yield ": ping\n\n"
                        continue
                    if item is None:  # the page left, the chat ended, or the server stops
                        return
                    event, written = item
                    data = json.dumps(event, ensure_ascii=False)
                    yield f"event: {event['kind']}\ndata: {data}\n\n"
                    if not written.done():
                        written.set_result(True)
                    if event["kind"] == "erase":
                        return
            finally:
                watcher.cancel()
                self.sessions.detach(session, queue)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},
        )

    def _release(self, session: WebSession) -> None:
        """A page is listening again: replies held while it was away go out now."""
        try:
            with self.runtime.db.session() as s:
                self.outbox.release_held(s, session.contact_id)
        except SQLAlchemyError:
            log.exception("webchat held replies not released")
            return
        self.outbox.notify()

    async def send_message(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        session = await self._session(request)
        if session is None:
            return JSONResponse({"error": "ended"}, status_code=410)
        per_minute = self.settings.webchat_per_minute
        limited = self._slow_down("send:" + self._address(request), per_minute) or (
            self._slow_down("chat:" + session.user_id, per_minute)
        )
        if limited is not None:
            return limited
        data = await self._body(request)
        inbound = parse_message(data, session) if data is not None else None
        if inbound is None:
            log.info("webchat message refused", extra={"error": "invalid"})
            return JSONResponse({"error": "invalid"}, status_code=400)
        platform_id = inbound.message_id.rsplit(":", 1)[1] if inbound.message_id else None
        try:
            fresh = await self.inbox.receive(Intake(inbound, session.user_id, platform_id))
        except SQLAlchemyError as exc:
            log.warning("webchat message not stored", extra={"error": type(exc).__name__})
            return JSONResponse({"error": "busy"}, status_code=503)
        session.wrote = True
        return JSONResponse({"ok": True, "duplicate": not fresh}, status_code=202)

    async def quick_exit(self, request: Request) -> Response:
        """The quick-exit button or Esc: the exit word, through the inbox like any message."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        session = await self._session(request)
        if session is not None:
            self._leave(session, "exit")
        return Response(status_code=204)

    async def end(self, request: Request) -> Response:
        """The tab is closing (or reloading: the token is lost either way)."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        session = await self._session(request)
        if session is not None:
            if self.settings.webchat_end_on_close:
                self._leave(session, "closed")
            else:
                self.sessions.drop(session)
        return Response(status_code=204)

    def _leave(self, session: WebSession, why: str) -> None:
        """End the chat as the exit word does; a chat that never wrote has nothing to erase."""
        self.sessions.drop(session)
        if session.wrote:
            inbound = Inbound(
                channel=NAME,
                user_id=session.user_id,
                message_id=f"{session.user_id}:exit",
                text=EXIT_WORD,
                language_hint=session.language,
            )
            try:
                self.inbox.accept(Intake(inbound, session.user_id))
            except SQLAlchemyError:
                log.exception("webchat exit not stored")
                return
        log.info("webchat ended", extra={"kind": why})

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                self.sweep()
            except Exception:
                log.exception("webchat sweep failed")

    def sweep(self) -> None:
        """Chats whose page has been gone ``BOT_WEBCHAT_GONE_SECONDS``: their tab was closed
        without a goodbye (a phone killed it, the network went)."""
        for session in self.sessions.gone(self.settings.webchat_gone_seconds):
            if self.settings.webchat_end_on_close:
                self._leave(session, "gone")
            else:
                self.sessions.drop(session)

    # --- sending ---

    def address_ok(self, address: str) -> bool:
        return is_user_id(address)

    def plan(
        self, replies: list[Reply], *, address: str, language: str, erase: bool
    ) -> list[dict[str, Any]]:
        return plan_replies(replies, erase=erase)

    async def send(self, contact_id: str, payload: dict[str, Any]) -> SendResult:
        session = self.sessions.by_contact(contact_id)
        kind = payload.get("kind")
        if kind == "erase":
            # The page clears itself and the chat is over; the page may be gone already (the
            # quick exit left at once): nothing of it is kept here either way.
            with self.runtime.db.session() as s:
                s.execute(delete(PlatformMessage).where(PlatformMessage.contact_id == contact_id))
            if session is not None:
                self.sessions.push(session, {"kind": "erase"})  # best effort: it may be gone
                self.sessions.drop(session)
            return SendResult(Outcome.SENT)
        if kind == "forget":  # the code word, taken off the page once it was checked
            message_id = str(payload.get("message_id", ""))
            with self.runtime.db.session() as s:
                s.execute(
                    delete(PlatformMessage).where(
                        PlatformMessage.contact_id == contact_id,
                        PlatformMessage.message_id == message_id,
                    )
                )
            if session is not None:
                self.sessions.push(session, {"kind": "forget", "id": message_id})
            return SendResult(Outcome.SENT)
        if session is None:
            # The tab was closed (or the server restarted): nobody can read it any more. Kept
            # as a dead letter, so staff see that it was not delivered.
            return SendResult(Outcome.DEAD, "no_session")
        if not session.streams:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ATTACH_WAIT_SECONDS):
                    await session.attached.wait()
        event: dict[str, Any] = {k: payload[k] for k in ("kind", "text", "buttons") if k in payload}
        written = self.sessions.push(session, event)
        if written:
            await asyncio.wait(written, timeout=WRITE_WAIT_SECONDS)
        if any(f.done() and f.result() for f in written):
            return SendResult(Outcome.SENT)
        return SendResult(Outcome.HOLD, "not_listening")  # released when a page listens again

    def after_turn(
        self, s: Session, contact_id: str, address: str, inbound_at: dt.datetime
    ) -> None:
        return None

    def purge(self) -> None:
        """Message ids are kept only so the code word can be taken off the page: an hour is
        plenty (the page itself is gone long before)."""
        cutoff = utcnow() - KEEP_MESSAGE_IDS
        webchat = select(Contact.id).where(Contact.channel == NAME)
        with self.runtime.db.session() as s:
            s.execute(
                delete(PlatformMessage).where(
                    PlatformMessage.contact_id.in_(webchat), PlatformMessage.at < cutoff
                )
            )


def parse_message(data: dict[str, Any], session: WebSession) -> Inbound | None:
    """One message from the page: typed text or a tapped button's payload, with the page's own
    random id (a resent message is dropped by the inbox, as a redelivered webhook is)."""
    client_id = data.get("id")
    text, payload = data.get("text"), data.get("payload")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        return None
    if text is not None and not isinstance(text, str):
        return None
    if payload is not None and not isinstance(payload, str):
        return None
    text = text.strip()[:MAX_TEXT] if text else None
    if payload is not None:
        typed = payload.isascii() and payload.isdigit() and len(payload) <= 2
        if not typed and not (payload.startswith("/") and 1 < len(payload) <= MAX_PAYLOAD):
            return None
        if typed:  # a payload too long for a button travels as its number (as on Telegram)
            text, payload = payload, None
    if not text and not payload:
        return None
    return Inbound(
        channel=NAME,
        user_id=session.user_id,
        message_id=f"{session.user_id}:{client_id}",
        text=text,
        payload=payload,
        language_hint=session.language,
    )


def plan_replies(replies: list[Reply], *, erase: bool) -> list[dict[str, Any]]:
    """Outbox payloads: one per reply, with its buttons; only the question a typed number answers
    is numbered ("1. …"), as on Telegram and WhatsApp. The exit clears the page instead."""
    if erase:
        return [{"kind": "erase"}]
    numbered = numbered_index(replies)
    out: list[dict[str, Any]] = []
    for i, reply in enumerate(replies):
        buttons = []
        for n, button in enumerate(reply.buttons, 1):
            data = button.payload if 0 < len(button.payload) <= MAX_PAYLOAD else str(n)
            if data == str(n) and numbered != i:
                continue  # cannot be tapped nor typed: left out rather than broken
            title = f"{n}. {button.title}" if numbered == i else button.title
            buttons.append({"title": title, "data": data})
        out.append({"kind": "message", "text": reply.text, "buttons": buttons})
    return out
