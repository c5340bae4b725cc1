"""The fake Rasa over HTTP: Rasa's token check, its answers' shapes, trackers, the privacy guard
on the REST channel, and the faults the tests of the bot's fallbacks use."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fakes.rasa import FakeRasa

from bot.net import free_port
from bot.rasa.client import RasaClient, RasaUnavailable
from bot.runtime import Runtime

TOKEN = "rasa-api-token"


@pytest.fixture
def fake() -> Iterator[FakeRasa]:
    """A fake of its own (nobody to call back: these requests need no rendering)."""
    server = FakeRasa(TOKEN, "http://127.0.0.1:9", "callback-token").serve(free_port())
    yield server
    server.stop()


@pytest.fixture
async def http(fake: FakeRasa) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{fake.port}", timeout=5) as client:
        yield client


async def test_every_route_but_the_root_wants_the_token(
    fake: FakeRasa, http: httpx.AsyncClient
) -> None:
    assert (await http.get("/")).status_code == 200
    for method, path in [
        ("GET", "/status"),
        ("POST", "/model/parse"),
        ("POST", "/webhooks/rest/webhook"),
        ("GET", "/conversations/s/tracker"),
        ("POST", "/conversations/s/tracker/events"),
        ("PUT", "/conversations/s/tracker/events"),
    ]:
        refused = await http.request(method, path, params={"token": "wrong"}, json={})
        assert refused.status_code == 401, path
        assert refused.json()["reason"] == "NotAuthenticated"
    status = await http.get("/status", params={"token": TOKEN})
    assert set(status.json()) == {"model_file", "model_id", "num_active_training_jobs"}
    assert fake.count("/status") == 2 and fake.count("/conversations") == 3


async def test_free_text_at_the_rest_channel_is_refused_and_recorded(
    fake: FakeRasa, http: httpx.AsyncClient
) -> None:
    for message in ("necesito un abogado", "/need_legal please", '/inform_country{"x"', ""):
        answer = await http.post(
            "/webhooks/rest/webhook",
            params={"token": TOKEN},
            json={"sender": "s1", "message": message},
        )
        assert answer.status_code == 400, message
    assert len(fake.violations) == 4
    assert fake.tracker("s1") == []  # nothing of it was kept


async def test_slots_sessions_and_erasure(fake: FakeRasa, http: httpx.AsyncClient) -> None:
    params = {"token": TOKEN, "include_events": "NONE"}
    set_slot = [{"event": "slot", "name": "country", "value": "MX"}]
    state = (
        await http.post("/conversations/s2/tracker/events", params=params, json=set_slot)
    ).json()
    assert state["events"] is None and state["slots"]["country"] == "MX"
    kinds = [(e["event"], e.get("name")) for e in fake.tracker("s2")]
    assert kinds == [  # a new tracker starts a session first, as Rasa's does
        ("action", "action_session_start"),
        ("session_started", None),
        ("action", "action_listen"),
        ("slot", "country"),
    ]
    erased = await http.put("/conversations/s2/tracker/events", params=params, json=[])
    assert erased.status_code == 200 and fake.tracker("s2") == []
    fresh = (await http.get("/conversations/s2/tracker", params={"token": TOKEN})).json()
    assert [e["event"] for e in fresh["events"]] == ["action", "session_started", "action"]
    assert fresh["slots"]["country"] is None


async def test_parse_answers_like_rasa(http: httpx.AsyncClient) -> None:
    parsed = (
        await http.post(
            "/model/parse", params={"token": TOKEN}, json={"text": "quiero hablar con una persona"}
        )
    ).json()
    assert parsed["intent"] == {"name": "request_human", "confidence": 0.95}
    assert parsed["intent_ranking"][0] == parsed["intent"]
    assert set(parsed) == {"text", "intent", "entities", "text_tokens", "intent_ranking"}


async def test_faults_error_slow_and_down(fake: FakeRasa) -> None:
    client = RasaClient(f"http://127.0.0.1:{fake.port}", TOKEN, timeout=0.5)
    try:
        assert await client.ready()
        fake.fail("error", path="/status", times=1)
        assert not await client.ready()  # HTTP 500
        assert await client.ready()  # only once
        fake.fail("slow", path="/model/parse", seconds=2.0)
        started = time.monotonic()
        with pytest.raises(RasaUnavailable, match="ReadTimeout"):
            await client.parse("hola")
        assert time.monotonic() - started < 1.5  # the bot's timeout, not the fake's delay
        assert await client.ready()  # only parse was slow
        fake.fail("down")
        with pytest.raises(RasaUnavailable, match="ConnectError"):
            await client.parse("hola")
        fake.recover()
        assert (await client.parse("hola")).intent == "greet"
    finally:
        await client.aclose()


async def test_the_bot_sends_only_intents_and_slots(stack: Runtime, fake_rasa: FakeRasa) -> None:
    """Through the real gateway, a conversation with free text in it: Rasa's REST channel and
    its tracker see intents and routing slots only (the guard in conftest fails any test that
    sends it text; this one looks at the tracker too)."""
    from conftest import Chat

    chat = Chat(stack)
    chat.prepare("es", None)
    before = fake_rasa.count("/webhooks/rest/webhook")
    for text in ("hola", "1", "necesito un abogado palabrasecreta", "gracias"):
        await chat.say(text)
    assert fake_rasa.count("/webhooks/rest/webhook") == before + 4  # one dialogue turn each
    for sender, tracker in list(fake_rasa.trackers.items()):
        for event in fake_rasa.tracker(sender):
            if event["event"] == "user":
                assert event["text"].startswith("/"), sender
            assert "palabrasecreta" not in str(event), sender
        assert tracker.sender_id == sender
