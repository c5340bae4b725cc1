"""The console's growing sign-in delays are kept in the database: two processes (two
``Accounts`` on one database, each with its own objects and connections) count the same failed
passwords, a right password clears them, tries sent at once are each counted, the table holds
no address in clear, and the purge job forgets a pair that stopped trying. On SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import _create_database, _drop_database, _require_postgres
from sqlalchemy import select

from bot.console.auth import SIGNIN_FAILURES_KEPT, Accounts, purge_signin_failures
from bot.settings import Settings
from bot.store.console_models import SignInFailure
from bot.store.crypto import Crypto
from bot.store.db import Database

EMAIL, PASSWORD = "ana@example.org", "a long test password 42"
ADDRESS = "203.0.113.9"


class Clock:
    """One clock for both "processes" (the database's rows carry its times)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'signin.sqlite3'}"
        return
    _require_postgres()
    database = _create_database()
    yield database
    _drop_database(database)


@pytest.fixture
def processes(url: str, tmp_path: Path) -> Iterator[tuple[Accounts, Accounts, Clock]]:
    settings = Settings(
        data_dir=tmp_path, secret_key="k" * 32, database_url=url, console_free_attempts=3
    )
    clock = Clock()
    first, second = Database(url), Database(url)
    first.migrate()
    one = Accounts(first, settings, Crypto(settings.key()), clock=clock)
    two = Accounts(second, settings, Crypto(settings.key()), clock=clock)
    one.create(EMAIL, "staff", "Ana", PASSWORD)
    yield one, two, clock
    first.dispose()
    second.dispose()


def test_two_processes_share_the_delay_and_a_right_password_clears_it(
    processes: tuple[Accounts, Accounts, Clock],
) -> None:
    one, two, clock = processes
    # Three free tries, spread over both processes, then a wait of 2 s, also in the other one.
    assert not one.sign_in(EMAIL, "wrong password one", ADDRESS).ok
    assert not two.sign_in(EMAIL, "wrong password two", ADDRESS).ok
    third = one.sign_in(EMAIL, "wrong password three", ADDRESS)
    assert not third.ok and third.wait == 2
    held = two.sign_in(EMAIL, PASSWORD, ADDRESS)  # even the right password waits
    assert not held.ok and held.wait == 2
    assert two.sign_in(EMAIL, PASSWORD, "198.51.100.4").ok  # someone elsewhere is not delayed
    clock.now += 2
    fourth = two.sign_in(EMAIL, "wrong password four", ADDRESS)
    assert not fourth.ok and fourth.wait == 4  # twice as long, counted across both
    clock.now += 4
    assert one.sign_in(EMAIL, PASSWORD, ADDRESS).ok
    # Cleared: the next failures start again from the free tries, in either process.
    assert one.sign_in(EMAIL, "wrong again", ADDRESS).wait == 0
    assert two.throttle.wait((EMAIL, ADDRESS), 3, 300) == 0


def test_tries_sent_at_once_are_each_counted(processes: tuple[Accounts, Accounts, Clock]) -> None:
    one, two, _ = processes
    with ThreadPoolExecutor(4) as pool:
        tries = list(
            pool.map(
                lambda n: (one, two)[n % 2].sign_in(EMAIL, f"wrong password {n}", ADDRESS),
                range(8),
            )
        )
    # However they interleave, no more than the free tries got through to a password check.
    checked = [t for t in tries if t.user_id is not None]
    assert len(checked) == 3
    assert all(not t.ok for t in tries)


def test_a_first_try_is_inserted_once(processes: tuple[Accounts, Accounts, Clock]) -> None:
    # The second process's insert of the same pair does nothing and says so (PostgreSQL's
    # driver reports no row count for it: trusting one let a fourth try through, seen in CI).
    one, two, clock = processes
    now = dt.datetime.fromtimestamp(clock.now, dt.UTC).replace(tzinfo=None)
    pair = one.throttle._pair((EMAIL, ADDRESS))
    with one.db.session() as s:
        assert one.throttle._insert(s, pair, EMAIL, now)
    with two.db.session() as s:
        assert not two.throttle._insert(s, pair, EMAIL, now)
    assert _pairs(one) == 1


def test_the_table_names_no_address_and_old_tries_are_purged(
    processes: tuple[Accounts, Accounts, Clock],
) -> None:
    one, two, clock = processes
    one.sign_in(EMAIL, "wrong password", ADDRESS)
    one.sign_in("nobody@example.org", "wrong password", ADDRESS)  # no account: counted alike
    with one.db.session() as s:
        rows = list(s.scalars(select(SignInFailure)))
        assert len(rows) == 2
        stored = " ".join(f"{r.key} {r.account}" for r in rows)
        assert "example.org" not in stored and ADDRESS not in stored
    two.unlock(_user_id(one))  # an admin's unlock clears every address
    assert _pairs(one) == 1  # the unknown address's pair is not the account's
    now = dt.datetime.fromtimestamp(clock.now, dt.UTC).replace(tzinfo=None)
    with two.db.session() as s:
        purge_signin_failures(s, now + SIGNIN_FAILURES_KEPT - dt.timedelta(seconds=1))
    assert _pairs(one) == 1  # not yet a day
    with two.db.session() as s:
        purge_signin_failures(s, now + SIGNIN_FAILURES_KEPT + dt.timedelta(seconds=1))
    assert _pairs(one) == 0


def _pairs(accounts: Accounts) -> int:
    with accounts.db.session() as s:
        return len(list(s.scalars(select(SignInFailure))))


def _user_id(accounts: Accounts) -> str:
    from bot.store.console_models import StaffUser

    with accounts.db.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == EMAIL))
        assert user is not None
        return user.id
