"""Shared fixtures: a real stack (bot server + Rasa process on loopback) per database backend.

Tests that need Rasa use the ``stack`` fixture; it starts once per backend and session. PostgreSQL
is used when ``BOT_TEST_POSTGRES_URL`` points at a server (CI sets it and requires it); elsewhere,
PostgreSQL variants are skipped with a clear reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.net import free_port
from bot.runtime import Runtime
from bot.server import Stack
from bot.settings import Settings
from bot.types import Inbound, TurnResult

POSTGRES_URL = os.environ.get("BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"
ARTIFACTS = Path(__file__).parent / "artifacts"


def _postgres_available() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


POSTGRES_UP = _postgres_available()


def pytest_report_header(config: pytest.Config) -> str:
    if POSTGRES_UP:
        return f"PostgreSQL: {POSTGRES_URL.split('@')[-1]} (tests run on SQLite and PostgreSQL)"
    return "PostgreSQL: not reachable - PostgreSQL variants are SKIPPED (set BOT_TEST_POSTGRES_URL)"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    if not POSTGRES_UP:
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI but is not reachable")
        pytest.skip("PostgreSQL not reachable: set BOT_TEST_POSTGRES_URL to run these tests")
    name = f"bot_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(tmp: Path, database_url: str = "", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp,
        "database_url": database_url or f"sqlite:///{tmp / 'bot.sqlite3'}",
        "secret_key": "test-secret-key-not-for-production",
        "port": free_port(),
        "rasa_port": free_port(),
        "log_level": "INFO",
        "team_hours": "mon-sun 00:00-23:59",
        # Channels against the local fakes (tests/fakes/); the app secret and phone number id
        # are those of the real signed delivery in tests/fixtures (the secret was reset).
        "telegram_token": "123456:TEST-token-not-real",
        "telegram_secret": "test-telegram-secret",
        "telegram_api_url": f"http://127.0.0.1:{free_port()}",
        "whatsapp_verify_token": "meatyhamhock",
        "whatsapp_app_secret": "1222e786b144d0e85b9f365372d93676",
        "whatsapp_access_token": "test-access-token",
        "whatsapp_phone_number_id": "277321005464405",
        "whatsapp_api_url": f"http://127.0.0.1:{free_port()}/v21.0",
        "outbox_backoff_seconds": 0.2,
        "outbox_backoff_max_seconds": 1.0,
        "outbox_poll_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_database"))
    return ""


@pytest.fixture(scope="session")
async def stack(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Runtime]:
    settings = make_settings(tmp_path_factory.mktemp("stack"), backend)
    async with Stack(settings, quiet=True) as runtime:
        yield runtime


class Chat:
    """One person writing on one channel."""

    def __init__(
        self, runtime: Runtime, channel: str = "telegram", hint: str | None = None
    ) -> None:
        self.runtime = runtime
        self.channel = channel
        self.user = f"user-{uuid.uuid4().hex[:12]}"
        self.hint = hint
        self.n = 0

    async def say(self, text: str) -> TurnResult:
        self.n += 1
        return await self.runtime.conversations.handle(
            Inbound(
                self.channel, self.user, f"{self.user}-{self.n}", text=text, language_hint=self.hint
            )
        )

    async def tap(self, payload: str) -> TurnResult:
        self.n += 1
        return await self.runtime.conversations.handle(
            Inbound(self.channel, self.user, f"{self.user}-{self.n}", payload=payload)
        )

    def prepare(self, language: str | None = None, country: str | None = None) -> None:
        self.runtime.conversations.prepare(self.channel, self.user, language, country)


@pytest.fixture
def chat_factory(stack: Runtime):  # type: ignore[no-untyped-def]
    def make(channel: str = "telegram", hint: str | None = None) -> Chat:
        return Chat(stack, channel, hint)

    return make
