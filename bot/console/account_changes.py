"""Who is an admin is decided by two admins: inviting an admin, re-inviting one (a password
reset: whoever opens the link holds the account), promoting an account to admin, reactivating an
admin account, and taking an admin's role or account away (demoting or deactivating) wait in
``pending_changes`` until a second admin approves (``bot/store/approvals.py`` says who may).
Otherwise one admin could make a second admin account and approve their own changes with it, or
remove the other admins, the only people who could stop them.

The one exception is the start: while no active admin exists (the first admin made by ``bot run``
on a fresh installation, or by ``bot staff add --role admin`` on an empty database) there is
nobody to ask, and the account is made at once.

An approved invitation or re-invitation makes its one-time link then, and shows it to the
approver only: the author never holds a link to an admin account by themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.console.auth import AccountError, Accounts, check_display_name
from bot.store import approvals
from bot.store.approvals import ApprovalRefused
from bot.store.console_models import StaffSession, StaffUser
from bot.store.content_models import PendingChange

INVITE = "staff_invite"
REINVITE = "staff_reinvite"
PROMOTE = "staff_promote"
ACTIVATE = "staff_activate"
DEMOTE = "staff_demote"
DEACTIVATE = "staff_deactivate"
KINDS = (INVITE, REINVITE, PROMOTE, ACTIVATE, DEMOTE, DEACTIVATE)


def needs_second_admin(session: Session) -> bool:
    """False only while no active admin exists (the bootstrap exception)."""
    return approvals.active_admins(session) > 0


def propose_invite(
    session: Session,
    email: str,
    display_name: str,
    languages: list[str],
    console_language: str,
    author: str | None,
) -> PendingChange:
    """An admin account to be invited once a second admin approves; the address is checked now
    (the same rules as ``Accounts.create``) so a mistake is told to its author, not the approver."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise AccountError("not an email address")
    if session.scalar(select(func.count()).where(StaffUser.email == email)):
        raise AccountError("an account with this email exists")
    display_name = check_display_name(display_name)
    payload = {
        "email": email,
        "role": "admin",
        "display_name": display_name,
        "languages": list(languages),
        "console_language": console_language,
    }
    return approvals.propose(session, INVITE, email, payload, None, author)


def propose_for_account(
    session: Session, kind: str, user_id: str, author: str | None, role: str | None = None
) -> PendingChange:
    """Re-invite, promote to admin, reactivate, demote (to ``role``) or deactivate the account
    ``user_id``, once approved."""
    if kind not in (REINVITE, PROMOTE, ACTIVATE, DEMOTE, DEACTIVATE):
        raise ValueError(kind)
    if kind == DEMOTE and role not in ("staff", "supervisor"):
        raise AccountError("role must be staff or supervisor")
    user = session.get(StaffUser, user_id)
    if user is None:
        raise AccountError("no such account")
    if user_id == author and kind in (DEMOTE, DEACTIVATE):
        raise AccountError("own role")
    before = {"email": user.email, "role": user.role, "active": user.active}
    payload: dict[str, Any] = {"email": user.email}
    if kind == PROMOTE:
        payload["role"] = "admin"
    elif kind == DEMOTE:
        payload["role"] = role
    elif kind == ACTIVATE:
        payload["active"] = True
    elif kind == DEACTIVATE:
        payload["active"] = False
    else:
        payload["password"] = "reset"
    return approvals.propose(session, kind, user_id, payload, before, author)


def apply(accounts: Accounts, change: PendingChange, approver: str) -> str | None:
    """Apply an approved account change (the approver was checked). Returns the one-time
    invitation token for an invitation or re-invitation. Raises ApprovalRefused "stale" when the
    account changed since the proposal, or "failed" when it cannot be made."""
    payload = change.payload
    if change.kind == INVITE:
        try:
            _user, token = accounts.create(
                payload["email"],
                "admin",
                payload["display_name"],
                password=None,
                languages=list(payload.get("languages") or []),
                console_language=str(payload.get("console_language") or "en"),
            )
        except AccountError as exc:
            raise ApprovalRefused(str(exc), "failed") from exc
        return token
    with accounts.db.session() as s:
        user = s.get(StaffUser, change.target)
        before = change.before or {}
        if user is None or (user.email, user.role, user.active) != (
            before.get("email"),
            before.get("role"),
            before.get("active"),
        ):
            raise ApprovalRefused("the account changed since this proposal", "stale")
        if change.kind == ACTIVATE:
            user.active = True
            return None
        if change.kind in (DEMOTE, DEACTIVATE):
            others = approvals.active_admins(s) - (1 if user.active and user.role == "admin" else 0)
            if others < 1:
                # Never the last one: with none left, the next admin would be made at once.
                raise ApprovalRefused("the last active admin", "failed")
            if change.kind == DEMOTE:
                user.role = str(payload["role"])
            else:
                user.active = False
            # What a session may do was decided at sign-in: it ends now.
            s.execute(delete(StaffSession).where(StaffSession.staff_id == user.id))
            return None
    if change.kind == PROMOTE:
        accounts.change(change.target, approver, role="admin")
        return None
    return accounts.new_invite(change.target)


def describe(change: PendingChange) -> list[tuple[str, str, str]]:
    """(field, before, after) rows for the approver."""
    before = change.before or {}
    payload = change.payload
    if change.kind == INVITE:
        return [
            ("email", "—", payload["email"]),
            ("role", "—", "admin"),
            ("display_name", "—", payload["display_name"]),
        ]
    rows = [("email", str(before.get("email", "")), str(payload.get("email", "")))]
    if change.kind in (PROMOTE, DEMOTE):
        rows.append(("role", str(before.get("role", "")), str(payload.get("role", ""))))
    elif change.kind == ACTIVATE:
        rows.append(("active", "no", "yes"))
    elif change.kind == DEACTIVATE:
        rows.append(("active", "yes", "no"))
    else:
        rows.append(("password", "—", "reset"))
    return rows
