"""The fake Rasa (tests/fakes/rasa.py) behaves like the real one where the fast tests rely on it.

The same scripted conversations run against the bot on the fake Rasa and on the real process:
every rule of data/core/rules.yml is reached by tapping buttons, and what the person receives
and what Rasa's tracker holds afterwards (actions, intents, slots, rendered messages) must be the
same. Exact training phrases must be understood alike, and /model/parse must answer with the same
fields. If the rules or the REST channel change in a way the fake does not follow, this fails.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Chat, Wired
from phrases import SAY
from sqlalchemy import select

from bot.store.models import Conversation

# (language, country, steps): "say:<text>" is typed, anything else is a tapped payload.
SCRIPTS: dict[str, tuple[str | None, str | None, list[str]]] = {
    "safe to chat, greeting later, plain yes and no": (
        None,
        None,
        ["say:hola", "/affirm", "/greet", "/affirm", "/deny"],
    ),
    "not safe now": ("es", None, ["say:hola", "/deny"]),
    "a need, then the country": (
        "es",
        None,
        ["say:hola", "/affirm", "/need_legal", '/inform_country{"country":"MX"}', "/thanks"],
    ),
    "a need, the country skipped": (
        "pt",
        None,
        ["say:oi", "/affirm", "/need_shelter", "/skip", "/goodbye"],
    ),
    "needs with a known country": (
        "fr",
        "HT",
        ["say:bonjour", "/affirm", "/need_medical", "/need_repatriation", "/need_labour"],
    ),
    "about someone else": ("en", "US", ["say:hello", "/affirm", "/report_case"]),
    "short answers": (
        "en",
        None,
        [
            "say:hello",
            "/ask_privacy",
            "/bot_identity",
            "/ask_trafficking_info",
            "/delete_data",
            "/out_of_scope",
            "/change_language",
            "/exit",
        ],
    ),
}


def signature(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """A tracker's events without ids and times: what happened, in order."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        kind = e["event"]
        if kind == "action":
            out.append((kind, e["name"], e.get("policy"), e.get("confidence")))
        elif kind == "user":
            out.append((kind, e["text"], e["parse_data"]["intent"], e["parse_data"]["entities"]))
        elif kind == "bot":
            data = e.get("data") or {}
            utter = (e.get("metadata") or {}).get("utter_action")
            out.append((kind, utter, e.get("text"), data.get("buttons"), data.get("custom")))
        elif kind == "slot":
            out.append((kind, e["name"], e["value"]))
        else:
            out.append(
                (kind, *sorted((k, v) for k, v in e.items() if k not in ("timestamp", "metadata")))
            )
    return out


async def run(wired: Wired, language: str | None, country: str | None, steps: list[str]) -> Any:
    wired.activate()
    runtime = wired.runtime
    chat = Chat(runtime)
    chat.prepare(language, country)
    turns = []
    for step in steps:
        result = await (chat.say(step[4:]) if step.startswith("say:") else chat.tap(step))
        turns.append([(r.key, r.text, [b.payload for b in r.buttons]) for r in result.replies])
    contact_id = runtime.crypto.pseudonym(chat.channel, chat.user)
    with runtime.db.session() as s:
        sender = s.scalar(
            select(Conversation.rasa_sender).where(Conversation.contact_id == contact_id)
        )
    tracker = (
        await runtime.rasa._request("GET", f"/conversations/{sender}/tracker") if sender else {}
    )
    return turns, signature(tracker.get("events") or []), tracker.get("slots")


@pytest.mark.parametrize("name", list(SCRIPTS))
async def test_the_same_conversation_on_the_fake_and_the_real_rasa(
    wired_fake: Wired, wired_real: Wired, name: str
) -> None:
    language, country, steps = SCRIPTS[name]
    fake = await run(wired_fake, language, country, steps)
    real = await run(wired_real, language, country, steps)
    assert fake[0] == real[0]  # what the person received, turn by turn
    assert fake[1] == real[1]  # what Rasa's tracker holds
    assert fake[2] == real[2]  # and its slots


async def test_exact_training_phrases_are_understood_alike(
    wired_fake: Wired, wired_real: Wired
) -> None:
    phrases = [
        SAY[lang][what]
        for lang in SAY
        for what in ("shelter", "legal", "privacy", "human", "bot", "yes")
    ]
    for phrase in phrases:
        fake = await wired_fake.runtime.rasa._request("POST", "/model/parse", json={"text": phrase})
        real = await wired_real.runtime.rasa._request("POST", "/model/parse", json={"text": phrase})
        assert set(fake) <= set(real), phrase  # the fields the bot may read are all there
        assert fake["intent"]["name"] == real["intent"]["name"], phrase
        assert real["intent"]["confidence"] >= wired_real.runtime.settings.nlu_threshold, phrase
