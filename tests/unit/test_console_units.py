"""The console's and the handoff's small parts, without Rasa: TOTP, the outbound policy, the
summary, the audit guard, cookies, catalogs, the CLI. (The queue and the purge on both databases:
tests/integration/test_console_queue.py.)"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_settings
from sqlalchemy import select
from starlette.responses import Response

from bot.console import audit, totp
from bot.console.core import Console
from bot.console.i18n import ConsoleText, source_strings
from bot.handoff import card
from bot.handoff.card import Safety
from bot.handoff.policy import in_safe_hours, outbound
from bot.runtime import build_runtime
from bot.store.console_models import AuditEvent, StaffUser
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.models import (
    Conversation,
    HandoffRequest,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 30, 15, 0)  # a Monday, 15:00 UTC (naive, like the database)


# --- TOTP (RFC 6238 appendix B, SHA-1) ---


@pytest.mark.parametrize(
    "seconds,code",
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_totp_matches_the_rfc_vectors(seconds: int, code: str) -> None:
    assert totp.hotp(b"12345678901234567890", seconds // 30, digits=8) == code


def test_totp_codes_work_once_and_within_one_step() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = totp.verify(secret, totp.code_at(secret, now), None, now)
    assert step is not None
    assert totp.verify(secret, totp.code_at(secret, now), step, now) is None  # no replay
    assert totp.verify(secret, totp.code_at(secret, now - 30), None, now) is not None
    assert totp.verify(secret, totp.code_at(secret, now - 90), None, now) is None
    assert totp.verify(secret, "12345", None, now) is None
    assert totp.provisioning_uri(secret, "a@b.org", "Line").startswith("otpauth://totp/")


# --- when staff may write ---


def test_only_when_i_write_allows_replies_in_their_turn_only() -> None:
    safety = Safety()  # the defaults: no calls, only when they write
    assert safety.no_calls and safety.never_first
    inside = outbound(safety, "telegram", NOW - dt.timedelta(minutes=9), NOW, 10, "MX")
    assert inside.allowed and inside.reason == "turn"
    assert inside.until == NOW + dt.timedelta(minutes=1)
    outside = outbound(safety, "telegram", NOW - dt.timedelta(minutes=11), NOW, 10, "MX")
    assert not outside.allowed and outside.reason == "never_first"
    assert not outbound(safety, "telegram", None, NOW, 10, "MX").allowed


def test_whatsapp_window_and_safe_hours() -> None:
    free = Safety(never_first=False)
    recent = outbound(free, "whatsapp", NOW - dt.timedelta(hours=3), NOW, 10, "MX")
    assert recent.allowed and recent.whatsapp_until == NOW + dt.timedelta(hours=21)
    late = outbound(free, "whatsapp", NOW - dt.timedelta(hours=25), NOW, 10, "MX")
    assert not late.allowed and late.reason == "whatsapp_window"
    assert outbound(free, "telegram", NOW - dt.timedelta(hours=25), NOW, 10, "MX").allowed
    # After the window, with the person's own permission: the template, never past its expiry,
    # never against "only when I write" or their safe hours.
    ago = NOW - dt.timedelta(hours=25)
    week = NOW + dt.timedelta(days=7)
    reopen = outbound(free, "whatsapp", ago, NOW, 10, "MX", week)
    assert reopen.allowed and reopen.reason == "whatsapp_template" and reopen.until == week
    expired = outbound(free, "whatsapp", ago, NOW, 10, "MX", NOW - dt.timedelta(minutes=1))
    assert not expired.allowed and expired.reason == "whatsapp_window"
    only_when_i_write = outbound(Safety(never_first=True), "whatsapp", ago, NOW, 10, "MX", week)
    assert not only_when_i_write.allowed and only_when_i_write.reason == "never_first"
    evening_only = Safety(never_first=False, safe_hours="evening")
    assert outbound(evening_only, "whatsapp", ago, NOW, 10, "HT", week).reason == "safe_hours"
    # Haiti has one time zone (UTC-5 in November): 15:00 UTC is 10:00 there.
    mornings = Safety(never_first=False, safe_hours="morning")
    assert outbound(mornings, "telegram", None, NOW, 10, "HT").allowed
    evenings = Safety(never_first=False, safe_hours="evening")
    blocked = outbound(evenings, "telegram", None, NOW, 10, "HT")
    assert not blocked.allowed and blocked.reason == "safe_hours"
    assert not in_safe_hours("morning", None, NOW)  # unknown country: never outside a turn
    # Mexico spans several zones: every one must be inside the window.
    assert in_safe_hours("morning", "MX", NOW) is True
    assert in_safe_hours("night", "MX", dt.datetime(2026, 11, 30, 6, 30)) is True
    assert in_safe_hours("night", "MX", dt.datetime(2026, 11, 30, 13, 0)) is False


# --- the summary ---


def test_summary_changes_one_field_at_a_time() -> None:
    conv = Conversation(country="MX", needs=["legal"], crisis=False)
    req = HandoffRequest(country="MX", needs=["legal"], urgency=0, safety={})
    options = dict((key, payload) for key, payload in card.change_options(req, conv))
    assert "button_hide_country" in options and "button_safe_hours" not in options
    card.edit(req, conv, "country")
    card.edit(req, conv, "needs")
    card.edit(req, conv, "urgent")
    card.edit(req, conv, "first")
    card.edit(req, conv, "hours", "night")
    assert req.country is None and req.needs == [] and req.urgency == 1
    assert Safety.of(req) == Safety(no_calls=True, never_first=False, safe_hours="night")
    options = dict(card.change_options(req, conv))
    assert "button_show_country" in options and "button_safe_hours" in options
    card.edit(req, conv, "country")
    assert req.country == "MX"
    card.edit(req, conv, "hours", "not-a-range")
    assert Safety.of(req).safe_hours is None


def test_code_word_is_a_keyed_hash_of_the_folded_word() -> None:
    crypto = Crypto("k" * 40)
    stored = card.code_word_hash(crypto, "Girasol")
    assert "girasol" not in stored.lower()
    assert card.code_word_matches(crypto, stored, "  GIRASÓL! ")
    assert not card.code_word_matches(crypto, stored, "rosa")
    assert not card.code_word_matches(crypto, stored, "!!!")
    assert card.code_word_hash(Crypto("other" * 10), "Girasol") != stored


# --- the audit log refuses content ---


def test_audit_detail_takes_enumerated_values_only(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    db.migrate()
    with db.session() as s:
        audit.record(s, "u1", "case.transfer_queue", "c1", to_language="pt", held=True)
        with pytest.raises(ValueError):
            audit.record(s, "u1", "case.reply", "c1", text="hola, me llamo Rigoberta")
    with db.session() as s:
        (event,) = s.scalars(select(AuditEvent)).all()
        assert event.detail == {"to_language": "pt", "held": True}


# --- cookies behind TLS, catalogs ---


def test_cookies_are_secure_behind_tls(tmp_path: Path) -> None:
    runtime = build_runtime(make_settings(tmp_path, public_url="https://help.example.org"))
    try:
        response = Response()
        Console(runtime).set_session_cookie(response, "token")
        cookie = response.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    finally:
        runtime.db.dispose()


@pytest.mark.parametrize("lang", ["es", "pt", "fr"])
def test_console_strings_are_translated(lang: str) -> None:
    source = source_strings()
    text = ConsoleText([lang])
    assert text.missing(lang, source) == []
    for message in source:
        translated = text.tables[lang][message]
        assert set(re.findall(r"%\((\w+)\)s", translated)) == set(
            re.findall(r"%\((\w+)\)s", message)
        ), message
        assert "·" not in translated, message  # readable by screen readers
    assert text.gettext(lang)("With %(name)s", name="Ana") != "With Ana"


# --- bot staff add ---


def test_staff_add_reads_the_password_from_stdin_or_prints_an_invite(tmp_path: Path) -> None:
    env = dict(os.environ, BOT_DATA_DIR=str(tmp_path), BOT_SECRET_KEY="cli-test-key")
    cli = [sys.executable, "-m", "bot.cli", "staff", "add"]

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )

    made = run(
        "Ana@Example.org", "--role", "supervisor", "--name", "Ana", stdin="a good long password\n"
    )
    assert made.returncode == 0, made.stderr
    invited = run("bea@example.org", "--name", "Bea", "--invite", "--languages", "es,pt")
    assert invited.returncode == 0 and "/console/invite/" in invited.stdout
    short = run("cy@example.org", "--name", "Cy", stdin="short\n")
    assert short.returncode == 1 and "12" in short.stderr
    exists = run("ana@example.org", "--name", "Ana B", stdin="a good long password\n")
    assert exists.returncode == 1  # exists
    db = Database(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    with db.session() as s:
        users = {u.email: u for u in s.scalars(select(StaffUser))}
    db.dispose()
    assert users["ana@example.org"].role == "supervisor"
    assert users["ana@example.org"].password_hash.startswith("$argon2")  # type: ignore[union-attr]
    assert users["bea@example.org"].password_hash is None
    assert users["bea@example.org"].languages == ["es", "pt"]
    assert "cy@example.org" not in users
