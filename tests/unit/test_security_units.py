"""The small parts of docs/security.md, one by one (``-m security``): delays that grow instead of
locks, numbers from clients, lone surrogates, spreadsheet formulas, nested JSON, old deliveries,
passwords of spaces, the TOTP code parser, the child process for CPU work, client disconnects."""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import logging
import os
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from fakes import fixture
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from bot.channels.base import loads_object
from bot.channels.whatsapp import parse, too_old
from bot.console import totp
from bot.console.auth import AccountError, Accounts, Throttle, check_password, delay_after
from bot.conversation import rate as rate_module
from bot.conversation.rate import ContactRate, Verdict
from bot.directory.hsds.csv_tables import csv_text, from_tables
from bot.http_limits import BodyLimits, Busy, ProcessPool, RateLimiter, client_int
from bot.settings import Settings
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.types import Inbound

pytestmark = pytest.mark.security


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_delays_grow_and_are_capped_never_a_lock(tmp_path: Path) -> None:
    assert [delay_after(n, 5, 300) for n in range(4, 12)] == [0, 2, 4, 8, 16, 32, 64, 128]
    assert delay_after(40, 5, 300) == 300
    clock = Clock()
    db = Database(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    db.migrate()
    throttle = Throttle(db, Crypto("k" * 32), clock)
    key = ("a@example.org", "10.0.0.1")
    for _ in range(6):
        throttle.failed(key, 300)
    assert throttle.wait(key, 5, 300) == 4
    assert throttle.wait(("a@example.org", "10.0.0.2"), 5, 300) == 0  # another place
    clock.now += 4
    assert throttle.wait(key, 5, 300) == 0  # waited: a try is allowed, the account never locked
    db.dispose()


def test_a_right_password_does_not_reset_the_code_count(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, database_url="")
    db = Database(settings.sqlalchemy_url)
    db.migrate()
    clock = Clock()
    accounts = Accounts(db, settings, Crypto(settings.key()), clock=clock)
    user, _ = accounts.create("t@example.org", "staff", "T", "a long test password 42")
    secret = accounts.start_totp(user.id)
    assert accounts.confirm_totp(user.id, totp.code_at(secret, clock.now - 30)) is not None
    for _ in range(settings.console_free_attempts):
        assert not accounts.check_totp(user.id, "000000").ok
        assert accounts.sign_in("t@example.org", "a long test password 42").ok
    held = accounts.check_totp(user.id, totp.code_at(secret, clock.now))
    assert not held.ok and held.wait == 2
    clock.now += 2
    assert accounts.check_totp(user.id, totp.code_at(secret, clock.now)).ok
    db.dispose()


def test_rate_limiter_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.take("ip", 2) for _ in range(2)] == [0, 0]
    assert limiter.take("ip", 2) == pytest.approx(30)
    clock.now += 30
    assert limiter.take("ip", 2) == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("²", None),
        ("٣", None),
        ("9" * 5000, None),
        ("99999999999", None),
        ("-1", None),
        ("", None),
        (None, None),
        ("1e3", None),
    ],
)
def test_numbers_from_clients(given: object, expected: int | None) -> None:
    assert client_int(given) == expected


def test_totp_codes_are_ascii_digits_only() -> None:
    secret = totp.new_secret()
    assert totp.verify(secret, "²" * 6, None) is None  # was a TypeError, a 500


def test_a_lone_surrogate_becomes_a_replacement_character() -> None:
    inbound = Inbound("whatsapp", "u1", "m1", text="hola \ud800 ayuda 😀")
    assert inbound.text == "hola \ufffd ayuda 😀"
    assert inbound.text.encode()  # storable and encryptable


def test_spreadsheet_formulas_are_defused_and_come_back_unchanged() -> None:
    rows = [
        {"id": "s1", "name": '=HYPERLINK("http://evil.example","Call")', "phone": "+52 55 1234"},
        {"id": "s2", "name": "@SUM(A1)", "phone": "-3"},
    ]
    text = csv_text(rows)
    read = list(csv.DictReader(io.StringIO(text)))
    assert read[0]["name"].startswith("'=") and read[1]["name"].startswith("'@")
    assert read[0]["phone"] == "+52 55 1234"  # a number has nothing to run: left readable
    services, _ = from_tables({"organization": [], "service": read})
    assert [s["name"] for s in services] == [r["name"] for r in rows]


def test_nested_json_is_refused_not_a_crash() -> None:
    with pytest.raises(ValueError):
        loads_object(b"[" * 100_000 + b"]" * 100_000)


def test_old_signed_whatsapp_messages_are_dropped() -> None:
    data = copy.deepcopy(fixture("whatsapp_inbound_text_pywa.json"))
    value = data["entry"][0]["changes"][0]["value"]
    phone_id = value["metadata"]["phone_number_id"]
    message = value["messages"][0]
    message["timestamp"] = str(int(time.time()) - 90 * 86400)
    (old,), _ = parse(data, phone_id)
    assert too_old(old)
    message["timestamp"] = str(int(time.time()) - 60)
    (recent,), _ = parse(data, phone_id)
    assert not too_old(recent)
    message["timestamp"] = "²" * 5  # was a ValueError
    (odd,), _ = parse(data, phone_id)
    assert odd.sent_at is None and not too_old(odd)


@pytest.mark.parametrize("password", [" " * 12, " " * 30, "  short pw  ", "ok\ud800" * 5])
def test_passwords_of_spaces_or_unstorable_text_are_refused(password: str) -> None:
    with pytest.raises(AccountError):
        check_password(password)


def test_the_contact_rate_limit_counts_per_contact_per_window_and_says_so_once() -> None:
    now = [1000.0]
    rate = ContactRate(3, 60, clock=lambda: now[0])
    assert [rate.count("a") for _ in range(3)] == [Verdict()] * 3
    assert rate.count("b") == Verdict()  # another person has their own count
    assert rate.count("a") == Verdict(over=True, note=True)
    assert rate.count("a") == Verdict(over=True, note=True)  # not told yet: still due
    rate.told("a")
    assert rate.count("a") == Verdict(over=True, note=False)
    now[0] += 59.9
    assert rate.count("a") == Verdict(over=True, note=False)
    now[0] += 0.1  # the window ended: a new one, with a new note if needed
    assert [rate.count("a") for _ in range(4)] == [Verdict()] * 3 + [Verdict(True, True)]
    rate.forget("a")  # erased: the count goes too
    assert rate.count("a") == Verdict()


def test_a_message_tried_again_after_waiting_for_rasa_counts_once() -> None:
    # The durable inbox runs a turn again when Rasa was away the first time (nothing written):
    # waiting must not use up the person's limit and get their message dropped.
    rate = ContactRate(2, 60, clock=lambda: 1000.0)
    assert [rate.count("a", "m1") for _ in range(10)] == [Verdict()] * 10
    assert rate.count("a", "m2") == Verdict()
    assert rate.count("a", "m3") == Verdict(over=True, note=True)


def test_the_contact_rate_limit_is_off_at_zero_and_bounded_in_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    off = ContactRate(0, 60)
    assert all(off.count("a") == Verdict() for _ in range(1000))
    monkeypatch.setattr(rate_module, "MAX_TRACKED", 10)
    now = [0.0]
    rate = ContactRate(1, 60, clock=lambda: now[0])
    for n in range(10):
        rate.count(f"old-{n}")
    now[0] = 61.0  # their windows ended: a newcomer makes room by dropping them
    rate.count("new")
    assert set(rate._windows) == {"new"}
    for n in range(20):  # all running: the oldest half goes, the table never passes the bound
        rate.count(f"busy-{n}")
        assert len(rate._windows) <= 10


# --- CPU work off the event loop's interpreter ---


def _pid_and_nice() -> tuple[int, int]:
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)


def _crash() -> None:
    os._exit(3)  # a child that dies mid-job (out of memory, a crash in C)


async def test_import_checks_run_in_a_child_process_at_low_priority_and_bounded() -> None:
    """A thread parsing an HSDS file held the interpreter's lock, so crisis replies waited behind
    it; the pool's work runs in another process (its own interpreter), niced, never more than
    its bound at once, and a child that dies is replaced."""
    pool = ProcessPool(1, queue=1)
    try:
        pid, nice = await pool.run(_pid_and_nice)
        assert pid != os.getpid() and nice >= os.getpriority(os.PRIO_PROCESS, 0) + 1
        slow = [asyncio.create_task(pool.run(time.sleep, 0.5)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Busy):
            await pool.run(time.sleep, 0)  # one running, one waiting: the third is refused
        await asyncio.gather(*slow)
        with pytest.raises(BrokenProcessPool):
            await pool.run(_crash)
        again, _ = await pool.run(_pid_and_nice)
        assert again not in (pid, os.getpid())
    finally:
        pool.shutdown()


async def test_a_client_that_leaves_mid_body_is_not_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Client disconnects flooded the log at ERROR with a trace; they are logged at INFO."""

    async def view(scope: Scope, receive: Receive, send: Send) -> None:
        await Request(scope, receive).body()

    app = BodyLimits(view, default_bytes=1024, timeout_seconds=lambda: 5.0)
    scope: Scope = {"type": "http", "method": "POST", "path": "/console/signin", "headers": []}

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent to a client that left")

    with caplog.at_level(logging.INFO, logger="bot.http"):
        await app(scope, receive, send)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "client went away")
    ]
