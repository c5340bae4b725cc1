"""The console as one mounted Starlette app: its routes, static files and security headers.

Static files are served from this package (htmx and its SSE extension are vendored files, no
build step and no CDN), under the same strict Content-Security-Policy as the pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.console import (
    views_admin,
    views_approvals,
    views_auth,
    views_case,
    views_directory,
    views_directory_countries,
    views_directory_hsds,
    views_directory_service,
    views_messages,
    views_messages_editor,
    views_messages_po,
    views_operations,
    views_operations_hours,
    views_operations_safety,
    views_queue,
    views_understanding,
)
from bot.console.core import BASE, Console
from bot.console.security import SecurityHeaders

if TYPE_CHECKING:
    from bot.console.parts import ConsoleParts

STATIC = Path(__file__).resolve().parent / "static"


def create_console(runtime: ConsoleParts) -> tuple[Mount, Console]:
    console = Console(runtime)

    async def home(request: Request) -> Response:
        return RedirectResponse(BASE + "/queue", status_code=303)

    routes = [
        Route("/", home),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        *views_auth.routes(console),
        *views_queue.routes(console),
        *views_case.routes(console),
        *views_admin.routes(console),
        *views_approvals.routes(console),
        *views_directory.routes(console),
        *views_directory_service.routes(console),
        *views_directory_countries.routes(console),
        *views_directory_hsds.routes(console),
        *views_messages.routes(console),
        *views_messages_po.routes(console),
        # After every fixed /messages/... path: /messages/{key}/{lang} would match them too.
        *views_messages_editor.routes(console),
        *views_understanding.routes(console),
        *views_operations.routes(console),
        *views_operations_hours.routes(console),
        *views_operations_safety.routes(console),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return console.error(request, console.staff(request), 404, "not_found")

    async def wrong_method(request: Request, exc: Exception) -> Response:
        headers = exc.headers if isinstance(exc, HTTPException) and exc.headers else {}
        allow = next((v for k, v in headers.items() if k.lower() == "allow"), "")
        response = console.error(request, console.staff(request), 405, "method")
        if allow:
            response.headers["allow"] = allow
        return response

    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders, hsts=console.secure)],
        # An unknown address or a wrong method gets the console's own page, in the staff
        # member's language, instead of Starlette's plain "Not Found".
        exception_handlers={404: not_found, 405: wrong_method},
    )
    return Mount(BASE, app=app), console
