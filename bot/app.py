"""The bot server: health, Rasa's callbacks, the local terminal channel (and, later, webhooks and
the console). One Starlette app; everything else is reached through the runtime."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import logging
from collections.abc import AsyncIterator

from sqlalchemy import delete
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels import Channels
from bot.console.app import create_console
from bot.handoff.watch import watch_queue
from bot.rasa.callbacks import LOOPBACK
from bot.runtime import Runtime
from bot.store.models import SeenMessage, utcnow
from bot.types import Inbound, TurnResult

log = logging.getLogger("bot.app")
PURGE_EVERY_SECONDS = 600


def result_json(result: TurnResult) -> dict[str, object]:
    return {
        "language": result.language,
        "intent": result.intent,
        "confidence": result.confidence,
        "crisis": result.crisis,
        "mode": result.mode,
        "replies": [
            {
                "text": r.text,
                "key": r.key,
                "buttons": [{"title": b.title, "payload": b.payload} for b in r.buttons],
            }
            for r in result.replies
        ],
    }


def purge_once(runtime: Runtime) -> int:
    """Delete transcripts past their time-to-live and old dedupe records."""
    with runtime.db.session() as s:
        n = runtime.handoffs.purge(s, runtime.settings.transcript_ttl_hours)
        cutoff = utcnow() - dt.timedelta(days=runtime.settings.dedupe_ttl_days)
        s.execute(delete(SeenMessage).where(SeenMessage.seen_at < cutoff))
    return n


def create_app(runtime: Runtime) -> Starlette:
    channels = Channels(runtime)  # Telegram / WhatsApp webhooks, inbox, outbox (configured only)

    async def healthz(request: Request) -> Response:
        if await runtime.rasa.ready():
            return JSONResponse({"status": "ok", "rasa": "ready"})
        return JSONResponse({"status": "starting", "rasa": "not ready"}, status_code=503)

    async def terminal(request: Request) -> Response:
        """The local terminal channel (`bot chat`): loopback only, with the local token."""
        client = request.client.host if request.client else ""
        token = request.headers.get("x-bot-token", "")
        if client not in LOOPBACK or not hmac.compare_digest(
            token, runtime.crypto.internal_token("terminal")
        ):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await request.json()
        inbound = Inbound(
            channel=str(body.get("channel") or "terminal"),
            user_id=str(body.get("user") or "terminal"),
            message_id=body.get("message_id"),
            text=body.get("text"),
            payload=body.get("payload"),
            language_hint=body.get("language_hint"),
        )
        result = await runtime.conversations.handle(inbound)
        return JSONResponse(result_json(result))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.screen.warm_up()
        runtime.detector.warm_up()

        async def purge_loop() -> None:
            while True:
                try:
                    purge_once(runtime)
                except Exception:
                    log.exception("purge failed")
                await asyncio.sleep(PURGE_EVERY_SECONDS)

        task = asyncio.create_task(purge_loop())
        watcher = asyncio.create_task(
            watch_queue(runtime.live, runtime.settings.handoff_watch_seconds)
        )  # the honest "nobody answered yet"
        await channels.start()
        try:
            yield
        finally:
            await channels.stop()
            task.cancel()
            watcher.cancel()

    routes = [
        Route("/healthz", healthz),
        Route("/dev/terminal", terminal, methods=["POST"]),
        *runtime.callbacks.routes(),
        *channels.routes(),
    ]
    if runtime.settings.console_enabled:
        routes.append(create_console(runtime)[0])  # the staff console under /console
    return Starlette(routes=routes, lifespan=lifespan)
