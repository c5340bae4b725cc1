"""Signing in and out, the second factor, invitations, and each person's own settings."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console import presence, totp
from bot.console.auth import AccountError, Staff
from bot.console.core import BASE, Console
from bot.console.security import PRE_COOKIE, SESSION_COOKIE, same_origin, token_ok
from bot.store.console_models import StaffUser


def _pre_form(console: Console, request: Request, template: str, **context: Any) -> Response:
    """A form shown before a session exists, protected by a double-submit CSRF cookie."""
    token = secrets.token_urlsafe(24)
    response = console.html(request, None, template, csrf=token, **context)
    response.set_cookie(
        PRE_COOKIE,
        token,
        path=BASE,
        secure=console.secure,
        httponly=True,
        samesite="strict",
    )
    return response


async def signin(console: Console, request: Request) -> Response:
    if request.method == "GET":
        if console.staff(request) is not None:
            return console.go("/queue")
        return _pre_form(console, request, "signin.html", failed=False, notice="")
    form = await request.form()
    if not same_origin(request) or not token_ok(request.cookies.get(PRE_COOKIE), form.get("csrf")):
        return console.error(request, None, 403, "csrf")
    result = console.accounts.sign_in(str(form.get("email", "")), str(form.get("password", "")))
    if not result.ok or result.user_id is None:
        action = "signin.locked" if result.locked else "signin.failed"
        console.audit(result.user_id, action)
        return _pre_form(console, request, "signin.html", failed=True, notice="")
    token = console.accounts.start_session(result.user_id, second_factor_ok=not result.needs_totp)
    response = console.go("/totp" if result.needs_totp else "/queue")
    console.set_session_cookie(response, token)
    response.delete_cookie(
        PRE_COOKIE, path=BASE, secure=console.secure, httponly=True, samesite="strict"
    )
    if not result.needs_totp:
        staff = console.accounts.load(token)
        assert staff is not None
        presence.set_available(console.rt.db, console.rt.events, staff, True)
        console.audit(staff.id, "signin")
    return response


async def second_factor(console: Console, request: Request) -> Response:
    staff = console.staff(request, partial=True)
    if staff is None:
        return console.go("/signin")
    if staff.extra.get("second_factor_ok"):
        return console.go("/queue")
    if request.method == "GET":
        return console.html(request, staff, "totp.html", failed=False)
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    if not console.accounts.check_totp(staff.id, str(form.get("code", ""))):
        console.audit(staff.id, "signin.totp_failed")
        if console.staff(request, partial=True) is None:  # locked out: the session is gone
            return console.go("/signin")
        return console.html(request, staff, "totp.html", failed=True)
    token = console.accounts.second_factor_done(request.cookies.get(SESSION_COOKIE, ""))
    full = console.accounts.load(token)
    assert full is not None
    presence.set_available(console.rt.db, console.rt.events, full, True)
    console.audit(full.id, "signin")
    response = console.go("/queue")
    console.set_session_cookie(response, token)
    return response


async def signout(console: Console, request: Request, staff: Staff) -> Response:
    if await console.form(request, staff) is None:
        return console.error(request, staff, 403, "csrf")
    console.accounts.end_session(request.cookies.get(SESSION_COOKIE))
    presence.sign_out(console.rt.db, console.rt.events, staff.id)
    console.audit(staff.id, "signout")
    response = console.go("/signin")
    response.delete_cookie(
        SESSION_COOKIE, path=BASE, secure=console.secure, httponly=True, samesite="strict"
    )
    return response


async def invite(console: Console, request: Request) -> Response:
    token = str(request.path_params["token"])
    user = console.accounts.invited(token)
    if user is None:
        return console.error(request, None, 404, "invite")
    if request.method == "GET":
        return _pre_form(console, request, "invite.html", email=user.email, problem="")
    form = await request.form()
    if not same_origin(request) or not token_ok(request.cookies.get(PRE_COOKIE), form.get("csrf")):
        return console.error(request, None, 403, "csrf")
    password = str(form.get("password", ""))
    problem = "mismatch" if password != str(form.get("again", "")) else ""
    if not problem:
        try:
            console.accounts.accept_invite(token, password)
        except AccountError:
            problem = "short"
    if problem:
        return _pre_form(console, request, "invite.html", email=user.email, problem=problem)
    console.audit(user.id, "invite.accepted")
    response = _pre_form(console, request, "signin.html", failed=False, notice="invite")
    return response


async def settings(console: Console, request: Request, staff: Staff) -> Response:
    notice = ""
    new_secret = ""
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        what = str(form.get("what", ""))
        if what == "profile":
            with console.rt.db.session() as s:
                user = s.get(StaffUser, staff.id)
                assert user is not None
                name = str(form.get("display_name", "")).strip()[:64]
                user.display_name = name or user.display_name
                wanted = str(form.get("language", ""))
                user.language = wanted if wanted in console.settings.languages else user.language
                user.languages = [
                    x for x in form.getlist("languages") if x in console.settings.languages
                ]
            console.audit(staff.id, "settings.profile")
            return console.go("/settings?saved=1")
        if what == "password":
            try:
                console.accounts.set_password(
                    staff.id, str(form.get("current", "")), str(form.get("new", ""))
                )
            except AccountError:
                notice = "password_failed"
            else:
                console.audit(staff.id, "settings.password")
                return console.go("/signin")
        if what == "totp_on":
            secret = str(form.get("secret", ""))
            if console.accounts.enable_totp(staff.id, secret, str(form.get("code", ""))):
                console.audit(staff.id, "settings.totp_on")
                return console.go("/settings?saved=1")
            notice, new_secret = "totp_failed", secret
        if what == "totp_off":
            console.accounts.disable_totp(staff.id)
            console.audit(staff.id, "settings.totp_off")
            return console.go("/settings?saved=1")
    elif request.query_params.get("totp") == "new" and not staff.has_totp:
        new_secret = totp.new_secret()
    if request.query_params.get("saved"):
        notice = notice or "saved"
    staff = console.staff(request) or staff
    return console.html(
        request,
        staff,
        "settings.html",
        notice=notice,
        new_secret=new_secret,
        totp_uri=totp.provisioning_uri(new_secret, staff.email, console.settings.org_name)
        if new_secret
        else "",
    )


def routes(console: Console) -> list[Route]:
    async def signin_view(request: Request) -> Response:
        return await signin(console, request)

    async def totp_view(request: Request) -> Response:
        return await second_factor(console, request)

    async def invite_view(request: Request) -> Response:
        return await invite(console, request)

    return [
        Route("/signin", signin_view, methods=["GET", "POST"]),
        Route("/totp", totp_view, methods=["GET", "POST"]),
        Route("/invite/{token}", invite_view, methods=["GET", "POST"]),
        Route("/signout", console.guard(signout), methods=["POST"]),
        Route("/settings", console.guard(settings), methods=["GET", "POST"]),
    ]
