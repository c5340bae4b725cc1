"""A tapped button or a typed number for one: the payload decides the step, no model involved."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from bot.conversation import crisis, dialogue, erasure, language, places
from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.handoff.late import PAYLOADS as LATE_REPLY
from bot.handoff.survivor import PAYLOADS as HANDOFF_PAYLOADS
from bot.handoff.survivor import WHILE_WITH_STAFF
from bot.needs import CRISIS_INTENTS
from bot.safety.commands import yes_or_no
from bot.store.models import Awaiting, Mode

log = logging.getLogger("bot.conversation")

_PAYLOAD = re.compile(r"^/([a-z_]+)(\{.*\})?$", re.DOTALL)
_DIGITS = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")
# Payloads answered in this process (they also work while Rasa is down).
LOCAL_PAYLOADS = frozenset(
    {"choose_language", "nothing_erased", *erasure.CONFIRMED, *HANDOFF_PAYLOADS}
)


def parse_payload(payload: str) -> tuple[str, dict[str, Any]] | None:
    found = _PAYLOAD.match(payload.strip())
    if not found:
        return None
    entities: dict[str, Any] = {}
    if found.group(2):
        try:
            loaded = json.loads(found.group(2))
        except json.JSONDecodeError:
            return None
        if not isinstance(loaded, dict):
            return None
        entities = {str(k): str(v) for k, v in loaded.items()}
    return found.group(1), entities


def typed(ctx: TurnContext) -> str | None:
    """The payload of the option the person typed for the last question: its number ("2", "2.",
    "2)"), or a plain yes or no in any of our languages for the option with that role."""
    choices = ctx.conv.choices
    if not ctx.msg.text or not choices:
        return None
    found = _DIGITS.match(ctx.msg.text)
    if found:
        index = int(found.group(1)) - 1
        return str(choices[index]["payload"]) if 0 <= index < len(choices) else None
    role = yes_or_no(ctx.msg.text)
    if role is not None:
        for choice in choices:
            if choice.get("role") == role:
                return str(choice["payload"])
    return None


async def run(p: Parts, ctx: TurnContext, payload: str) -> None:
    parsed = parse_payload(payload)
    if parsed is None or (parsed[0] not in LOCAL_PAYLOADS and parsed[0] not in p.domain_intents):
        log.info("unknown payload ignored", extra={"channel": ctx.msg.channel})
        ctx.answer(p.renderer.render("utter_not_understood", ctx.render, ctx.directory))
        return
    intent, entities = parsed
    ctx.decided(intent, 1.0 if ctx.confidence is None else ctx.confidence)
    if intent == "choose_language":
        language.choose(p, ctx, entities.get("language", ""))
        return
    if intent in erasure.CONFIRMED:
        erasure.confirmed(p, ctx, intent)
        return
    if intent == "nothing_erased":
        erasure.nothing_erased(p, ctx)
        return
    s, conv, desk = ctx.session, ctx.conv, p.desk
    if intent in LATE_REPLY:
        if ctx.live and ctx.msg.payload is None and ctx.text:
            # A typed "sí" while waiting: the team sees it too, as any line written to them.
            p.handoffs.keep_message(s, conv, ctx.text, "in")
        ctx.answer(*desk.answer_late_reply(s, conv, ctx.render, ctx.directory, intent))
        return
    if ctx.live and intent in CRISIS_INTENTS:
        crisis.in_handoff(p, ctx, crisis.kind_of(intent))
        return
    if conv.mode == Mode.STAFF and intent not in WHILE_WITH_STAFF:
        # A person is writing: old buttons never bring the assistant back in.
        ctx.answer(desk.with_person_now(s, conv, ctx.render, ctx.directory))
        return
    if intent == "request_human":
        ctx.answer(*desk.explain(s, conv, ctx.render, ctx.directory))
        return
    if intent == "no_person":  # "No" to "would you like to talk with a person?"
        ctx.answer(p.renderer.render("utter_handoff_declined", ctx.render, ctx.directory))
        return
    if intent in ("handoff_yes", "handoff_nocard", "handoff_no"):
        choice = intent.removeprefix("handoff_")
        ctx.answer(*desk.answer(s, conv, ctx.render, ctx.directory, choice))
        return
    if intent.startswith("card_"):
        ctx.answer(*desk.change_card(s, conv, ctx.render, ctx.directory, intent, entities))
        return
    if intent in ("handoff_wait", "handoff_leave", "handoff_place"):
        ctx.answer(*desk.waiting(s, conv, ctx.render, ctx.directory, intent))
        return
    if intent == "inform_country" and entities.get("country"):
        code = entities["country"].upper()
        if ctx.directory.country(code) is not None:
            places.listed(p, ctx, code)
        elif p.renderer.is_country(code):
            # A button for a country the directory does not list (a shared place name).
            places.outside(p, ctx, code)
            return
        if conv.crisis and conv.awaiting != Awaiting.COUNTRY:
            # The one-tap country after a crisis: that country's exact numbers.
            crisis.answer(p, ctx, "self")
            return
    if intent in CRISIS_INTENTS:
        crisis.answer(p, ctx, crisis.kind_of(intent))
        return
    await dialogue.run(p, ctx, intent)
