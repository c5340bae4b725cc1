"""The two-person rule, as one mechanism: a change proposed by one admin waits in
``pending_changes`` until a second admin approves it (docs/security.md, "Two people").

What is held, and how it is applied, belongs to the layer that owns the data (the directory's
crisis entries and country numbers in ``bot/directory/changes.py``, admin accounts in
``bot/console/account_changes.py``); the rules of who may decide live here, once:

- the author cannot approve their own change;
- only an active admin can approve, and only with an account made before the change was proposed
  (otherwise one admin could invite a second account and approve with it);
- a change is decided once; a newer proposal for the same target supersedes an older one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bot.store.console_models import StaffUser
from bot.store.content_models import PendingChange
from bot.store.models import utcnow

PENDING = "pending"


class ApprovalRefused(Exception):
    """This person cannot decide this change; ``code`` says why for the console: "decided" (not
    waiting any more), "own" (the author), "not_admin", "newer" (an account made after the
    change), "stale" (what it changes was changed since) or "failed" (it cannot be applied)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def existed_before(session: Session, staff_id: str, when: dt.datetime) -> bool:
    """Whether the account ``staff_id`` was made before ``when`` (a second person who is really a
    second person, not an account made for the occasion)."""
    created = session.scalar(select(StaffUser.created_at).where(StaffUser.id == staff_id))
    return created is not None and created < when


def active_admins(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(StaffUser)
            .where(StaffUser.role == "admin", StaffUser.active.is_(True))
        )
        or 0
    )


def propose(
    session: Session,
    kind: str,
    target: str,
    payload: dict[str, Any],
    before: dict[str, Any] | None,
    author: str | None,
) -> PendingChange:
    """Hold a change. An earlier proposal for the same target is superseded: the approver sees
    one proposal per target, the newest, and its diff against what is live now."""
    for older in session.scalars(
        select(PendingChange).where(
            PendingChange.kind == kind,
            PendingChange.target == target,
            PendingChange.status == PENDING,
        )
    ):
        older.status, older.decided_at = "superseded", utcnow()
    change = PendingChange(
        kind=kind, target=target, payload=payload, before=before, author=author, status=PENDING
    )
    session.add(change)
    session.flush()
    return change


def waiting(session: Session, kinds: tuple[str, ...] | None = None) -> list[PendingChange]:
    """Every change waiting, oldest first (the one that waits longest is seen first)."""
    query = select(PendingChange).where(PendingChange.status == PENDING)
    if kinds is not None:
        query = query.where(PendingChange.kind.in_(kinds))
    return list(session.scalars(query.order_by(PendingChange.id)))


def waiting_for(session: Session, kind: str, target: str) -> PendingChange | None:
    return session.scalars(
        select(PendingChange)
        .where(
            PendingChange.kind == kind,
            PendingChange.target == target,
            PendingChange.status == PENDING,
        )
        .order_by(PendingChange.id.desc())
    ).first()


def count_waiting(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(PendingChange).where(PendingChange.status == PENDING)
        )
        or 0
    )


def check_approver(session: Session, change: PendingChange, approver: str) -> None:
    """Raise ApprovalRefused unless ``approver`` may approve ``change`` now."""
    if change.status != PENDING:
        raise ApprovalRefused("this change is not waiting for approval", "decided")
    if change.author is not None and approver == change.author:
        raise ApprovalRefused("a second admin must approve this change", "own")
    user = session.get(StaffUser, approver)
    if user is None or not user.active or user.role != "admin":
        raise ApprovalRefused("only an admin can approve this change", "not_admin")
    if not existed_before(session, approver, change.created_at):
        # Otherwise one admin could invite a second account and approve their own change with it.
        raise ApprovalRefused("an account made after this change cannot approve it", "newer")


def decide(session: Session, change: PendingChange, who: str, approved: bool) -> None:
    """Record the decision: who and when. Rejecting needs no second person (it changes nothing
    live), so the author may withdraw their own proposal.

    A compare-and-set on the row (``status`` still pending), not a read then a write: of two
    decisions at once (a double click, two admins, two processes), one wins and the other is
    refused as "decided", whatever the database's isolation; on PostgreSQL the second waits for
    the first's row lock and then finds nothing pending."""
    status = "approved" if approved else "rejected"
    done = session.execute(
        update(PendingChange)
        .where(PendingChange.id == change.id, PendingChange.status == PENDING)
        .values(status=status, approver=who, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise ApprovalRefused("this change is not waiting for approval", "decided")
    for key, value in (("status", status), ("approver", who), ("decided_at", utcnow())):
        set_committed_value(change, key, value)  # as written; nothing more to flush


def reopen(session: Session, change_id: int, who: str) -> None:
    """Undo ``who``'s approval of a change that could not be applied (it waits again)."""
    session.execute(
        update(PendingChange)
        .where(
            PendingChange.id == change_id,
            PendingChange.status == "approved",
            PendingChange.approver == who,
        )
        .values(status=PENDING, approver=None, decided_at=None)
        .execution_options(synchronize_session=False)
    )
