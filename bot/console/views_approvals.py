"""The "Waiting for a second admin" page: every held change (directory entries a crisis reply
shows, country numbers, admin accounts) with what is live now beside what it would become, and
approve or reject. Who may approve is decided by ``bot/store/approvals.py``; a refusal says why.
Audited with the change's number and kind only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console import account_changes, audit
from bot.console.auth import Staff
from bot.console.core import Console
from bot.console.views_admin import invite_link
from bot.directory import changes as directory_changes
from bot.http_limits import client_int
from bot.store import approvals
from bot.store.approvals import ApprovalRefused
from bot.store.console_models import StaffUser
from bot.store.content_models import PendingChange


@dataclass
class Row:
    change: PendingChange
    diff: list[directory_changes.DiffRow]
    refusal: str  # why the viewer cannot approve it ("" when they can)


def _rows(console: Console, staff: Staff) -> tuple[list[Row], dict[str, str]]:
    with console.rt.db.session() as s:
        names = {u.id: u.display_name for u in s.scalars(select(StaffUser))}
        rows = []
        for change in approvals.waiting(s):
            if change.kind in account_changes.KINDS:
                diff = [
                    directory_changes.DiffRow(f, b, a)
                    for f, b, a in account_changes.describe(change)
                ]
            else:
                diff = directory_changes.diff(change)
            try:
                approvals.check_approver(s, change, staff.id)
                refusal = ""
            except ApprovalRefused as exc:
                refusal = exc.code
            rows.append(Row(change, diff, refusal))
    return rows, names


async def waiting(console: Console, request: Request, staff: Staff) -> Response:
    link, outcome = "", ""
    status = 200
    if request.method == "POST":
        form = await console.form(request, staff)
        if form is None:
            return console.error(request, staff, 403, "csrf")
        number = client_int(form.get("change"))
        action = str(form.get("action", ""))
        if number is None or action not in ("approve", "reject"):
            return console.error(request, staff, 400, "bad_request")
        try:
            token = decide(console, staff, number, action == "approve")
        except ApprovalRefused as exc:
            outcome, status = "refused_" + exc.code, 409
        else:
            outcome = "approved" if action == "approve" else "rejected"
            link = invite_link(console, token) if token else ""
    rows, names = _rows(console, staff)
    return console.html(
        request,
        staff,
        "approvals.html",
        status=status,
        rows=rows,
        names=names,
        outcome=outcome,
        link=link,
    )


def decide(console: Console, staff: Staff, number: int, approve: bool) -> str | None:
    """Approve (apply) or reject change ``number``; the invitation token of an approved
    invitation. Raises ApprovalRefused with the reason; a refusal is audited too. A directory
    change is applied, marked and audited in one transaction."""
    db = console.rt.db
    token: str | None = None
    try:
        with db.session() as s:
            change = s.get(PendingChange, number)
            if change is None:
                raise ApprovalRefused("no such change", "decided")
            kind = change.kind
            if not approve:
                approvals.decide(s, change, staff.id, approved=False)
                audit.record(s, staff.id, "approval.reject", change=number, kind=kind)
                return None
            approvals.check_approver(s, change, staff.id)
            if kind in directory_changes.KINDS:
                # Claimed first: a second approval at once finds it decided (one transaction,
                # so a change that cannot be applied is not decided either).
                approvals.decide(s, change, staff.id, approved=True)
                directory_changes.apply_pending(s, change)
                audit.record(s, staff.id, "approval.approve", change=number, kind=kind)
                return None
            s.expunge(change)
        # An account change goes through Accounts, which keeps its own transactions: the change
        # is claimed first (committed), so of two approvals at once only one applies it (one
        # link for a re-invitation, one audit row); if it cannot be applied, it waits again.
        with db.session() as s:
            live = s.get(PendingChange, number)
            assert live is not None
            approvals.decide(s, live, staff.id, approved=True)
        try:
            token = account_changes.apply(console.accounts, change, staff.id)
        except Exception:
            with db.session() as s:
                approvals.reopen(s, number, staff.id)
            raise
        with db.session() as s:
            audit.record(s, staff.id, "approval.approve", change=number, kind=kind)
    except ApprovalRefused as exc:
        console.audit(staff.id, "approval.refused", change=number, reason=exc.code)
        raise
    return token


def notice(console: Console, kind: str, target: str) -> dict[str, Any]:
    """For a page showing ``target``: the change waiting for it, if any (template ``pending``)."""
    with console.rt.db.session() as s:
        found = approvals.waiting_for(s, kind, target)
        return {"pending": found.id if found else None}


def routes(console: Console) -> list[Route]:
    return [
        Route("/approvals", console.guard(waiting, "admin"), methods=["GET", "POST"]),
    ]
