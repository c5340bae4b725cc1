"""No message text or identifier in any log line, and none in the database outside a handoff."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text as sql

from bot.runtime import Runtime
from bot.types import Inbound

CANARY_USER = "5550001234567"
CANARY_TEXTS = [
    "hola me llamo Rigoberta y trabajo en la finca Canario",
    "necesito un abogado canarywordxyz",
    "me tienen encerrada canarywordxyz",
    "quiero hablar con una persona",
    "si",
    "zanahoria canarywordxyz morada",
    "BORRAR",
]


async def test_whole_conversation_leaves_no_content_in_logs(
    stack: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for n, text in enumerate(CANARY_TEXTS):
        await stack.conversations.handle(Inbound("telegram", CANARY_USER, f"canary-{n}", text=text))
    records = [r for r in caplog.records]
    assert records, "the conversation logged nothing at all"
    formatter = logging.getLogger().handlers[0].formatter or logging.Formatter()
    for record in records:
        line = formatter.format(record) + " " + record.getMessage()
        for secret in (
            "Rigoberta",
            "canarywordxyz",
            "Canario",
            CANARY_USER,
            "abogado",
            "encerrada",
        ):
            assert secret not in line, line


async def test_database_keeps_no_text_or_identifier(stack: Runtime) -> None:
    user = "5550009876543"
    for n, text in enumerate(["hola", "necesito un abogado palabrasecreta", "1"]):
        await stack.conversations.handle(Inbound("whatsapp", user, f"db-{n}", text=text))
    with stack.db.engine.connect() as conn:
        tables = [t for t in stack.db.engine.dialect.get_table_names(conn)]
        for table in tables:
            for row in conn.execute(sql(f'SELECT * FROM "{table}"')):
                dumped = " ".join(str(v) for v in row)
                assert "palabrasecreta" not in dumped, table
                assert user not in dumped, table
