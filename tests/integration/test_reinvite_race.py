"""Two re-invitations of one account at once (a double click, two admins, two processes).

A re-invitation is a password reset: whoever opens its link holds the account. Two made at once
must leave one link that works and say so honestly, never two people each holding a link they
believe works; an approved re-invitation of an admin is applied once, with one audit row. Each
test runs the real code paths in two threads that meet at a barrier after both have read the
account (or the waiting change) and before either writes: real concurrency on the database,
SQLite and PostgreSQL, not two requests one after the other on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from kit import PASSWORD, Account, SignIn, clean_presence, csrf_of, signed_in, staff
from sqlalchemy import select

from bot.console import account_changes, auth, views_approvals
from bot.console.auth import AccountError, Accounts, Staff
from bot.console.core import Console
from bot.runtime import Runtime
from bot.store import approvals
from bot.store.approvals import ApprovalRefused
from bot.store.console_models import AuditEvent, StaffUser

__all__ = ["clean_presence", "signed_in", "staff"]  # fixtures used by name
pytestmark = pytest.mark.security


def meeting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> threading.Barrier:
    """Make ``module.name`` wait until two threads have called it, then run it in each."""
    barrier = threading.Barrier(2, timeout=10)
    original: Callable[..., Any] = getattr(module, name)

    def met(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, met)
    return barrier


def both(fn: Callable[[], Any]) -> list[Any]:
    """``fn`` in two threads at once; each result, or the exception it raised."""

    def catch() -> Any:
        try:
            return fn()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        return [f.result(30) for f in [pool.submit(catch), pool.submit(catch)]]


def audits(stack: Runtime, action: str, **detail: Any) -> int:
    with stack.db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return sum(all(e.detail.get(k) == v for k, v in detail.items()) for e in rows)


def new_account(stack: Runtime, role: str) -> tuple[Accounts, StaffUser]:
    accounts = Accounts(stack.db, stack.settings, stack.crypto)
    user, _ = accounts.create(f"race-{uuid.uuid4().hex[:8]}@example.org", role, "Race", PASSWORD)
    return accounts, user


async def test_two_reinvitations_at_once_leave_one_link_and_the_other_is_told(
    stack: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts, user = new_account(stack, "staff")
    # Both have read the account's current link when they meet, before either writes its own.
    meeting(monkeypatch, auth, "digest")
    results = both(lambda: accounts.new_invite(user.id))
    links = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, AccountError)]
    assert len(links) == 1 and len(refused) == 1, results
    assert str(refused[0]) == "reinvited at the same time"
    monkeypatch.undo()
    assert accounts.invited(links[0]) is not None
    # One after the other (no overlap), the second replaces the first: still one live link.
    first, second = accounts.new_invite(user.id), accounts.new_invite(user.id)
    assert accounts.invited(first) is None and accounts.invited(second) is not None


async def test_two_approvals_of_one_admin_reinvitation_at_once_make_one_link(
    stack: Runtime, staff: dict[str, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts, target = new_account(stack, "admin")
    _, third = new_account(stack, "admin")  # a second approver, made before the change
    with stack.db.session() as s:
        change = account_changes.propose_for_account(
            s, account_changes.REINVITE, target.id, staff["ada"].id
        )
        number = change.id
    console = Console(stack)

    def approver(account_id: str) -> Staff:
        return Staff(account_id, "", "", "admin", "en", [], "", "")

    approvers = iter([approver(staff["noa"].id), approver(third.id)])
    lock = threading.Lock()

    def approve() -> str | None:
        with lock:
            who = next(approvers)
        return views_approvals.decide(console, who, number, approve=True)

    # Both have found the change waiting, and may approve it, when they meet.
    meeting(monkeypatch, approvals, "check_approver")
    results = both(approve)
    monkeypatch.undo()
    links = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, ApprovalRefused)]
    assert len(links) == 1 and [r.code for r in refused] == ["decided"], results
    assert accounts.invited(links[0]) is not None
    assert audits(stack, "approval.approve", change=number) == 1
    assert audits(stack, "approval.refused", change=number, reason="decided") == 1
    with stack.db.session() as s:
        for user_id in (target.id, third.id):
            found = s.get(StaffUser, user_id)
            assert found is not None
            found.active = False


async def test_a_double_click_on_reinvite_shows_no_dead_link_as_live(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn
) -> None:
    """Over HTTP, two posts at once: every link shown was audited, and only the last works."""
    accounts, user = new_account(stack, "staff")
    ada: httpx.AsyncClient = await signed_in(staff["ada"].email)
    page = await ada.get("/accounts")
    form = {"csrf": csrf_of(page.text), "action": "reinvite", "user": user.id}
    answers = await asyncio.gather(
        ada.post("/accounts", data=form), ada.post("/accounts", data=form)
    )
    shown = [
        a.text.split('id="invite-link">', 1)[1].split("<", 1)[0]
        for a in answers
        if 'id="invite-link">' in a.text
    ]
    assert all(a.status_code == 200 for a in answers) and shown
    assert audits(stack, "staff.reinvite", user=user.id) == len(shown)
    live = [link for link in shown if accounts.invited(link.rsplit("/", 1)[1])]
    assert live == shown[-1:]
