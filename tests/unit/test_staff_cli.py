"""``bot staff list / reset-password / unlock / disable / enable`` on a SQLite file (issue #14
item 4): what each prints, what it changes, what it audits, and that admin accounts keep the
two-person rule exactly as ``bot staff add --role admin`` does."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import cli
from bot.console import account_changes
from bot.console.auth import AccountError, Accounts, digest
from bot.settings import get_settings
from bot.store import approvals
from bot.store.console_models import AuditEvent, StaffSession, StaffUser
from bot.store.content_models import PendingChange
from bot.store.crypto import Crypto
from bot.store.db import Database

PASSWORD = "a long test password 42"
WHEN = dt.datetime(2026, 11, 2, 9, 30)


class _Lines:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        return self.lines.pop(0) if self.lines else ""


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    address = f"sqlite:///{tmp_path / 'staff.sqlite3'}"
    monkeypatch.setenv("BOT_DATABASE_URL", address)
    monkeypatch.setenv("BOT_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("BOT_PUBLIC_URL", "https://help.example.org")
    get_settings.cache_clear()
    yield address
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdin", _Lines(stdin))
        code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def users(url: str) -> dict[str, StaffUser]:
    db = Database(url)
    try:
        with db.session() as s:
            found = {u.email: u for u in s.scalars(select(StaffUser))}
            s.expunge_all()
        return found
    finally:
        db.dispose()


def audit(url: str) -> list[tuple[str | None, str, dict[str, object]]]:
    db = Database(url)
    try:
        with db.session() as s:
            return [
                (e.staff_id, e.action, dict(e.detail or {}))
                for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
            ]
    finally:
        db.dispose()


def sessions_of(url: str, user_id: str) -> int:
    db = Database(url)
    try:
        with db.session() as s:
            return len(
                list(s.scalars(select(StaffSession).where(StaffSession.staff_id == user_id)))
            )
    finally:
        db.dispose()


def signed_in(url: str, email: str) -> str:
    """A console session for ``email`` (as the console starts one after sign-in)."""
    db = Database(url)
    try:
        accounts = Accounts(db, get_settings(), Crypto("k" * 40))
        user = users(url)[email]
        accounts.start_session(user.id, True)
        return user.id
    finally:
        db.dispose()


def team(capsys: pytest.CaptureFixture[str]) -> None:
    """Ana (the first admin: made at once), Bea (staff) and Cy (an invited supervisor)."""
    assert (
        run(
            capsys,
            "staff",
            "add",
            "ana@example.org",
            "--role",
            "admin",
            "--name",
            "Ana",
            stdin=PASSWORD,
        )[0]
        == 0
    )
    assert run(capsys, "staff", "add", "bea@example.org", "--name", "Bea", stdin=PASSWORD)[0] == 0
    code, _, _ = run(
        capsys, "staff", "add", "cy@example.org", "--role", "supervisor", "--name", "Cy", "--invite"
    )
    assert code == 0


def test_list_shows_state_and_never_a_secret(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    team(capsys)
    db = Database(url)
    with db.session() as s:
        for user in s.scalars(select(StaffUser)):
            user.created_at = WHEN
            if user.email == "bea@example.org":
                user.totp_secret_enc = Crypto("k" * 40).encrypt("JBSWY3DPEHPK3PXP")
                user.failed_logins = get_settings().console_free_attempts
            if user.email == "cy@example.org":
                user.active = False
    db.dispose()
    code, out, err = run(capsys, "staff", "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "email            role        active  locked  totp  password  created (UTC)",
        "ana@example.org  admin       yes     no      no    set       2026-11-02 09:30",
        "bea@example.org  staff       yes     yes     yes   set       2026-11-02 09:30",
        "cy@example.org   supervisor  no      no      no    invited   2026-11-02 09:30",
    ]
    stored = users(url)
    for user in stored.values():
        for secret in (user.password_hash, user.totp_secret_enc, user.invite_token_hash):
            assert secret is None or secret not in out


def test_reset_password_of_staff_is_a_one_time_link_that_ends_every_session(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    team(capsys)
    bea = signed_in(url, "bea@example.org")
    signed_in(url, "bea@example.org")
    assert sessions_of(url, bea) == 2
    code, out, err = run(capsys, "staff", "reset-password", "  Bea@Example.org ")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:2] == [
        "password reset: bea@example.org (the old password no longer works; every session of "
        "the account ended)",
        "one-time link (valid 72 hours):",
    ]
    link = re.fullmatch(r"https://help\.example\.org/console/invite/([\w-]+)", lines[2])
    assert link is not None and len(lines) == 3
    after = users(url)["bea@example.org"]
    assert after.password_hash is None and after.invite_token_hash == digest(link.group(1))
    assert sessions_of(url, bea) == 0
    assert audit(url)[-1] == (None, "staff.reinvite", {"user": bea})


def test_reset_password_of_an_admin_waits_for_a_second_admin(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    team(capsys)
    ana = signed_in(url, "ana@example.org")
    hash_before = users(url)["ana@example.org"].password_hash
    code, out, err = run(capsys, "staff", "reset-password", "ana@example.org")
    assert (code, err) == (0, "")
    assert out == (
        "proposed: new password for admin account ana@example.org\n"
        "change #1 waits for an admin: once an admin approves it in the console (Waiting for "
        "a second admin), it is done, and the console shows them the one-time link to send.\n"
    )
    assert users(url)["ana@example.org"].password_hash == hash_before  # nothing changed yet
    assert sessions_of(url, ana) == 1
    db = Database(url)
    with db.session() as s:
        (held,) = approvals.waiting(s)
        assert (held.kind, held.target, held.author) == (account_changes.REINVITE, ana, None)
    db.dispose()
    assert audit(url)[-1] == (
        None,
        "approval.propose",
        {"change": 1, "kind": "staff_reinvite", "user": ana},
    )


def test_disable_ends_sessions_enable_restores_and_the_last_admin_stays(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    team(capsys)
    bea = signed_in(url, "bea@example.org")
    assert run(capsys, "staff", "disable", "bea@example.org") == (
        0,
        "disabled: bea@example.org (every session of the account ended)\n",
        "",
    )
    assert users(url)["bea@example.org"].active is False and sessions_of(url, bea) == 0
    assert run(capsys, "staff", "disable", "bea@example.org") == (
        0,
        "already disabled: bea@example.org\n",
        "",
    )
    assert run(capsys, "staff", "enable", "bea@example.org") == (
        0,
        "enabled: bea@example.org\n",
        "",
    )
    assert users(url)["bea@example.org"].active is True
    code, out, err = run(capsys, "staff", "disable", "ana@example.org")
    assert (code, out) == (1, "")
    assert err == (
        "not disabled: the last active admin (with none left, the next admin account would be "
        "made without a second admin's approval); make another admin first\n"
    )
    assert users(url)["ana@example.org"].active is True
    assert run(capsys, "staff", "unlock", "nobody@example.org") == (
        1,
        "",
        "not unlocked: no account with this email\n",
    )
    assert [a[1] for a in audit(url)] == ["staff.deactivate", "staff.activate"]


def test_enabling_an_admin_is_proposed_while_another_admin_is_active(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    team(capsys)
    db = Database(url)
    with db.session() as s:  # Dan: an admin account from before, disabled
        dan = StaffUser(email="dan@example.org", display_name="Dan", role="admin", active=False)
        s.add(dan)
        s.flush()
        dan_id = dan.id
    db.dispose()
    code, out, err = run(capsys, "staff", "enable", "dan@example.org")
    assert (code, err) == (0, "")
    assert out == (
        "proposed: enable admin account dan@example.org\n"
        "change #1 waits for an admin: once an admin approves it in the console (Waiting for "
        "a second admin), it is done.\n"
    )
    assert users(url)["dan@example.org"].active is False
    db = Database(url)
    with db.session() as s:
        change = s.get(PendingChange, 1)
        assert change is not None
        assert (change.kind, change.target, change.status) == ("staff_activate", dan_id, "pending")
    db.dispose()


def test_unlock_clears_failed_sign_ins_and_code_delays(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    team(capsys)
    db = Database(url)
    with db.session() as s:
        bea = s.scalar(select(StaffUser).where(StaffUser.email == "bea@example.org"))
        assert bea is not None
        bea.failed_logins, bea.totp_failures = 9, 7
        bea.locked_until = bea.totp_failed_at = dt.datetime(2030, 1, 1)
        bea_id = bea.id
    db.dispose()
    code, out, err = run(capsys, "staff", "unlock", "bea@example.org")
    assert (code, err) == (0, "")
    assert out.startswith("unlocked: bea@example.org (failed sign-ins and code delays cleared;")
    after = users(url)["bea@example.org"]
    assert (after.failed_logins, after.totp_failures) == (0, 0)
    assert (after.locked_until, after.totp_failed_at) == (None, None)
    assert audit(url)[-1] == (None, "staff.unlock", {"user": bea_id})


def test_a_display_name_is_never_made_from_the_email(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:  # argparse: --name is required
        run(capsys, "staff", "add", "maria.lopez@example.org", stdin=PASSWORD)
    assert ended.value.code == 2
    assert "--name" in capsys.readouterr().err
    code, out, err = run(
        capsys, "staff", "add", "maria.lopez@example.org", "--name", "   ", stdin=PASSWORD
    )
    assert (code, out) == (1, "")
    assert err == "not created: a display name is needed (survivors see it): give --name\n"
    db = Database(url)
    db.migrate()
    assert users(url) == {}
    accounts = Accounts(db, get_settings(), Crypto("k" * 40))
    with pytest.raises(AccountError, match="a display name is needed"):
        accounts.create("maria.lopez@example.org", "staff", "", PASSWORD)
    with db.session() as s, pytest.raises(AccountError, match="a display name is needed"):
        account_changes.propose_invite(s, "maria.lopez@example.org", " ", [], "en", None)
    user, _ = accounts.create("maria.lopez@example.org", "staff", "  Maria   L ", PASSWORD)
    assert user.display_name == "Maria L"
    db.dispose()
