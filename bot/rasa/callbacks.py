"""The two endpoints Rasa calls back on loopback: response rendering (NLG) and custom actions."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.directory.service import Directory
from bot.nlg.messages import MESSAGES
from bot.nlg.render import RenderContext
from bot.runtime import Runtime, current
from bot.store.models import Contact, Conversation

log = logging.getLogger("bot.rasa.callbacks")
LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}


def _authorised(request: Request, runtime: Runtime) -> bool:
    client = request.client.host if request.client else ""
    token = request.query_params.get("token", "")
    return client in LOOPBACK and hmac.compare_digest(token, runtime.callback_token)


def context_for(runtime: Runtime, rasa_sender: str, slots: dict[str, Any]) -> RenderContext:
    with runtime.db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.rasa_sender == rasa_sender))
        if conv is None:
            lang = slots.get("language") or runtime.settings.default_language
            return RenderContext(
                language=str(lang), channel="unknown", country=slots.get("country")
            )
        contact = s.get(Contact, conv.contact_id)
        return RenderContext(
            language=conv.language or runtime.settings.default_language,
            channel=contact.channel if contact else "unknown",
            country=conv.country,
        )


async def nlg(request: Request) -> Response:
    runtime = current()
    if not _authorised(request, runtime):
        return JSONResponse({"error": "forbidden"}, status_code=403)
    body = await request.json()
    name = str(body.get("response") or "")
    tracker = body.get("tracker") or {}
    ctx = context_for(runtime, str(tracker.get("sender_id", "")), tracker.get("slots") or {})
    custom: dict[str, Any] = {"key": name}
    if name not in MESSAGES:
        log.error("unknown response requested", extra={"response": name})
        name = "utter_not_understood"
    with runtime.db.session() as s:
        directory = Directory(s)
        if name in ("utter_crisis", "utter_self_harm"):
            reply = runtime.renderer.crisis(ctx, directory, name == "utter_self_harm", True)[0]
        else:
            buttons = None
            if name in ("utter_language_offer", "utter_language_menu"):
                buttons = runtime.renderer.language_buttons(ctx)
            reply = runtime.renderer.render(name, ctx, directory, buttons=buttons)
    custom["roles"] = [b.role for b in reply.buttons]
    return JSONResponse(
        {
            "text": reply.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in reply.buttons],
            "custom": custom,
        }
    )


class ActionsEndpoint:
    """Runs the rasa_sdk actions of the ``actions`` package in this process."""

    def __init__(self) -> None:
        self.executor = ActionExecutor()
        self.executor.register_package("actions")

    async def handle(self, request: Request) -> Response:
        runtime = current()
        if not _authorised(request, runtime):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await request.json()
        try:
            result = await self.executor.run(body)
        except ActionExecutionRejection as exc:
            return JSONResponse(
                {"action_name": exc.action_name, "error": exc.message}, status_code=400
            )
        except ActionNotFoundException as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        if result is None:
            return JSONResponse({"events": [], "responses": []})
        return JSONResponse(result.model_dump())


def routes() -> list[Route]:
    return [
        Route("/rasa/nlg", nlg, methods=["POST"]),
        Route("/rasa/actions", ActionsEndpoint().handle, methods=["POST"]),
    ]
