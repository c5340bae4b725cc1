"""Signing in and out, the second factor, invitations, and each person's own settings."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console import presence, totp
from bot.console.auth import AccountError, Staff
from bot.console.core import Console
from bot.console.security import same_origin, token_ok
from bot.http_limits import Busy
from bot.store.console_models import StaffUser


def _pre_form(console: Console, request: Request, template: str, **context: Any) -> Response:
    """A form shown before a session exists, protected by a double-submit CSRF cookie."""
    token = secrets.token_urlsafe(24)
    status = int(context.pop("status", 200))
    response = console.html(request, None, template, status=status, csrf=token, **context)
    console.set_pre_cookie(response, token)
    return response


async def signin(console: Console, request: Request) -> Response:
    if request.method == "GET":
        if console.staff(request) is not None:
            return console.go("/queue")
        return _pre_form(console, request, "signin.html", failed=False, notice="", wait=0)
    limited = console.too_many(request)  # before the body is read
    if limited is not None:
        return limited
    form = await request.form()
    pre = request.cookies.get(console.pre_cookie)
    if not same_origin(request) or not token_ok(pre, form.get("csrf")):
        return console.error(request, None, 403, "csrf")
    try:
        result = await console.slow(
            console.accounts.sign_in,
            str(form.get("email", "")),
            str(form.get("password", "")),
            console.address(request),
        )
    except Busy:
        return console.busy(request)
    if not result.ok or result.user_id is None:
        console.audit(result.user_id, "signin.delayed" if result.wait else "signin.failed")
        wait = int(result.wait + 0.999)
        return _pre_form(console, request, "signin.html", failed=True, notice="", wait=wait)
    second_step = result.needs_totp or result.enrol_totp
    token = console.accounts.start_session(result.user_id, second_factor_ok=not second_step)
    response = console.go("/totp" if second_step else "/queue")
    console.set_session_cookie(response, token)
    console.drop_cookie(response, console.pre_cookie)
    if not second_step:
        staff = console.accounts.load(token)
        assert staff is not None
        presence.set_available(console.rt.db, console.rt.events, staff, True)
        console.audit(staff.id, "signin")
    return response


def _enrol_page(
    console: Console, request: Request, staff: Staff, failed: bool = False, status: int = 200
) -> Response:
    """The role needs a second step this person has not set up: a secret made here, shown once."""
    secret = console.accounts.pending_totp(staff.id) or console.accounts.start_totp(staff.id)
    return console.html(
        request,
        staff,
        "totp.html",
        status=status,
        failed=failed,
        wait=0,
        enrol=True,
        secret=secret,
        totp_uri=totp.provisioning_uri(secret, staff.email, console.settings.org_name),
        codes=[],
    )


async def second_factor(console: Console, request: Request) -> Response:
    if request.method == "POST":
        limited = console.too_many(request)
        if limited is not None:
            return limited
    staff = console.staff(request, partial=True)
    if staff is None:
        return console.go("/signin")
    if staff.extra.get("second_factor_ok"):
        return console.go("/queue")
    enrol = not staff.has_totp
    if enrol and not console.accounts.totp_required(staff.role):
        return console.go("/signin")
    if request.method == "GET":
        if enrol:
            return _enrol_page(console, request, staff)
        return console.html(request, staff, "totp.html", failed=False, wait=0, enrol=False)
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    code = str(form.get("code", ""))[:64]
    codes: list[str] = []
    if enrol:
        confirmed = console.accounts.confirm_totp(staff.id, code)
        if confirmed is None:
            return _enrol_page(console, request, staff, failed=True)
        codes = confirmed
        console.audit(staff.id, "settings.totp_on")
    else:
        check = console.accounts.check_totp(staff.id, code)
        if not check.ok:
            console.audit(staff.id, "signin.totp_failed")
            wait = int(check.wait + 0.999)
            return console.html(request, staff, "totp.html", failed=True, wait=wait, enrol=False)
    token = console.accounts.second_factor_done(console.session_token(request))
    full = console.accounts.load(token)
    assert full is not None
    presence.set_available(console.rt.db, console.rt.events, full, True)
    console.audit(full.id, "signin")
    if codes:  # shown once, on the page that finishes setting up the second step
        response: Response = console.html(request, full, "recovery_codes.html", codes=codes)
    else:
        response = console.go("/queue")
    console.set_session_cookie(response, token)
    return response


async def signout(console: Console, request: Request, staff: Staff) -> Response:
    if await console.form(request, staff) is None:
        return console.error(request, staff, 403, "csrf")
    console.accounts.end_session(console.session_token(request))
    presence.sign_out(console.rt.db, console.rt.events, staff.id)
    console.audit(staff.id, "signout")
    response = console.go("/signin")
    console.drop_cookie(response, console.session_cookie)
    return response


async def invite(console: Console, request: Request) -> Response:
    if request.method == "POST":
        limited = console.too_many(request)  # invitation tokens are not for guessing either
        if limited is not None:
            return limited
    token = str(request.path_params["token"])
    user = console.accounts.invited(token)
    if user is None:
        return console.error(request, None, 404, "invite")
    if request.method == "GET":
        return _pre_form(console, request, "invite.html", email=user.email, problem="")
    form = await request.form()
    pre = request.cookies.get(console.pre_cookie)
    if not same_origin(request) or not token_ok(pre, form.get("csrf")):
        return console.error(request, None, 403, "csrf")
    password = str(form.get("password", ""))
    problem = "mismatch" if password != str(form.get("again", "")) else ""
    if not problem:
        try:
            await console.slow(console.accounts.accept_invite, token, password)
        except AccountError:
            problem = "short"
        except Busy:
            return console.busy(request)
    if problem:
        return _pre_form(console, request, "invite.html", email=user.email, problem=problem)
    console.audit(user.id, "invite.accepted")
    response = _pre_form(console, request, "signin.html", failed=False, notice="invite", wait=0)
    return response


async def settings(console: Console, request: Request, staff: Staff) -> Response:
    notice = ""
    new_secret = ""
    codes: list[str] = []
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
                # Only among the languages an admin gave the account (none: any); the queues of
                # their teams come on top of these, never through this form.
                allowed = staff.own_languages or list(console.settings.languages)
                ticked = [x for x in form.getlist("languages") if x in allowed]
                user.languages = ticked or list(staff.own_languages)
            console.audit(staff.id, "settings.profile")
            return console.go("/settings?saved=1")
        try:
            if what == "password":
                try:
                    await console.slow(
                        console.accounts.set_password,
                        staff.id,
                        str(form.get("current", "")),
                        str(form.get("new", "")),
                    )
                except AccountError:
                    notice = "password_failed"
                else:
                    console.audit(staff.id, "settings.password")
                    return console.go("/signin")
            if what in ("totp_new", "totp_off"):
                # A session cookie alone never changes the second step: the password and, when
                # one is set, a current code.
                check = await console.slow(
                    console.accounts.reauthenticate,
                    staff.id,
                    str(form.get("password", "")),
                    str(form.get("code", ""))[:64],
                )
                if not check.ok:
                    notice = "reauth_failed"
                elif what == "totp_off" and console.accounts.totp_required(staff.role):
                    notice = "totp_required"
                elif what == "totp_off":
                    console.accounts.disable_totp(staff.id)
                    console.audit(staff.id, "settings.totp_off")
                    return console.go("/settings?saved=1")
                else:
                    new_secret = console.accounts.start_totp(staff.id)
            if what == "totp_confirm":
                confirmed = console.accounts.confirm_totp(staff.id, str(form.get("code", ""))[:64])
                if confirmed is None:
                    notice, new_secret = "totp_failed", console.accounts.pending_totp(staff.id)
                else:
                    codes = confirmed
                    console.audit(staff.id, "settings.totp_on")
        except Busy:
            return console.busy(request)
    if request.query_params.get("saved"):
        notice = notice or "saved"
    staff = console.staff(request) or staff
    if codes:
        return console.html(request, staff, "recovery_codes.html", codes=codes)
    return console.html(
        request,
        staff,
        "settings.html",
        notice=notice,
        new_secret=new_secret,
        totp_required=console.accounts.totp_required(staff.role),
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
