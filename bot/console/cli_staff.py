"""``bot staff``: console accounts from the server's shell (``add``, ``list``, ``reset-password``,
``unlock``, ``disable``, ``enable``).

``add`` creates an account; its display name (what survivors read when this person joins their
chat) is given with ``--name`` and never made from the email address.

The password is read from standard input (never from the command line, where it would sit in the
shell history and the process list); with ``--invite`` no password is asked and a one-time link is
printed instead, valid ``BOT_CONSOLE_INVITE_HOURS``.

An admin account is made at once only while the installation has no active admin (the bootstrap
exception); after that, ``--role admin`` proposes an invitation that an admin approves in the
console (docs/security.md, "Two people"). Someone with a shell on the server is beyond any rule
the console can enforce; the command line does not pretend otherwise, it only refuses to be the
easier way round it. The same holds for the other commands: re-inviting (``reset-password``),
re-enabling or disabling an admin account is proposed, not done, once an active admin exists;
disabling the last active admin is refused (it would reopen the bootstrap exception). Every change
is audited with no author (``staff_id`` empty: the command line), like the console's own actions.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from sqlalchemy import delete, select

from bot.console.auth import ROLES, AccountError, Accounts
from bot.settings import Settings, get_settings
from bot.store.crypto import Crypto
from bot.store.db import Database, DatabaseLimits


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    staff = sub.add_parser("staff", help="console accounts")
    actions = staff.add_subparsers(dest="staff_command", required=True)
    add = actions.add_parser("add", help="create an account (password from standard input)")
    add.add_argument("email")
    add.add_argument("--role", choices=ROLES, default="staff")
    add.add_argument(
        "--name",
        required=True,
        help="display name survivors see when this person joins a chat (never the email)",
    )
    add.add_argument(
        "--languages", default="", help="queues they answer, e.g. es,pt (default: all)"
    )
    add.add_argument("--console-language", default="en", help="the console's language for them")
    add.add_argument("--invite", action="store_true", help="print a one-time link instead")
    add.set_defaults(func=cmd_staff_add)
    listing = actions.add_parser("list", help="every account: role, state, second step, created")
    listing.set_defaults(func=cmd_staff_list)
    for name, command, text in (
        (
            "reset-password",
            cmd_staff_reset_password,
            "a one-time link to choose a new password; the old one and every session end "
            "(an admin account: proposed, approved by a second admin in the console)",
        ),
        ("unlock", cmd_staff_unlock, "clear the sign-in delays of an account"),
        (
            "disable",
            cmd_staff_disable,
            "the account can no longer sign in; its sessions end (an admin account: proposed, "
            "approved by a second admin in the console)",
        ),
        (
            "enable",
            cmd_staff_enable,
            "a disabled account can sign in again (an admin account: proposed, approved by a "
            "second admin in the console)",
        ),
    ):
        one = actions.add_parser(name, help=text)
        one.add_argument("email")
        one.set_defaults(func=command)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password (at least 12 characters): ")
        if getpass.getpass("Again: ") != first:
            raise AccountError("the two passwords are different")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def invite_url(settings: Settings, token: str) -> str:
    root = settings.public_url.rstrip("/") or settings.callback_url
    return f"{root}/console/invite/{token}"


def first_admin_invite(db: Database, settings: Settings) -> str | None:
    """On a fresh installation, create the first admin account and return its one-time link.

    Nobody can sign in to a new deployment otherwise; the link (not a password) is shown once, on
    the terminal of whoever started the server, and expires like any invitation.
    """
    from sqlalchemy import func, select

    from bot.store.console_models import StaffUser

    with db.session() as s:
        if s.scalar(select(func.count()).select_from(StaffUser)):
            return None
    accounts = Accounts(db, settings, Crypto(settings.key()))
    _user, token = accounts.create(
        "admin@localhost", "admin", "Admin", password=None, console_language="en"
    )
    return invite_url(settings, token) if token else None


def propose_admin(db: Database, args: argparse.Namespace) -> int:
    """An admin account when admins exist: an invitation waiting for an admin's approval in the
    console, which shows the one-time link to the approver (account_changes.py)."""
    from bot.console.account_changes import propose_invite
    from bot.console.audit import record

    try:
        with db.session() as s:
            change = propose_invite(
                s,
                args.email,
                args.name,
                [x.strip() for x in args.languages.split(",") if x.strip()],
                args.console_language,
                None,
            )
            record(s, None, "approval.propose", None, change=change.id, kind=change.kind)
            number = change.id
    except AccountError as exc:
        print(f"not proposed: {exc}", file=sys.stderr)
        return 1
    print(
        f"proposed: admin account {args.email.strip().lower()}\n"
        f"change #{number} waits for an admin: once an admin approves it in the console "
        "(Waiting for a second admin), the console shows them the one-time link to send."
    )
    return 0


def cmd_staff_add(args: argparse.Namespace) -> int:
    from bot.console.account_changes import needs_second_admin

    if not " ".join(args.name.split()):
        print(
            "not created: a display name is needed (survivors see it): give --name", file=sys.stderr
        )
        return 1
    settings = get_settings()
    db = Database(settings.sqlalchemy_url, DatabaseLimits.of(settings))
    db.migrate()
    if args.role == "admin":
        with db.session() as s:
            held = needs_second_admin(s)
        if held:  # only the first admin of an installation is made at once
            try:
                return propose_admin(db, args)
            finally:
                db.dispose()
    accounts = Accounts(db, settings, Crypto(settings.key()))
    try:
        password = None if args.invite else _read_password()
        user, token = accounts.create(
            args.email,
            args.role,
            args.name,
            password=password,
            languages=[x.strip() for x in args.languages.split(",") if x.strip()],
            console_language=args.console_language,
        )
    except AccountError as exc:
        print(f"not created: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"created {user.role} {user.email}")
    if token:
        print(f"one-time link (valid {settings.console_invite_hours} hours):")
        print(invite_url(settings, token))
    return 0


# --- list, reset-password, unlock, disable, enable ---


def _open() -> tuple[Settings, Database, Accounts]:
    settings = get_settings()
    db = Database(settings.sqlalchemy_url, DatabaseLimits.of(settings))
    db.migrate()
    return settings, db, Accounts(db, settings, Crypto(settings.key()))


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def cmd_staff_list(args: argparse.Namespace) -> int:
    """One line an account, never a secret: no hash, no token, no TOTP secret, no recovery code.

    "locked" says whether a sign-in would wait now: the second step's delay (kept in the
    database) or enough failed passwords in a row to be delayed (the delays themselves are kept in
    the running server's memory, per client address)."""
    from bot.store.console_models import StaffUser

    settings, db, accounts = _open()
    try:
        with db.session() as s:
            users = list(s.scalars(select(StaffUser).order_by(StaffUser.email)))
            rows = [
                (
                    u.email,
                    u.role,
                    _yes(u.active),
                    _yes(
                        accounts.code_wait(u) > 0
                        or (u.failed_logins or 0) >= settings.console_free_attempts
                    ),
                    _yes(u.totp_secret_enc is not None),
                    "set" if u.password_hash else "invited" if u.invite_token_hash else "none",
                    u.created_at.strftime("%Y-%m-%d %H:%M"),
                )
                for u in users
            ]
    finally:
        db.dispose()
    header = ("email", "role", "active", "locked", "totp", "password", "created (UTC)")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
    return 0


def _account(db: Database, email: str) -> tuple[str, str, bool] | None:
    """(id, role, active) of the account with this address, or None."""
    from bot.store.console_models import StaffUser

    with db.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
        return (user.id, user.role, user.active) if user is not None else None


def _on_account(
    args: argparse.Namespace,
    what: str,
    run: Callable[[Settings, Database, Accounts, str, str, bool], int],
) -> int:
    settings, db, accounts = _open()
    try:
        found = _account(db, args.email)
        if found is None:
            print(f"not {what}: no account with this email", file=sys.stderr)
            return 1
        return run(settings, db, accounts, *found)
    finally:
        db.dispose()


def _propose(db: Database, kind: str, user_id: str, email: str, what: str) -> int:
    """A change to an admin account, held for a second admin (account_changes.py)."""
    from bot.console.account_changes import propose_for_account
    from bot.console.audit import record

    with db.session() as s:
        change = propose_for_account(s, kind, user_id, None)
        record(s, None, "approval.propose", None, change=change.id, kind=change.kind, user=user_id)
        number = change.id
    print(
        f"proposed: {what} admin account {email}\n"
        f"change #{number} waits for an admin: once an admin approves it in the console "
        "(Waiting for a second admin), it is done"
        + (
            ", and the console shows them the one-time link to send."
            if kind.endswith("reinvite")
            else "."
        )
    )
    return 0


def cmd_staff_reset_password(args: argparse.Namespace) -> int:
    from bot.console.account_changes import REINVITE, needs_second_admin
    from bot.console.audit import record

    def run(
        settings: Settings, db: Database, accounts: Accounts, user_id: str, role: str, active: bool
    ) -> int:
        email = args.email.strip().lower()
        if not active:
            print("not reset: the account is disabled (enable it first)", file=sys.stderr)
            return 1
        if role == "admin":
            with db.session() as s:
                held = needs_second_admin(s)
            if held:
                return _propose(db, REINVITE, user_id, email, "new password for")
        token = accounts.new_invite(user_id)
        with db.session() as s:
            record(s, None, "staff.reinvite", None, user=user_id)
        print(
            f"password reset: {email} (the old password no longer works; every session of the "
            f"account ended)\none-time link (valid {settings.console_invite_hours} hours):\n"
            + invite_url(settings, token)
        )
        return 0

    return _on_account(args, "reset", run)


def cmd_staff_unlock(args: argparse.Namespace) -> int:
    from bot.console.audit import record

    def run(
        settings: Settings, db: Database, accounts: Accounts, user_id: str, role: str, active: bool
    ) -> int:
        accounts.unlock(user_id)
        with db.session() as s:
            record(s, None, "staff.unlock", None, user=user_id)
        print(
            f"unlocked: {args.email.strip().lower()} (failed sign-ins and code delays cleared; "
            "a running server forgets its in-memory password delays for this account when it "
            "restarts, or after BOT_CONSOLE_MAX_DELAY_SECONDS)"
        )
        return 0

    return _on_account(args, "unlocked", run)


def cmd_staff_disable(args: argparse.Namespace) -> int:
    from bot.console.account_changes import DEACTIVATE
    from bot.console.audit import record
    from bot.store import approvals
    from bot.store.console_models import StaffSession, StaffUser

    def run(
        settings: Settings, db: Database, accounts: Accounts, user_id: str, role: str, active: bool
    ) -> int:
        email = args.email.strip().lower()
        if not active:
            print(f"already disabled: {email}")
            return 0
        with db.session() as s:
            if role == "admin" and approvals.active_admins(s) <= 1:
                print(
                    "not disabled: the last active admin (with none left, the next admin "
                    "account would be made without a second admin's approval); make another "
                    "admin first",
                    file=sys.stderr,
                )
                return 1
        if role == "admin":
            # Taking an admin away is for two admins too: one admin, at the console or at the
            # shell, could otherwise remove the only people who could stop them.
            return _propose(db, DEACTIVATE, user_id, email, "disable")
        with db.session() as s:
            user = s.get(StaffUser, user_id)
            assert user is not None
            user.active = False
            s.execute(delete(StaffSession).where(StaffSession.staff_id == user_id))
            record(s, None, "staff.deactivate", None, user=user_id)
        print(f"disabled: {email} (every session of the account ended)")
        return 0

    return _on_account(args, "disabled", run)


def cmd_staff_enable(args: argparse.Namespace) -> int:
    from bot.console.account_changes import ACTIVATE, needs_second_admin
    from bot.console.audit import record
    from bot.store.console_models import StaffUser

    def run(
        settings: Settings, db: Database, accounts: Accounts, user_id: str, role: str, active: bool
    ) -> int:
        email = args.email.strip().lower()
        if active:
            print(f"already enabled: {email}")
            return 0
        if role == "admin":
            with db.session() as s:
                held = needs_second_admin(s)
            if held:
                return _propose(db, ACTIVATE, user_id, email, "enable")
        with db.session() as s:
            user = s.get(StaffUser, user_id)
            assert user is not None
            user.active = True
            record(s, None, "staff.activate", None, user=user_id)
        print(f"enabled: {email}")
        return 0

    return _on_account(args, "enabled", run)
