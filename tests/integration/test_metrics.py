"""GET /metrics over real HTTP, after real turns (issue #13, item 5): the counters move by the
turns handled, by kind; the queue figures are those of the database; nothing in the text names
a person or repeats what they wrote; and only loopback (not through a proxy) or the bearer token
may read it."""

from __future__ import annotations

import re

import httpx
import pytest
from kit import Survivor
from phrases import SAY
from sqlalchemy import func, select

from bot.metrics import TURN_KINDS
from bot.runtime import Runtime
from bot.store.channel_models import InboxMessage, OutboxMessage
from bot.store.models import HandoffRequest

# Every line is a comment or a sample whose only labels are a kind (and a bucket bound).
SAMPLE = re.compile(
    r'^safe_harbour_[a-z_]+(\{kind="(crisis|command|ordinary)"(,le="([0-9.]+|\+Inf)")?\})? '
    r"(-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?|\+Inf|NaN)$"
)


async def scrape(stack: Runtime, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{stack.settings.port}/metrics", headers=headers)


def values(body: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        found[name] = float(value)
    return found


def count(stack: Runtime, query: object) -> int:
    with stack.db.session() as s:
        return int(s.scalar(query) or 0)  # type: ignore[call-overload]


async def test_turns_latency_and_queues_without_content_or_ids(stack: Runtime) -> None:
    before = values((await scrape(stack)).text)
    survivor = Survivor(stack, "en", "MX")
    await survivor.say(SAY["en"]["hello"])
    await survivor.say(SAY["en"]["shelter"])
    await survivor.say(SAY["en"]["crisis"])
    await survivor.say("MENU")
    await survivor.ask_for_person()
    await survivor.tap("/handoff_yes")

    response = await scrape(stack)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.headers["cache-control"] == "no-store"
    body = response.text
    for line in body.splitlines():
        assert line.startswith("# ") or SAMPLE.match(line), line
    # Nothing the person wrote, nothing that identifies them or their conversation.
    for word in (*SAY["en"].values(), survivor.user, survivor.contact_id, "MENU"):
        if len(word) > 3:
            assert word not in body
    request = survivor.request()
    assert request is not None and request.id not in body
    assert request.conversation_id not in body

    after = values(body)

    def delta(kind: str) -> float:
        key = f'safe_harbour_turns_total{{kind="{kind}"}}'
        return after[key] - before.get(key, 0)

    assert delta("crisis") == 1
    assert delta("command") >= 1  # MENU (and "a person", when a command answers it)
    assert sum(delta(k) for k in TURN_KINDS) == survivor.n  # every turn, once
    for kind in TURN_KINDS:
        total = after[f'safe_harbour_turn_seconds_count{{kind="{kind}"}}']
        assert total == after[f'safe_harbour_turns_total{{kind="{kind}"}}']
        assert after[f'safe_harbour_turn_seconds_bucket{{kind="{kind}",le="+Inf"}}'] == total
        bounds = [
            v
            for k, v in after.items()
            if k.startswith(f'safe_harbour_turn_seconds_bucket{{kind="{kind}"')
        ]
        assert bounds == sorted(bounds)  # cumulative
    assert after['safe_harbour_turn_seconds_sum{kind="crisis"}'] > 0

    assert after["safe_harbour_rasa_up"] == 1
    assert after["safe_harbour_database_up"] == 1
    waiting = HandoffRequest.status == "queued"
    queued = count(stack, select(func.count()).select_from(HandoffRequest).where(waiting))
    assert queued >= 1 and after["safe_harbour_handoff_queued"] == queued
    assert after["safe_harbour_inbox_messages"] == count(
        stack, select(func.count()).select_from(InboxMessage)
    )
    assert after["safe_harbour_outbox_dead_letters"] == count(
        stack,
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "dead"),
    )
    assert after["safe_harbour_outbox_oldest_seconds"] >= 0


async def test_a_duplicate_is_not_a_turn(stack: Runtime) -> None:
    survivor = Survivor(stack, "es", "MX")
    await survivor.say(SAY["es"]["hello"])
    before = values((await scrape(stack)).text)
    from bot.types import Inbound

    again = await stack.conversations.handle(
        Inbound(survivor.channel, survivor.user, f"{survivor.user}-{survivor.n}", text="hola")
    )
    assert again.duplicate
    after = values((await scrape(stack)).text)
    for kind in TURN_KINDS:
        key = f'safe_harbour_turns_total{{kind="{kind}"}}'
        assert after[key] == before[key]


async def test_only_loopback_without_a_proxy_or_the_token(stack: Runtime) -> None:
    assert (await scrape(stack)).status_code == 200
    # A proxy on the same machine connects from loopback too: its headers give it away.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        refused = await scrape(stack, **{header: "203.0.113.9"})
        assert refused.status_code == 403, header
        assert "safe_harbour" not in refused.text
    stack.settings.metrics_token = "a-long-random-scrape-token"
    try:
        assert (await scrape(stack)).status_code == 403  # set: loopback alone is not enough
        assert (await scrape(stack, Authorization="Bearer wrong")).status_code == 403
        ok = await scrape(stack, Authorization="Bearer a-long-random-scrape-token")
        assert ok.status_code == 200 and "safe_harbour_turns_total" in ok.text
    finally:
        stack.settings.metrics_token = ""


@pytest.mark.parametrize("kind", ["crisis", "elsewhere"])
def test_the_kinds_are_a_closed_list(kind: str) -> None:
    from bot.metrics import Metrics

    metrics = Metrics()
    if kind in TURN_KINDS:
        metrics.observe_turn(kind, 0.2)
        assert metrics.turns(kind) == 1
        assert 'safe_harbour_turn_seconds_bucket{kind="crisis",le="0.25"} 1' in metrics.render()
        assert 'safe_harbour_turn_seconds_bucket{kind="crisis",le="0.1"} 0' in metrics.render()
    else:
        with pytest.raises(ValueError, match="unknown turn kind"):
            metrics.observe_turn(kind, 0.2)
