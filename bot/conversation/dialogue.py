"""The dialogue in Rasa for one intent the turn settled on, and the answer when Rasa is away.

Rasa sees the intent only ("/need_legal"), never the person's words, and the routing slots the
turn keeps in step (language, country). It renders through this process (bot/rasa/callbacks.py),
which reads the turn's language and country from ``InflightTurns`` because the turn has not
committed yet.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.needs import FIRST_MESSAGE_FOLLOW_UPS
from bot.rasa.client import RasaUnavailable
from bot.rasa.endpoints import tracker_expiry_seconds
from bot.types import Reply, ReplyButton

log = logging.getLogger("bot.conversation")
RASA_INSTANCE = "@rasa"  # the key of ``Conversation.rasa_slots`` naming the Rasa they went to
RASA_SYNCED_AT = "@at"  # and when (Unix seconds): a tracker in Redis expires


async def run(p: Parts, ctx: TurnContext, intent: str) -> None:
    conv = ctx.conv
    if intent == "affirm" and conv.pending_intent:
        intent = conv.pending_intent  # the first message's request, now that it is safe to chat
    pending: str | None = None
    ctx.uow.before_waiting()
    try:
        with p.inflight.waiting(conv.rasa_sender, ctx.render):
            await _sync_slots(p, ctx)
            if ctx.is_new:
                messages = await p.rasa.send(conv.rasa_sender, "greet")
                pending = intent if intent in FIRST_MESSAGE_FOLLOW_UPS else None
            else:
                messages = await p.rasa.send(conv.rasa_sender, intent)
    except RasaUnavailable as exc:
        log.warning("rasa unavailable for dialogue", extra={"error": str(exc)})
        if ctx.wait_for_rasa:
            raise  # the inbox keeps the message until Rasa is back: no apology for our fault
        unavailable(p, ctx)
        return
    replies, controls = convert(messages)
    if not replies:  # an action or a rendering failed inside Rasa: never leave silence
        log.error("rasa returned no reply", extra={"intent": intent})
        unavailable(p, ctx)
        return
    # A first message that asked for something is answered once the person says it is safe to
    # chat; any other dialogue turn lets it go.
    changes: dict[str, Any] = {"awaiting": controls.get("awaiting"), "pending_intent": pending}
    need = controls.get("need")
    if need and need not in (conv.needs or []):
        changes["needs"] = [*(conv.needs or []), need]
    ctx.answer(*replies, **changes)


def unavailable(p: Parts, ctx: TurnContext) -> None:
    """Rasa is down or slow: a fixed apology with the numbers, never silence."""
    r, d = ctx.render, ctx.directory
    if ctx.is_new:
        replies = p.renderer.first_contact(r, d)
    else:
        replies = [p.renderer.render("utter_service_unavailable", r, d)]
    ctx.decided("unavailable", ctx.confidence)
    ctx.answer(*replies)


async def _sync_slots(p: Parts, ctx: TurnContext) -> None:
    """Send Rasa the routing slots it does not have yet. What was synced is kept with the Rasa
    process it went to (``RASA_INSTANCE``): a restarted Rasa, or another process's, may have an
    empty tracker, so everything is sent again. With Redis, a tracker left alone expires
    (``BOT_TRANSCRIPT_TTL_HOURS`` after its last turn), so slots synced more than half that long
    ago are sent again too: cheap, and Rasa never runs a dialogue without them."""
    conv = ctx.conv
    wanted = {"language": conv.language, "country": conv.country}
    synced = dict(conv.rasa_slots or {})
    now = int(time.time())
    if synced.get(RASA_INSTANCE) != p.rasa.instance or _may_have_expired(p, synced, now):
        synced = {}
    changed = {k: v for k, v in wanted.items() if synced.get(k) != v}
    if changed:
        await p.rasa.set_slots(conv.rasa_sender, changed)
    if changed or RASA_INSTANCE not in synced:
        conv.rasa_slots = {
            **synced,
            **changed,
            RASA_INSTANCE: p.rasa.instance,
            RASA_SYNCED_AT: now,
        }


def _may_have_expired(p: Parts, synced: dict[str, Any], now: int) -> bool:
    if not p.settings.redis_url.strip():
        return False  # trackers in memory never expire (they go with the Rasa process)
    at = synced.get(RASA_SYNCED_AT)
    if not isinstance(at, int | float):
        return True
    return now - at > tracker_expiry_seconds(p.settings) / 2


def convert(messages: list[dict[str, Any]]) -> tuple[list[Reply], dict[str, Any]]:
    """Rasa's REST output → replies, plus the control fields our NLG and actions attach."""
    replies: list[Reply] = []
    controls: dict[str, Any] = {}
    for m in messages:
        custom = m.get("custom")
        if isinstance(custom, dict):
            if replies and custom.get("key"):
                last = replies[-1]
                last.key = str(custom["key"])
                roles = list(custom.get("roles") or [])
                last.buttons = [
                    ReplyButton(b.title, b.payload, roles[i] if i < len(roles) else None)
                    for i, b in enumerate(last.buttons)
                ]
            for k in ("awaiting", "need"):
                if custom.get(k):
                    controls[k] = custom[k]
            continue
        text = m.get("text")
        if not text:
            continue
        buttons = [
            ReplyButton(str(b.get("title", "")), str(b.get("payload", "")))
            for b in m.get("buttons") or []
        ]
        replies.append(Reply(text=str(text), buttons=buttons))
    return replies, controls
