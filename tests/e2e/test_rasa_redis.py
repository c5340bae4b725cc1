"""The real Rasa on the real Redis (127.0.0.1:6379, keys of this test's own prefix): a
conversation survives a Rasa restart.

Without Redis, Rasa's trackers live in its memory: a person asked "Which country?" after "i need a
lawyer" who answered "Mexico" after a Rasa restart got the generic menu, because the new Rasa no
longer knew what they needed. With ``BOT_REDIS_URL`` the tracker (and Rasa's conversation locks)
are in Redis, so the restarted Rasa continues where the dead one was and offers legal services.
The tracker in Redis holds intents, slots and the assistant's own replies, never the person's
words, and expires.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import Chat, make_settings
from fakes.people import wait_until

from bot.rasa.endpoints import tracker_expiry_seconds
from bot.runtime import Runtime
from bot.server import Stack
from bot.settings import PROJECT_ROOT
from bot.types import TurnResult

REDIS_URL = "redis://127.0.0.1:6379/0"
# Redis is reached through Rasa's own client library (the bot's environment has none).
REDIS_PROBE = """
import json, sys, redis
r = redis.Redis(host="127.0.0.1", port=6379, db=0)
keys = r.keys(sys.argv[1] + ":*")
out = {k.decode(): {"ttl": r.ttl(k), "value": (r.get(k) or b"").decode("utf-8", "replace")}
       for k in keys if r.type(k) == b"string"}
if sys.argv[2] == "delete" and keys:
    r.delete(*keys)
print(json.dumps(out))
"""


def redis_keys(prefix: str, delete: bool = False) -> dict[str, dict[str, object]]:
    python = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", REDIS_PROBE, prefix, "delete" if delete else "read"],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    )
    found: dict[str, dict[str, object]] = json.loads(done.stdout)
    return found


def redis_up() -> bool:
    try:
        redis_keys("probe" + uuid.uuid4().hex)
    except (subprocess.SubprocessError, OSError, ValueError):
        return False
    return True


@pytest.fixture(scope="module")
async def on_redis() -> AsyncIterator[tuple[Runtime, Stack, str]]:
    if not redis_up():
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    prefix = "shtest" + uuid.uuid4().hex[:10]
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(
            Path(tmp), redis_url=REDIS_URL, redis_key_prefix=prefix, rasa_restart_max_seconds=2.0
        )
        stack = Stack(settings, start_rasa=True, quiet=True)
        try:
            async with stack as runtime:
                yield runtime, stack, prefix
        finally:
            redis_keys(prefix, delete=True)


def keys(result: TurnResult) -> list[str]:
    return [r.key for r in result.replies]


async def test_a_restarted_rasa_continues_the_conversation_from_redis(
    on_redis: tuple[Runtime, Stack, str],
) -> None:
    runtime, stack, prefix = on_redis
    chat = Chat(runtime)
    chat.prepare("en", None)
    await chat.say("hello")
    await chat.say("yes")
    asked = await chat.say("i need a lawyer")
    assert keys(asked) == ["utter_ask_country"]

    # Rasa's tracker is in Redis, with our prefix, expiring, and without the person's words.
    trackers = {k: v for k, v in redis_keys(prefix).items() if ":tracker:" in k}
    assert len(trackers) == 1
    (tracker,) = trackers.values()
    ttl = tracker["ttl"]
    assert isinstance(ttl, int) and 0 < ttl <= tracker_expiry_seconds(runtime.settings)
    text = str(tracker["value"])
    assert "need_legal" in text and "i need a lawyer" not in text.lower()

    # Rasa dies (the OOM killer, a crash); its supervisor starts a new one.
    dead = runtime.rasa_process
    assert dead is not None and dead.proc is not None and stack.supervisor is not None
    os.killpg(dead.proc.pid, signal.SIGKILL)
    await wait_until(lambda: runtime.rasa_process is not dead, timeout=30)
    await wait_until(lambda: stack.supervisor is not None and stack.supervisor.ready, 300)

    shown = await chat.say("Mexico")
    assert shown.replies[0].key == "utter_services_intro", keys(shown)
    cards = [r for r in shown.replies if r.key == "service_card"]
    assert cards, keys(shown)
    assert shown.replies[-1].key == "utter_offer_human"
    (stored,) = [str(v["value"]) for k, v in redis_keys(prefix).items() if ":tracker:" in k]
    # What the person sent reached Rasa as intents only ("/inform_country{...}" for "Mexico");
    # the assistant's own replies are there too (Rasa keeps what it uttered), never their words.
    said = [e.get("text") for e in json.loads(stored)["events"] if e.get("event") == "user"]
    assert said and all(str(text).startswith("/") for text in said), said
