"""What one message costs the database, end to end: counts, so they cannot silently grow.

A message is counted from its webhook to the platform's "sent" (inbox accept, claim, the turn,
Rasa's callbacks, the reply queued, the outbox's send), on a stack of its own whose pollers only
wake when there is work (a long poll interval), so every statement counted is one the message
caused. Real SQLite and PostgreSQL, the fake Rasa (Rasa is not the subject here).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from conftest import _create_database, _drop_database, make_settings, wired_stack
from fakes import running
from fakes.people import TelegramPerson
from fakes.telegram import FakeTelegram

from bot.directory.service import Directory
from bot.nlg.render import RenderContext
from bot.runtime import Runtime
from bot.store.counting import DatabaseWork, Work

# The budgets (see docs/benchmarks.md for today's figures): a message costs at most this many
# transactions and statements end to end, webhook to platform.
# One ordinary message with one reply: stored (1), claimed (2), the turn (3), its reply queued
# and the row deleted (4), the reply claimed for sending (5), recorded as sent (6); and the
# directory read once by Rasa's rendering callback when the reply names a service or number (7).
ORDINARY_TRANSACTIONS = 7
ORDINARY_STATEMENTS = 30
# A crisis answer is two messages (the numbers first): the first claimed on its own, the second
# in the transaction that records the first as sent.
CRISIS_TRANSACTIONS = 7
CRISIS_STATEMENTS = 41  # with the check that a retried commit adds no message id twice
# One message, whatever its placeholders: the countries read once, and for a message that lists
# services (numbers reachable without a voice call), the services and their organisations.
RENDER_STATEMENTS = 3


class Costs:
    def __init__(self, runtime: Runtime, tg: FakeTelegram, work: DatabaseWork) -> None:
        self.runtime, self.tg, self.work = runtime, tg, work

    async def message(self, person: TelegramPerson, text: str) -> Work:
        """The database work of one message, from its webhook until its replies went out and
        the process fell quiet (the waiting itself asks the database nothing)."""
        before = self.work.now()
        sent = len(self.tg.sent(person.chat_id))
        response = await person.post(person.message(text))
        assert response.status_code == 200
        for _ in range(600):
            if len(self.tg.sent(person.chat_id)) > sent:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no reply")
        quiet = self.work.now()
        for _ in range(600):  # until nothing more happens for a while (the rest of the replies)
            await asyncio.sleep(0.3)
            now = self.work.now()
            if now == quiet:
                break
            quiet = now
        return self.work.since(before)


@pytest.fixture(scope="module")
async def costs(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Costs]:
    database = _create_database() if backend else ""
    try:
        settings = make_settings(
            tmp_path_factory.mktemp("costs"),
            database,
            outbox_poll_seconds=600.0,  # wake-ups only: nothing counted that no message caused
            handoff_watch_seconds=600.0,
        )
        async with wired_stack(settings) as wired:
            port = urlsplit(settings.telegram_api_url).port
            assert port is not None
            tg: FakeTelegram = running(FakeTelegram, port, token=settings.telegram_token)
            with DatabaseWork(wired.runtime.db.engine) as work:
                yield Costs(wired.runtime, tg, work)
    finally:
        if database:
            _drop_database(database)


async def test_an_ordinary_message_stays_within_its_budget(costs: Costs) -> None:
    person = TelegramPerson(costs.runtime, costs.tg, "es")
    await costs.message(person, "hola")
    spent = [await costs.message(person, text) for text in ("necesito un abogado", "gracias")]
    print("ordinary", spent)
    for work in spent:
        assert work.transactions <= ORDINARY_TRANSACTIONS
        assert work.statements <= ORDINARY_STATEMENTS


async def test_a_crisis_message_stays_within_its_budget(costs: Costs) -> None:
    person = TelegramPerson(costs.runtime, costs.tg, "es")
    await costs.message(person, "hola")
    work = await costs.message(person, "me tienen encerrada y no me dejan salir")
    print("crisis", work)
    assert work.transactions <= CRISIS_TRANSACTIONS
    assert work.statements <= CRISIS_STATEMENTS


def test_rendering_a_message_asks_the_database_a_bounded_number_of_times(costs: Costs) -> None:
    runtime = costs.runtime
    ctx = RenderContext(language="es", channel="telegram", country="MX")
    for key in ("utter_first_contact", "utter_service_unavailable", "utter_ask_country"):
        with runtime.db.session() as s:
            before = costs.work.now()
            runtime.renderer.render(key, ctx, Directory(s))
            spent = costs.work.since(before)
        print("render", key, spent)
        assert spent.statements <= RENDER_STATEMENTS
