"""``bot staff add EMAIL --role ROLE``: create a console account.

The password is read from standard input (never from the command line, where it would sit in the
shell history and the process list); with ``--invite`` no password is asked and a one-time link is
printed instead, valid ``BOT_CONSOLE_INVITE_HOURS``.

An admin account is made at once only while the installation has no active admin (the bootstrap
exception); after that, ``--role admin`` proposes an invitation that an admin approves in the
console (docs/security.md, "Two people"). Someone with a shell on the server is beyond any rule
the console can enforce; the command line does not pretend otherwise, it only refuses to be the
easier way round it.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from bot.console.auth import ROLES, AccountError, Accounts
from bot.settings import Settings, get_settings
from bot.store.crypto import Crypto
from bot.store.db import Database


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    staff = sub.add_parser("staff", help="console accounts")
    actions = staff.add_subparsers(dest="staff_command", required=True)
    add = actions.add_parser("add", help="create an account (password from standard input)")
    add.add_argument("email")
    add.add_argument("--role", choices=ROLES, default="staff")
    add.add_argument("--name", default="", help="display name survivors see (default: the email)")
    add.add_argument(
        "--languages", default="", help="queues they answer, e.g. es,pt (default: all)"
    )
    add.add_argument("--console-language", default="en", help="the console's language for them")
    add.add_argument("--invite", action="store_true", help="print a one-time link instead")
    add.set_defaults(func=cmd_staff_add)


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

    settings = get_settings()
    db = Database(settings.sqlalchemy_url)
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
