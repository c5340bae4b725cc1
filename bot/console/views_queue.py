"""The queue (live through Server-Sent Events), presence, and the event stream itself.

The stream carries only event names ("queue", "message", "state"), never content: the page then
fetches the fragment it needs, with the viewer's permissions. Streams end after a few minutes and
the browser reconnects (so a server shutdown never waits on an open console), and each connection
refreshes presence: on duty means signed in, available, and with the console open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bot.console import presence, queries
from bot.console.auth import Staff
from bot.console.core import Console
from bot.store.models import HandoffRequest

STREAM_SECONDS = 60.0
HEARTBEAT_SECONDS = 15.0
QUEUE_KINDS = {
    "handoff.requested",
    "handoff.urgent",
    "handoff.withdrawn",
    "handoff.accepted",
    "handoff.transferred",
    "handoff.released",
    "handoff.closed",
    "handoff.ended",
    "handoff.fallback",
    "presence.changed",
}


def _visible_languages(staff: Staff) -> list[str] | None:
    return None if staff.can("supervisor") or not staff.languages else list(staff.languages)


async def queue_page(console: Console, request: Request, staff: Staff) -> Response:
    return console.html(request, staff, "queue.html")


async def queue_list(console: Console, request: Request, staff: Staff) -> Response:
    with console.rt.db.session() as s:
        rows = queries.waiting(s, console.rt.handoffs, _visible_languages(staff))
        mine = queries.assigned(s, staff.id)
    return console.html(request, staff, "_queue_list.html", rows=rows, mine=mine)


async def queue_count(console: Console, request: Request, staff: Staff) -> Response:
    with console.rt.db.session() as s:
        rows = queries.waiting(s, console.rt.handoffs, _visible_languages(staff))
    return console.html(request, staff, "_queue_count.html", rows=rows)


async def set_presence(console: Console, request: Request, staff: Staff) -> Response:
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    available = form.get("available") == "1"
    presence.set_available(console.rt.db, console.rt.events, staff, available)
    console.audit(staff.id, "presence.available" if available else "presence.away")
    back = str(form.get("back", "/queue"))
    return console.go(back if back.startswith("/") and not back.startswith("//") else "/queue")


async def events(console: Console, request: Request, staff: Staff) -> Response:
    conversation_id = None
    wanted = request.query_params.get("c")
    if wanted:
        with console.rt.db.session() as s:
            req = s.get(HandoffRequest, wanted)
            if req is not None and queries.may_view(staff, req):
                conversation_id = req.conversation_id

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_SECONDS
        async with console.rt.events.subscribe() as inbox:
            yield "retry: 1500\n\n"
            # A (re)connection may have missed events: every view refreshes once.
            yield "event: queue\ndata: open\n\n"
            if conversation_id:
                yield "event: message\ndata: open\n\n"
                yield "event: state\ndata: open\n\n"
            while loop.time() < deadline:
                try:
                    event = await asyncio.wait_for(inbox.get(), timeout=HEARTBEAT_SECONDS)
                except TimeoutError:
                    presence.heartbeat(console.rt.db, staff)
                    yield ": ping\n\n"
                    continue
                if event.kind in QUEUE_KINDS:
                    kind = "new" if event.kind == "handoff.requested" else "change"
                    yield f"event: queue\ndata: {kind}\n\n"
                if conversation_id and event.conversation_id == conversation_id:
                    name = "message" if event.kind == "handoff.message" else "state"
                    yield f"event: {name}\ndata: {event.kind}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


def routes(console: Console) -> list[Route]:
    return [
        Route("/queue", console.guard(queue_page)),
        Route("/queue/list", console.guard(queue_list)),
        Route("/queue/count", console.guard(queue_count)),
        Route("/presence", console.guard(set_presence), methods=["POST"]),
        Route("/events", console.guard(events)),
    ]
