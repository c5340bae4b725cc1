"""What every console view shares: the signed-in person, templates in their language, forms.

A view is an ``async def view(console, request, staff)``; ``Console.guard`` wraps it so that it runs
only for a signed-in person of at least the given role, and only after the CSRF token and origin
of a POST have been checked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.console import audit, presence
from bot.console.auth import Accounts, Staff
from bot.console.i18n import ConsoleText
from bot.console.security import PRE_COOKIE, SESSION_COOKIE, same_origin, token_ok
from bot.handoff.card import LANGUAGE_NAMES, SAFE_HOURS
from bot.http_limits import CpuPool, RateLimiter
from bot.store import approvals

if TYPE_CHECKING:
    from bot.console.parts import ConsoleParts

BASE = "/console"
TEMPLATES = Path(__file__).resolve().parent / "templates"
View = Callable[["Console", Request, Staff], Awaitable[Response]]
P = ParamSpec("P")
T = TypeVar("T")


class Console:
    def __init__(self, runtime: ConsoleParts) -> None:
        self.rt = runtime
        self.settings = runtime.settings
        self.accounts = Accounts(runtime.db, runtime.settings, runtime.crypto)
        self.text = ConsoleText(runtime.settings.languages)
        self.live = runtime.live
        self.secure = runtime.settings.public_url.startswith("https://")
        # Password checks run here, never on the loop that answers survivors (imports have a
        # child process of their own: bot/directory/hsds/jobs.py).
        self.cpu = CpuPool(runtime.settings.cpu_threads, queue=32)
        self.limiter = RateLimiter()
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # Over HTTPS the cookies carry the __Host- prefix: browsers then accept them only when Secure,
    # for the whole host (Path=/) and set by this host, so a sibling subdomain cannot plant or
    # shadow a session cookie.
    @property
    def session_cookie(self) -> str:
        return ("__Host-" if self.secure else "") + SESSION_COOKIE

    @property
    def pre_cookie(self) -> str:
        return ("__Host-" if self.secure else "") + PRE_COOKIE

    @property
    def cookie_path(self) -> str:
        return "/" if self.secure else BASE

    @property
    def tz(self) -> ZoneInfo:
        """The team's time zone: set in the console (Operations) or by BOT_TEAM_TIMEZONE."""
        return self.rt.hours.tz

    # --- who is asking ---

    def staff(self, request: Request, partial: bool = False) -> Staff | None:
        return self.accounts.load(request.cookies.get(self.session_cookie), partial=partial)

    def session_token(self, request: Request) -> str:
        return request.cookies.get(self.session_cookie, "")

    @staticmethod
    def address(request: Request) -> str:
        return request.client.host if request.client else ""

    def too_many(self, request: Request) -> Response | None:
        """429 when this address, or everyone together, posted to the sign-in, second-step or
        invitation forms too often; checked before the body is read."""
        settings = self.settings
        wait = max(
            self.limiter.take(
                "ip:" + self.address(request), settings.console_signin_per_ip_per_minute
            ),
            self.limiter.take("all", settings.console_signin_per_minute),
        )
        if not wait:
            return None
        return self.busy(request, wait)

    def busy(self, request: Request, wait: float = 60.0) -> Response:
        response = self.error(request, None, 429, "busy")
        response.headers["retry-after"] = str(max(1, int(wait + 0.999)))
        return response

    async def slow(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args)`` in the CPU pool; ``http_limits.Busy`` when too much is already waiting."""
        return await self.cpu.run(fn, *args, **kwargs)

    def language(self, request: Request, staff: Staff | None) -> str:
        if staff is not None and staff.language in self.settings.languages:
            return staff.language
        wanted = request.query_params.get("lang")
        if wanted in self.settings.languages:
            return str(wanted)
        for part in request.headers.get("accept-language", "").split(","):
            code = part.split(";")[0].strip()[:2].lower()
            if code in self.settings.languages:
                return code
        return "en"

    # --- answering ---

    def html(
        self,
        request: Request,
        staff: Staff | None,
        template: str,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        language = self.language(request, staff)
        _ = self.text.gettext(language)

        def when(value: dt.datetime | None, with_date: bool = False) -> str:
            if value is None:
                return ""
            aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
            if with_date:
                return str(format_datetime(aware, "short", tzinfo=self.tz, locale=language))
            return str(format_time(aware, "short", tzinfo=self.tz, locale=language))

        def country_name(code: str | None) -> str:
            return str(Locale.parse(language).territories.get(code or "", code or ""))

        def role_name(role: str) -> str:
            names = {"staff": _("Staff"), "supervisor": _("Supervisor"), "admin": _("Admin")}
            return names.get(role, role)

        def safe_hours_text(key: str) -> str:
            start, end = SAFE_HOURS.get(key, (0, 0))
            return f"{start:02d}:00–{end:02d}:00"

        values: dict[str, Any] = {
            "_": _,
            "lang": language,
            "staff": staff,
            "base": BASE,
            "csrf": staff.csrf if staff else context.pop("csrf", ""),
            "when": when,
            "language_names": LANGUAGE_NAMES,
            "languages": self.settings.languages,
            "org_name": self.settings.org_name,
            "available": presence.is_available(self.rt.db, staff.id) if staff else False,
            "turn_minutes": self.settings.console_turn_minutes,
            "ttl_hours": self.settings.transcript_ttl_hours,
            "request_path": request.url.path.removeprefix(BASE) or "/queue",
            "country_name": country_name,
            "role_name": role_name,
            "safe_hours_text": safe_hours_text,
            "approvals_waiting": self.approvals_waiting() if staff and staff.can("admin") else 0,
        }
        values.update(context)
        body = self.env.get_template(template).render(**values)
        return HTMLResponse(body, status_code=status)

    def approvals_waiting(self) -> int:
        """Changes waiting for a second admin: counted in every admin's menu, so nothing waits
        unseen."""
        with self.rt.db.session() as s:
            return approvals.count_waiting(s)

    def error(self, request: Request, staff: Staff | None, status: int, reason: str) -> Response:
        return self.html(request, staff, "error.html", status=status, reason=reason)

    @staticmethod
    def go(path: str) -> RedirectResponse:
        return RedirectResponse(BASE + path, status_code=303)

    async def form(self, request: Request, staff: Staff) -> FormData | None:
        """The POSTed form, or None when the origin or the CSRF token is wrong."""
        if not same_origin(request):
            return None
        form = await request.form()
        if not token_ok(staff.csrf, form.get("csrf")):
            return None
        return form

    # --- wiring views ---

    def guard(self, view: View, role: str = "staff") -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            staff = self.staff(request)
            if staff is None:
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": BASE + "/signin"})
                return self.go("/signin")
            if not staff.can(role):
                return self.error(request, staff, 403, "role")
            if request.method == "POST" and not same_origin(request):
                return self.error(request, staff, 403, "csrf")
            presence.heartbeat(self.rt.db, staff)
            return await view(self, request, staff)

        return endpoint

    def audit(
        self,
        staff_id: str | None,
        action: str,
        conversation_id: str | None = None,
        **detail: str | int | bool | None,
    ) -> None:
        with self.rt.db.session() as s:
            audit.record(s, staff_id, action, conversation_id, **detail)

    def set_session_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            self.session_cookie,
            token,
            max_age=self.settings.console_session_hours * 3600,
            path=self.cookie_path,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def set_pre_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            self.pre_cookie,
            token,
            path=self.cookie_path,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def drop_cookie(self, response: Response, name: str) -> None:
        response.delete_cookie(
            name, path=self.cookie_path, secure=self.secure, httponly=True, samesite="strict"
        )
