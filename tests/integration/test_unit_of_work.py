"""One turn, one unit of work: a turn that fails leaves the database (and the console) as it was.

The Rasa port is replaced by a scripted one that can fail in the middle of a turn, after the turn
has taken the lines held for the person and changed the conversation. The database is real
(SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_settings
from fakes.scripted import ScriptedRasa, script
from sqlalchemy import event, func, select

from bot.events import Event
from bot.runtime import Runtime, build_runtime
from bot.store.console_models import HeldReply
from bot.store.db import Database, UnitOfWorkError
from bot.store.models import Contact, Conversation, SeenMessage
from bot.types import Inbound, Reply


@pytest.fixture(scope="module")
def runtime(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    rt = build_runtime(make_settings(tmp_path_factory.mktemp("uow"), backend))
    yield rt
    rt.db.dispose()


@pytest.fixture
def rasa(runtime: Runtime) -> ScriptedRasa:
    return script(runtime)


def _contact(runtime: Runtime, user: str) -> str:
    return runtime.crypto.pseudonym("telegram", user)


async def test_a_held_line_survives_a_failed_turn_and_comes_first_on_the_retry(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    user = "held-uow"
    first = await runtime.conversations.handle(Inbound("telegram", user, "h-1", text="hola"))
    assert first.replies
    contact_id = _contact(runtime, user)
    with runtime.db.session() as s:
        runtime.handoffs.hold(
            s, contact_id, Reply("Ana has left the chat.", key="utter_staff_left")
        )

    rasa.fail = True
    with pytest.raises(RuntimeError):
        await runtime.conversations.handle(Inbound("telegram", user, "h-2", text="gracias"))
    with runtime.db.session() as s:  # nothing of the failed turn was written
        held = select(func.count()).select_from(HeldReply).where(HeldReply.contact_id == contact_id)
        assert s.scalar(held) == 1
        assert s.get(SeenMessage, runtime.crypto.message_key("telegram", "h-2")) is None

    rasa.fail = False  # the inbox tries the same message again
    retry = await runtime.conversations.handle(Inbound("telegram", user, "h-2", text="gracias"))
    assert retry.replies[0].key == "utter_staff_left"
    assert retry.replies[0].text == "Ana has left the chat."
    assert retry.replies[1].text == "answer to thanks"
    with runtime.db.session() as s:
        assert s.scalar(held) == 0


async def test_a_first_message_that_fails_writes_nothing(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    rasa.fail = True
    with pytest.raises(RuntimeError):
        await runtime.conversations.handle(Inbound("telegram", "new-fail", "n-1", text="hola"))
    with runtime.db.session() as s:
        contact_id = _contact(runtime, "new-fail")
        assert s.get(Contact, contact_id) is None
        of_contact = select(func.count()).where(Conversation.contact_id == contact_id)
        assert s.scalar(of_contact.select_from(Conversation)) == 0


async def test_a_failed_turn_tells_the_console_nothing(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    user = "live-fail"
    await runtime.conversations.handle(Inbound("telegram", user, "l-1", text="hola"))
    await runtime.conversations.handle(Inbound("telegram", user, "l-2", payload="/request_human"))
    async with runtime.events.subscribe() as inbox:
        queued = await runtime.conversations.handle(
            Inbound("telegram", user, "l-3", payload="/handoff_yes")
        )
        assert queued.mode == "queued"
        told = [inbox.get_nowait().kind for _ in range(inbox.qsize())]
        # Queued, and the assistant's answer kept in the transcript staff will read.
        assert told == ["handoff.requested", "handoff.message"]

        rasa.fail = True
        original = runtime.conversations.parts.handoffs.keep_message

        def broken(*args: Any) -> None:
            original(*args)
            raise RuntimeError("failed after telling the console")

        runtime.conversations.parts.handoffs.keep_message = broken  # type: ignore[method-assign,assignment]
        try:
            with pytest.raises(RuntimeError):
                await runtime.conversations.handle(
                    Inbound("telegram", user, "l-4", text="are you there?")
                )
        finally:
            runtime.conversations.parts.handoffs.keep_message = original  # type: ignore[method-assign]
        assert inbox.qsize() == 0  # the message event of the failed turn never went out


async def test_an_ordinary_turn_writes_in_one_transaction(
    runtime: Runtime, rasa: ScriptedRasa
) -> None:
    user = "one-tx"
    await runtime.conversations.handle(Inbound("telegram", user, "t-1", text="hola"))
    writes: list[list[str]] = []
    current: dict[int, list[str]] = {}

    def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        current.setdefault(id(conn), []).append(statement.split()[0].upper())

    def committed(conn: Any) -> None:
        done = current.pop(id(conn), [])
        if any(verb in ("INSERT", "UPDATE", "DELETE") for verb in done):
            writes.append(done)

    engine = runtime.db.engine
    event.listen(engine, "before_cursor_execute", executed)
    event.listen(engine, "commit", committed)
    try:
        result = await runtime.conversations.handle(
            Inbound("telegram", user, "t-2", text="muchas gracias")
        )
    finally:
        event.remove(engine, "before_cursor_execute", executed)
        event.remove(engine, "commit", committed)
    assert [r.text for r in result.replies] == ["answer to thanks"]
    assert len(writes) == 1


async def test_a_unit_of_work_refuses_to_wait_after_writing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'uow.sqlite3'}")
    db.migrate()
    async with db.unit_of_work() as uow:
        uow.session.add(SeenMessage(key="k" * 64))
        uow.before_waiting()  # added, not written: nothing is locked yet
        uow.session.flush()
        with pytest.raises(UnitOfWorkError):
            uow.before_waiting()
        uow.session.rollback()
    db.dispose()


def test_events_held_during_a_turn_are_delivered_only_when_released() -> None:
    from bot.events import EventBus

    bus = EventBus()
    seen: list[Event] = []

    class Queue:
        def put_nowait(self, event: Event) -> None:
            seen.append(event)

    bus._subscribers.add(Queue())  # type: ignore[arg-type]
    with bus.held() as held:
        bus.publish(Event("handoff.message", "c1"))
        assert seen == []
    assert [e.kind for e in held] == ["handoff.message"]
    bus.deliver(held)
    assert [e.kind for e in seen] == ["handoff.message"]
