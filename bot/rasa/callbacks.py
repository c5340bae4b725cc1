"""The two endpoints Rasa calls back on loopback: response rendering (NLG) and custom actions.

Both render with the context of the turn that is waiting for Rasa (``CallbackContexts``): the
turn has not committed yet, so the database may not know its language or country.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from typing import Any

from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.directory.service import Directory
from bot.nlg.messages import MESSAGES
from bot.nlg.render import Renderer
from bot.rasa.inflight import CallbackContexts
from bot.safety.screen import CrisisKind
from bot.store.db import Database
from bot.types import Reply

log = logging.getLogger("bot.rasa.callbacks")
LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}
# Rasa's crisis responses, and the wording each stands for (the renderer's crisis reply).
CRISIS_RESPONSES: dict[str, CrisisKind] = {"utter_crisis": "self", "utter_self_harm": "self_harm"}


def authorised(request: Request, token: str) -> bool:
    client = request.client.host if request.client else ""
    given = request.query_params.get("token", "")
    return client in LOOPBACK and hmac.compare_digest(given, token)


class Callbacks:
    def __init__(
        self,
        token: Callable[[], str],
        renderer: Renderer,
        db: Database,
        contexts: CallbackContexts,
        actions: Sequence[Action],
    ) -> None:
        self.token = token
        self.renderer = renderer
        self.db = db
        self.contexts = contexts
        self.executor = ActionExecutor()
        for action in actions:
            self.executor.register_action(action)

    async def nlg(self, request: Request) -> Response:
        if not authorised(request, self.token()):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await request.json()
        name = str(body.get("response") or "")
        tracker = body.get("tracker") or {}
        # Like the directory below, read on a database thread (a stored conversation, when no
        # turn of this sender is in flight).
        ctx = await self.db.call(
            self.contexts.for_sender, str(tracker.get("sender_id", "")), tracker.get("slots") or {}
        )
        custom: dict[str, Any] = {"key": name}
        if name not in MESSAGES:
            log.error("unknown response requested", extra={"response": name})
            name = "utter_not_understood"

        crisis: CrisisKind | None = CRISIS_RESPONSES.get(name)

        def render() -> Reply:
            with self.db.session() as s:
                directory = Directory(s)
                if crisis is not None:
                    return self.renderer.crisis(ctx, directory, crisis, True)[0]
                buttons = None
                if name in ("utter_language_offer", "utter_language_menu"):
                    buttons = self.renderer.language_buttons(ctx)
                return self.renderer.render(name, ctx, directory, buttons=buttons)

        # The directory is read on a database thread: a database that hangs holds this
        # answer to Rasa, never the event loop that answers everyone else.
        reply = await self.db.call(render)
        if crisis is None:
            custom["key"] = reply.key  # the wording chosen for this person (young, self)
        custom["roles"] = [b.role for b in reply.buttons]
        return JSONResponse(
            {
                "text": reply.text,
                "buttons": [{"title": b.title, "payload": b.payload} for b in reply.buttons],
                "custom": custom,
            }
        )

    async def actions(self, request: Request) -> Response:
        """Runs the rasa_sdk actions (``actions/``) in this process."""
        if not authorised(request, self.token()):
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

    def routes(self) -> list[Route]:
        return [
            Route("/rasa/nlg", self.nlg, methods=["POST"]),
            Route("/rasa/actions", self.actions, methods=["POST"]),
        ]
