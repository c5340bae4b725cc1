"""The bot server: health, Rasa's callbacks, the local terminal channel (and, later, webhooks and
the console). One Starlette app; everything else is reached through the runtime."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import logging
from collections.abc import AsyncIterator

from sqlalchemy import delete, func, select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels import Channels
from bot.channels.webchat.channel import MAX_BODY as WEBCHAT_MAX_BODY
from bot.channels.whatsapp import MAX_BODY as WHATSAPP_MAX_BODY
from bot.console.app import create_console
from bot.console.auth import purge_signin_failures
from bot.console.views_messages_po import MAX_PO_BYTES
from bot.directory.uploads import MAX_BYTES as HSDS_MAX_BYTES
from bot.handoff.watch import watch_queue
from bot.http_limits import BodyLimits, BodyRule
from bot.metrics import Gauge
from bot.rasa.callbacks import LOOPBACK
from bot.runtime import Runtime
from bot.store.channel_models import InboxMessage, OutboxMessage
from bot.store.models import HandoffRequest, SeenMessage, utcnow
from bot.types import Inbound, Reply, TurnResult

log = logging.getLogger("bot.app")
PURGE_EVERY_SECONDS = 600
FORM_OVERHEAD = 64 * 1024  # a multipart form's boundaries and other fields around its file
SIGNIN_FORM_BYTES = 16 * 1024  # an email, a password, a code and a token: never more
TERMINAL_WAIT_SECONDS = 25.0  # the longest a `bot chat` long poll is held open
HEALTH_DATABASE_SECONDS = 2.0  # /healthz says "down" when the database takes longer to answer


def body_rules() -> tuple[BodyRule, ...]:
    """Routes whose bodies may be larger (uploads, Meta's webhooks) or must be smaller (the forms
    anyone can post without an account) than ``BOT_MAX_BODY_BYTES``."""
    return (
        BodyRule("/console/signin", SIGNIN_FORM_BYTES),
        BodyRule("/console/totp", SIGNIN_FORM_BYTES),
        BodyRule("/console/invite/", SIGNIN_FORM_BYTES),
        BodyRule("/console/directory/import", HSDS_MAX_BYTES + FORM_OVERHEAD),
        BodyRule("/console/messages/po/upload", MAX_PO_BYTES + FORM_OVERHEAD),
        BodyRule("/webhooks/whatsapp", WHATSAPP_MAX_BODY),
        BodyRule("/chat/", WEBCHAT_MAX_BODY),  # one message: anyone may post here
    )


def result_json(result: TurnResult) -> dict[str, object]:
    return {
        "language": result.language,
        "intent": result.intent,
        "confidence": result.confidence,
        "crisis": result.crisis,
        "mode": result.mode,
        "replies": replies_json(result.replies),
    }


def replies_json(replies: list[Reply]) -> list[dict[str, object]]:
    return [
        {
            "text": r.text,
            "key": r.key,
            "buttons": [{"title": b.title, "payload": b.payload} for b in r.buttons],
        }
        for r in replies
    ]


def purge_once(runtime: Runtime) -> int:
    """Delete transcripts past their time-to-live, old dedupe records and old sign-in tries."""
    with runtime.db.session() as s:
        n = runtime.handoffs.purge(s, runtime.settings.transcript_ttl_hours)
        cutoff = utcnow() - dt.timedelta(days=runtime.settings.dedupe_ttl_days)
        s.execute(delete(SeenMessage).where(SeenMessage.seen_at < cutoff))
        purge_signin_failures(s, utcnow())
    return n


def warm_up(runtime: Runtime) -> None:
    runtime.screen.warm_up()
    runtime.detector.warm_up()


async def database_ok(runtime: Runtime, timeout: float = HEALTH_DATABASE_SECONDS) -> bool:
    """The database answers a query within ``timeout`` (asked on a database thread: a database
    that hangs must not stop the event loop)."""
    return await runtime.db.ping(timeout)


def queue_gauges(runtime: Runtime) -> list[Gauge]:
    """What waits, read from the database at scrape time: counts and ages, nothing else."""
    with runtime.db.session() as s:
        inbox = s.scalar(select(func.count()).select_from(InboxMessage)) or 0
        pending = OutboxMessage.status == "pending"
        outbox = s.scalar(select(func.count()).select_from(OutboxMessage).where(pending)) or 0
        oldest = s.scalar(select(func.min(OutboxMessage.created_at)).where(pending))
        dead = (
            s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "dead")
            )
            or 0
        )
        queued = (
            s.scalar(
                select(func.count())
                .select_from(HandoffRequest)
                .where(HandoffRequest.status == "queued")
            )
            or 0
        )
    age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
    return [
        Gauge("inbox_messages", "Messages received and not yet answered (all processes).", inbox),
        Gauge("outbox_pending", "Replies waiting to be accepted by their platform.", outbox),
        Gauge(
            "outbox_oldest_seconds",
            "Age of the oldest reply still waiting to be sent (0 when none waits).",
            age,
        ),
        Gauge(
            "outbox_dead_letters", "Replies the platforms refused for good, kept for staff.", dead
        ),
        Gauge("handoff_queued", "People waiting for someone on the team to accept them.", queued),
    ]


def metrics_allowed(request: Request, token: str) -> bool:
    """With ``BOT_METRICS_TOKEN``: whoever sends it as a bearer token. Without: loopback only,
    and not through a proxy (a proxy on the same machine connects from loopback too; the
    forwarding headers it adds give it away)."""
    if token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    client = request.client.host if request.client else ""
    forwarded = any(h in request.headers for h in ("x-forwarded-for", "forwarded", "x-real-ip"))
    return client in LOOPBACK and not forwarded


def create_app(runtime: Runtime) -> Starlette:
    channels = Channels(runtime)  # Telegram / WhatsApp webhooks, web chat, inbox, outbox

    async def live(request: Request) -> Response:
        """Liveness: the process answers. Never restart it for Rasa or the database."""
        return JSONResponse({"status": "alive"})

    async def healthz(request: Request) -> Response:
        """Readiness, told truthfully: 503 only when the database does not answer (nothing can
        be accepted); "degraded" while Rasa is away (webhooks are accepted and the safety paths
        answer; messages that need Rasa wait for it)."""
        database = await database_ok(runtime)
        rasa = await runtime.rasa.ready()
        body = {
            "status": "ok" if database and rasa else "degraded" if database else "unavailable",
            "database": "ok" if database else "down",
            "rasa": "ready" if rasa else "not ready",
        }
        return JSONResponse(body, status_code=200 if database else 503)

    async def metrics(request: Request) -> Response:
        """Prometheus metrics: counts, durations and ages only, no content and no identifiers."""
        if not metrics_allowed(request, runtime.settings.metrics_token):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        rasa = await runtime.rasa.ready()
        try:
            gauges = await asyncio.wait_for(asyncio.to_thread(queue_gauges, runtime), 3.0)
            database = True
        except Exception:
            log.warning("metrics: database not answering")
            gauges, database = [], False
        gauges = [
            Gauge("rasa_up", "1 when Rasa answers its status request, else 0.", int(rasa)),
            Gauge(
                "database_up", "1 when the database answered this scrape, else 0.", int(database)
            ),
            *gauges,
        ]
        return Response(
            runtime.metrics.render(gauges),
            media_type="text/plain; version=0.0.4; charset=utf-8",
            headers={"cache-control": "no-store"},
        )

    def terminal_allowed(request: Request) -> bool:
        client = request.client.host if request.client else ""
        token = request.headers.get("x-bot-token", "")
        return client in LOOPBACK and hmac.compare_digest(
            token, runtime.crypto.internal_token("terminal")
        )

    async def terminal(request: Request) -> Response:
        """The local terminal channel (`bot chat`): loopback only, with the local token."""
        if not terminal_allowed(request):
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

    async def terminal_messages(request: Request) -> Response:
        """What staff (and the handoff: "has joined", "nobody could answer") sent a terminal
        contact between its turns, held until ``bot chat`` asks: a long poll of up to
        ``TERMINAL_WAIT_SECONDS``, answered as soon as something arrives."""
        if not terminal_allowed(request):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        user = request.query_params.get("user", "terminal")[:200]
        try:
            wait = float(request.query_params.get("wait", "0"))
        except ValueError:
            wait = 0.0
        wait = min(wait, TERMINAL_WAIT_SECONDS) if wait > 0 else 0.0  # NaN is not > 0 either
        contact_id = runtime.crypto.pseudonym("terminal", user)
        replies = await runtime.delivery.wait(contact_id, wait)
        return JSONResponse({"replies": replies_json(replies)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Warmed up beside the server, not before it: the port opens (and webhooks are stored)
        # at once; a message screened before this is done loads the tables itself.
        warming = asyncio.create_task(asyncio.to_thread(warm_up, runtime))

        async def purge_loop() -> None:
            while True:
                try:
                    await runtime.db.call(purge_once, runtime)
                except Exception:
                    log.exception("purge failed")
                await asyncio.sleep(PURGE_EVERY_SECONDS)

        task = asyncio.create_task(purge_loop())
        watcher = asyncio.create_task(
            watch_queue(runtime.live, runtime.settings.handoff_watch_seconds)
        )  # the honest "nobody answered yet"
        runtime.imports.recover()  # a job the last process left running: interrupted
        if runtime.relay is not None:
            await runtime.relay.start()  # events to and from the other processes (PostgreSQL)
        await channels.start()
        try:
            yield
        finally:
            await runtime.imports.stop()
            await channels.stop()
            if runtime.relay is not None:
                await runtime.relay.stop()
            task.cancel()
            watcher.cancel()
            with contextlib.suppress(Exception):
                await warming

    routes = [
        Route("/healthz", healthz),
        Route("/healthz/live", live),
        Route("/metrics", metrics),
        Route("/dev/terminal", terminal, methods=["POST"]),
        Route("/dev/terminal/messages", terminal_messages, methods=["GET"]),
        *runtime.callbacks.routes(),
        *channels.routes(),
    ]
    if runtime.settings.console_enabled:
        routes.append(create_console(runtime)[0])  # the staff console under /console
    limits = Middleware(
        BodyLimits,
        default_bytes=runtime.settings.max_body_bytes,
        timeout_seconds=lambda: runtime.settings.body_timeout_seconds,
        rules=body_rules(),
    )
    return Starlette(routes=routes, lifespan=lifespan, middleware=[limits])
