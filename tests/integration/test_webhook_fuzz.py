"""Hostile and malformed payloads at both webhooks (hypothesis): never a 5xx, no content in the
logs, nothing stored. Valid-looking payloads are mutated where it matters (ids, types, numbers),
so each example is one that must be refused or ignored."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import httpx
import pytest
from fakes import fixture
from fakes.people import sign, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.store.channel_models import InboxMessage, OutboxMessage, PlatformMessage
from bot.store.models import Contact, SeenMessage

CANARY = "canaryfuzz"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=50).map(lambda t: CANARY + t),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
wrong_ids = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=20).map(lambda t: CANARY + t),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def stored(runtime: Runtime) -> tuple[int, int, int, int]:
    with runtime.db.session() as s:
        return tuple(  # type: ignore[return-value]
            int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (SeenMessage, InboxMessage, Contact, PlatformMessage)
        )


async def settled(runtime: Runtime) -> tuple[int, int, int, int]:
    """The counts once the shared stack has finished what earlier tests left in its inbox and
    outbox (a reply sent meanwhile would add a row that no fuzzed request made)."""

    def quiet() -> bool:
        with runtime.db.session() as s:
            busy = s.scalar(select(func.count()).select_from(InboxMessage)) or s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")
            )
        return not busy

    await wait_until(quiet, timeout=60)
    return stored(runtime)


def no_content_logged(caplog: pytest.LogCaptureFixture) -> None:
    formatter = logging.getLogger().handlers[0].formatter or logging.Formatter()
    for record in caplog.records:
        line = formatter.format(record)
        assert CANARY not in line, line


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(url, content=body, headers=headers)
    return response.status_code


# --- Telegram ---


def telegram_mutations() -> st.SearchStrategy[dict[str, Any]]:
    """A real update with one field that decides who or what it is made wrong."""

    def mutate(choice: tuple[str, Any, str]) -> dict[str, Any]:
        path, value, text = choice
        update = fixture("telegram_update_message_text_ptb.json")
        update["message"]["text"] = CANARY + text
        target: Any = update
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        return update

    ints = st.sampled_from(["update_id", "message.chat.id", "message.message_id", "message.chat"])
    not_text = wrong_ids.filter(lambda v: not isinstance(v, str) or v == "")
    special = st.one_of(
        st.tuples(st.just("message.text"), not_text, st.text()),
        st.tuples(st.just("message.chat.type"), st.sampled_from(["group", "channel"]), st.text()),
        st.tuples(st.just("message"), values, st.text()),
    )
    return st.one_of(st.tuples(ints, wrong_ids, st.text(max_size=30)), special).map(mutate)


@FUZZ
@given(update=telegram_mutations())
async def test_telegram_mutated_updates(
    stack: Runtime, caplog: pytest.LogCaptureFixture, update: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG)
    before = await settled(stack)
    url = f"http://127.0.0.1:{stack.settings.port}/webhooks/telegram"
    headers = {"X-Telegram-Bot-Api-Secret-Token": stack.settings.telegram_secret}
    status = await post(url, json.dumps(update).encode(), headers)
    assert status == 200  # acknowledged, so Telegram does not redeliver it for a day
    assert stored(stack) == before
    no_content_logged(caplog)


@FUZZ
@given(body=st.one_of(values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300)))
async def test_telegram_anything(
    stack: Runtime, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    before = await settled(stack)
    url = f"http://127.0.0.1:{stack.settings.port}/webhooks/telegram"
    good = {"X-Telegram-Bot-Api-Secret-Token": stack.settings.telegram_secret}
    assert await post(url, body, good) in (200, 400)
    assert await post(url, body, {"X-Telegram-Bot-Api-Secret-Token": "x"}) == 403
    assert await post(url, body, {}) == 403
    assert stored(stack) == before
    no_content_logged(caplog)


# --- WhatsApp ---


def whatsapp_mutations() -> st.SearchStrategy[dict[str, Any]]:
    def mutate(choice: tuple[str, Any, str]) -> dict[str, Any]:
        path, value, text = choice
        data = copy.deepcopy(fixture("whatsapp_inbound_text_pywa.json"))
        value_ = data["entry"][0]["changes"][0]["value"]
        value_["metadata"]["phone_number_id"] = "277321005464405"
        value_["messages"][0]["text"]["body"] = CANARY + text
        if path == "identity":  # neither a user id nor a phone number we can use
            value_["contacts"][0] = {"wa_id": value, "user_id": value}
            value_["messages"][0]["from"] = value
            return data
        targets = {
            "object": (data, "object"),
            "entry": (data, "entry"),
            "changes": (data["entry"][0], "changes"),
            "value": (data["entry"][0]["changes"][0], "value"),
            "messages": (value_, "messages"),
            "message.id": (value_["messages"][0], "id"),
            "message.type": (value_["messages"][0], "type"),
            "text": (value_["messages"][0], "text"),
            "phone_number_id": (value_["metadata"], "phone_number_id"),
        }
        target, key = targets[path]
        target[key] = value
        return data

    structure = st.sampled_from(
        ["identity", "object", "entry", "changes", "value", "messages", "text", "phone_number_id"]
    )
    # Any non-empty string is a usable message id and any known type is answered: only wrong
    # types there. An unknown type is ignored whatever it says.
    not_text = wrong_ids.filter(lambda v: not isinstance(v, str) or v == "")
    return st.one_of(
        st.tuples(structure, wrong_ids, st.text(max_size=30)),
        st.tuples(st.just("message.id"), not_text, st.text(max_size=30)),
        st.tuples(st.just("message.type"), wrong_ids, st.text(max_size=30)),
    ).map(mutate)


@FUZZ
@given(data=whatsapp_mutations())
async def test_whatsapp_mutated_payloads(
    stack: Runtime, caplog: pytest.LogCaptureFixture, data: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG)
    before = await settled(stack)
    url = f"http://127.0.0.1:{stack.settings.port}/webhooks/whatsapp"
    body = json.dumps(data).encode()
    headers = {"X-Hub-Signature-256": sign(body, stack.settings.whatsapp_app_secret)}
    assert await post(url, body, headers) == 200  # signed: acknowledged, not redelivered
    assert stored(stack) == before
    no_content_logged(caplog)


@FUZZ
@given(body=st.one_of(values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300)))
async def test_whatsapp_anything(
    stack: Runtime, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    before = await settled(stack)
    url = f"http://127.0.0.1:{stack.settings.port}/webhooks/whatsapp"
    signed = {"X-Hub-Signature-256": sign(body, stack.settings.whatsapp_app_secret)}
    assert await post(url, body, signed) in (200, 400)
    assert await post(url, body, {"X-Hub-Signature-256": sign(body, "guess")}) == 401
    assert await post(url, body, {}) == 401
    assert stored(stack) == before
    no_content_logged(caplog)


async def test_oversized_bodies_are_refused(stack: Runtime) -> None:
    big = b'{"x": "' + b"a" * 4_000_000 + b'"}'
    base = f"http://127.0.0.1:{stack.settings.port}/webhooks"
    telegram = {"X-Telegram-Bot-Api-Secret-Token": stack.settings.telegram_secret}
    whatsapp = {"X-Hub-Signature-256": sign(big, stack.settings.whatsapp_app_secret)}
    assert await post(f"{base}/telegram", big, telegram) == 413
    assert await post(f"{base}/whatsapp", big, whatsapp) == 413
