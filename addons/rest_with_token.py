"""Rasa's REST channel, with the same token as Rasa's HTTP API.

Rasa's own REST channel (``rest:`` in credentials.yml) takes a dialogue turn from anyone who can
reach the port: a local process that knew (or guessed) a survivor's sender id could advance their
conversation. This channel is the same one, under the same name and URL
(``/webhooks/rest/webhook``), refusing every request without ``?token=`` equal to the API's
(``BOT_RASA_TOKEN`` in Rasa's environment, set by ``bot/rasa/process.py``; the bot's client sends it
on every request already).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

TOKEN_VARIABLE = "BOT_RASA_TOKEN"


class TokenRestInput(RestInput):  # type: ignore[misc]
    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TokenRestInput:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint: Blueprint = super().blueprint(on_new_message)
        token = os.environ.get(TOKEN_VARIABLE, "")

        @blueprint.middleware("request")  # type: ignore[misc]
        async def require_token(request: Request) -> HTTPResponse | None:
            given = str(request.args.get("token") or "")
            if not token or not hmac.compare_digest(given.encode(), token.encode()):
                return response.json({"error": "forbidden"}, status=403)
            return None

        return blueprint
