"""With the Rasa process stopped, the safety paths still answer correctly; the rest apologises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_settings

from bot.runtime import Runtime, build_runtime
from bot.server import free_port
from bot.store.models import HandoffRequest
from bot.types import Inbound


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    # Nothing listens on this port: every call to Rasa fails at once.
    settings = make_settings(tmp_path_factory.mktemp("down"), rasa_port=free_port())
    rt = build_runtime(settings)
    yield rt
    rt.db.dispose()


async def say(rt: Runtime, user: str, text: str, n: list[int] = [0]) -> list[str]:  # noqa: B006
    n[0] += 1
    result = await rt.gateway.handle(Inbound("telegram", user, f"{user}-{n[0]}", text=text))
    return [r.key for r in result.replies]


async def test_first_message_still_gets_the_introduction(runtime: Runtime) -> None:
    keys = await say(runtime, "d1", "hola")
    assert keys == ["utter_first_contact", "utter_language_offer", "utter_ask_safe_to_chat"]


@pytest.mark.parametrize(
    "text", ["me van a matar", "they locked me in", "vão me matar", "je veux mourir"]
)
async def test_crisis(runtime: Runtime, text: str) -> None:
    keys = await say(runtime, f"d-crisis-{text}", text)
    assert keys[0].startswith(("utter_crisis", "utter_self_harm"))


async def test_exit_and_delete(runtime: Runtime) -> None:
    await say(runtime, "d2", "hola")
    assert await say(runtime, "d2", "SALIR") == ["exit_reply"]
    await say(runtime, "d3", "hola")
    assert await say(runtime, "d3", "BORRAR") == ["utter_deleted"]


async def test_person_is_queued(runtime: Runtime) -> None:
    await say(runtime, "d4", "hello")
    assert await say(runtime, "d4", "PERSON") == [
        "utter_handoff_explain",
        "utter_ask_handoff_consent",
    ]
    assert await say(runtime, "d4", "1") == ["utter_handoff_no_one"]
    with runtime.db.session() as s:
        assert s.query(HandoffRequest).count() >= 1


async def test_anything_else_gets_the_fixed_apology(runtime: Runtime) -> None:
    await say(runtime, "d5", "hola")
    keys = await say(runtime, "d5", "necesito un abogado")
    assert keys == ["utter_service_unavailable"]
    result = await runtime.gateway.handle(Inbound("telegram", "d5", "d5-x", text="otra cosa"))
    assert "911" in result.replies[0].text or "123" in result.replies[0].text


def test_no_crash_on_language_command(runtime: Runtime, tmp_path: Path) -> None:
    import asyncio

    assert asyncio.run(say(runtime, "d6", "IDIOMA")) == ["utter_language_menu"]
