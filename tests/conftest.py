"""Shared fixtures: the bot stack per database backend, on the fake Rasa or on the real one.

Three layers, by directory (markers applied here, registered in pyproject.toml):

- ``tests/unit``: no database server, no HTTP server, no Rasa;
- ``tests/integration``: SQLite and PostgreSQL, loopback HTTP, the fake Rasa (tests/fakes/rasa.py),
  the fake Telegram and Graph APIs. ``make test-fast`` runs these two layers;
- ``tests/e2e``: the real Rasa process (marker ``rasa``) and, in ``tests/e2e/browser``, a real
  Chromium (marker ``browser``).

``stack`` is the bot server (one per backend and session) on the fake Rasa; ``real_stack`` is the
same with the real Rasa process, for the tests that are about Rasa itself. PostgreSQL is used when
``BOT_TEST_POSTGRES_URL`` points at a server (CI sets it and requires it); elsewhere, PostgreSQL
variants are skipped with a clear reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fakes.rasa import FakeRasa

from bot.language import LanguageDetector
from bot.net import free_port
from bot.runtime import Runtime
from bot.safety.screen import SafetyScreen
from bot.server import Stack
from bot.settings import Settings
from bot.types import Inbound, TurnResult

POSTGRES_URL = os.environ.get("BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"
# Several stacks on one PostgreSQL database must say their Rasas share a dialogue (or the second
# is refused at start, bot/store/processes.py). With the fake Rasa nothing ever connects to it.
SHARED_REDIS = "redis://127.0.0.1:6379/0"
TESTS = Path(__file__).resolve().parent
ARTIFACTS = TESTS / "artifacts"
LAYERS = ("unit", "integration", "e2e")
# Fixtures that a layer may not use: unit tests start no server, integration tests no real Rasa.
FORBIDDEN = {
    "unit": {"stack", "real_stack", "fake_rasa", "backend", "postgres_database"},
    "integration": {"real_stack"},
    "e2e": set(),
}


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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--databases",
        choices=("all", "sqlite", "postgres"),
        default="all",
        help="run only the PostgreSQL variants, or everything else (scripts/test-fast.sh runs "
        "the two halves at once, one per core)",
    )


def _on_postgres(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "postgres" in callspec.params.values()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its layer (its directory), ``browser`` and ``rasa`` where they apply,
    and refuse a test that uses a fixture its layer may not. ``--databases`` keeps one half."""
    half = config.getoption("databases")
    if half != "all":
        keep = [_on_postgres(item) == (half == "postgres") for item in items]
        config.hook.pytest_deselected(items=[i for i, k in zip(items, keep, strict=True) if not k])
        items[:] = [i for i, k in zip(items, keep, strict=True) if k]
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        layer = parts[0] if parts[0] in LAYERS else None
        if layer is None:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/{{{','.join(LAYERS)}}}/")
        item.add_marker(layer)
        fixtures = set(getattr(item, "fixturenames", ()))
        if FORBIDDEN[layer] & fixtures:
            raise pytest.UsageError(
                f"{item.nodeid}: a {layer} test may not use {sorted(FORBIDDEN[layer] & fixtures)}"
            )
        browser = layer == "e2e" and len(parts) > 2 and parts[1] == "browser"
        if browser:
            item.add_marker("browser")
        if layer == "e2e" and (not browser or "real_stack" in fixtures):
            item.add_marker("rasa")


# --- databases ---


def _create_database() -> str:
    name = f"bot_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


def _drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _require_postgres() -> None:
    if not POSTGRES_UP:
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI but is not reachable")
        pytest.skip("PostgreSQL not reachable: set BOT_TEST_POSTGRES_URL to run these tests")


@pytest.fixture(scope="module")
def screen() -> SafetyScreen:
    """The safety screen in the four languages, with the language guess the bot gives it: what
    the crisis tests read messages through (one per module: its tables take seconds to load)."""
    languages = ["en", "es", "pt", "fr"]
    return SafetyScreen(languages, guess=LanguageDetector(languages))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    _require_postgres()
    url = _create_database()
    yield url
    _drop_database(url)


@pytest.fixture(scope="session")
def scratch_postgres() -> Iterator[str]:
    """A database of its own for tests that drop and recreate every table (never a stack's)."""
    _require_postgres()
    url = _create_database()
    yield url
    _drop_database(url)


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
        # The web chat; its quick exit goes to a name that never resolves (browser tests
        # answer it themselves), never to a real site.
        "webchat_enabled": True,
        "webchat_exit_url": "https://neutral.invalid/weather",
        "outbox_backoff_seconds": 0.2,
        "outbox_backoff_max_seconds": 1.0,
        "outbox_poll_seconds": 0.2,
        # The suite signs in hundreds of times from 127.0.0.1, and its staff have no second
        # step; tests/integration/test_security.py lowers these for its own attacks.
        "console_signin_per_ip_per_minute": 100_000,
        "console_signin_per_minute": 100_000,
        "console_totp_roles": [],
        # The model's second look at a crisis phrase (bot/conversation/crisis.py) reads a
        # probability of danger; the fake Rasa's similarity scores are none, so on the fake it
        # is off unless a test turns it on and tells the fake its reading
        # (tests/integration/test_second_look.py). The real stack keeps the default.
        "crisis_second_look": 0.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The stack's database: "" for SQLite, else the URL of its own PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_database"))
    return ""


# --- the stack: the one place that knows how the bot and Rasa are wired together ---


@dataclass
class Wired:
    runtime: Runtime
    fake: FakeRasa | None  # None: the real Rasa process
    # Kept for the tests that call it; a no-op now that each runtime owns its callbacks.
    activate: Callable[[], None]


@asynccontextmanager
async def wired_stack(settings: Settings, real_rasa: bool = False) -> AsyncIterator[Wired]:
    """The bot server on ``settings.port`` with Rasa on ``settings.rasa_port``: the real process
    (trained or cached model) or the fake one, called back at the bot's NLG and action endpoints.

    Every name of the bot's this depends on (``Stack``, its ``start_rasa``, the runtime's tokens,
    the client's ``ready()``) is used here and nowhere else in the fixtures.
    """
    import asyncio

    async with Stack(settings, start_rasa=real_rasa, quiet=True) as runtime:
        fake = None
        if not real_rasa:
            fake = FakeRasa(
                token=runtime.rasa_token,
                callback_url=f"http://127.0.0.1:{settings.port}",
                callback_token=runtime.callback_token,
            ).serve(settings.rasa_port)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not await runtime.rasa.ready():
                if loop.time() > deadline:
                    raise RuntimeError("Rasa did not become ready")
                await asyncio.sleep(0.05)
            yield Wired(runtime, fake, lambda: None)  # callbacks belong to their runtime
        finally:
            if fake is not None:
                fake.stop()


@pytest.fixture(scope="session")
async def wired_fake(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Wired]:
    settings = make_settings(tmp_path_factory.mktemp("stack"), backend)
    async with wired_stack(settings) as wired:
        yield wired


@pytest.fixture(scope="session")
async def wired_real(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Wired]:
    # Its own database: the fake stack of the same backend may be running beside it.
    database = _create_database() if backend else ""
    try:
        settings = make_settings(
            tmp_path_factory.mktemp("real-stack"),
            database,
            crisis_second_look=Settings.model_fields["crisis_second_look"].default,
        )
        async with wired_stack(settings, real_rasa=True) as wired:
            yield wired
    finally:
        if database:
            _drop_database(database)


@pytest.fixture(scope="session")
def stack(wired_fake: Wired) -> Runtime:
    """The bot on the fake Rasa (both backends)."""
    return wired_fake.runtime


@pytest.fixture(scope="session")
def fake_rasa(wired_fake: Wired) -> FakeRasa:
    assert wired_fake.fake is not None
    return wired_fake.fake


@pytest.fixture(scope="session")
def real_stack(wired_real: Wired) -> Runtime:
    """The bot on the real Rasa process (both backends): for tests about Rasa itself."""
    return wired_real.runtime


@pytest.fixture(autouse=True)
def _one_stack_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """Rasa's callbacks reach the stack the test uses; after it, the fake Rasa is healthy again,
    and a test that sent it free text at the REST channel fails (a privacy property)."""
    names = request.fixturenames
    wired: Wired | None = None
    if "real_stack" in names:
        wired = request.getfixturevalue("wired_real")
    elif "stack" in names or "fake_rasa" in names:
        wired = request.getfixturevalue("wired_fake")
    if wired is None:
        yield
        return
    wired.activate()
    seen = len(wired.fake.violations) if wired.fake else 0
    yield
    if wired.fake is not None:
        wired.fake.recover()
        violations = wired.fake.violations[seen:]
        if violations:
            pytest.fail(f"Rasa received free text at its REST channel: {violations}")


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


ChatFactory = Callable[..., Chat]


@pytest.fixture
def chat_factory(stack: Runtime) -> ChatFactory:
    def make(channel: str = "telegram", hint: str | None = None) -> Chat:
        return Chat(stack, channel, hint)

    return make


@pytest.fixture
def real_chat_factory(real_stack: Runtime) -> ChatFactory:
    def make(channel: str = "telegram", hint: str | None = None) -> Chat:
        return Chat(real_stack, channel, hint)

    return make
