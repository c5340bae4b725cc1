"""A fake WhatsApp Cloud API: ``POST /{version}/{phone-number-id}/messages``, calls recorded.

Checks the bearer token and the message shapes and limits Meta enforces (reply buttons ≤ 3 with
unique titles ≤ 20 characters, list rows ≤ 10 with titles ≤ 24, interactive bodies ≤ 1024, text
≤ 4096), answers like the Meta OpenAPI examples (fixtures), and fails on request with an HTTP
status and a Graph error code (e.g. 131047, the closed 24-hour window).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes import ServerThread, fixture


@dataclass
class Call:
    body: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def recipient(self) -> str | None:
        return self.body.get("to") or self.body.get("recipient")


@dataclass
class Fault:
    recipient: str | None
    status: int
    code: int
    times: int | None


class FakeGraph:
    def __init__(self, token: str, phone_number_id: str) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[Route("/{version}/{number}/messages", self._handle, methods=["POST"])]
        )
        self.server: ServerThread | None = None

    def serve(self, port: int) -> None:
        self.server = ServerThread(self.app, port)
        self.server.start()

    # --- what tests tell it and read from it ---

    def fail(
        self, status: int, code: int, *, recipient: str | None = None, times: int | None = 1
    ) -> None:
        with self.lock:
            self.faults.append(Fault(recipient, status, code, times))

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = []

    def of(self, recipient: str, ok: bool = True) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.recipient == recipient and (c.ok or not ok)]

    def sent(self, recipient: str) -> list[dict[str, Any]]:
        """The messages the person received, in order."""
        return [c.body for c in self.of(recipient)]

    def reads(self) -> list[str]:
        with self.lock:
            return [c.body["message_id"] for c in self.calls if c.body.get("status") == "read"]

    # --- the API ---

    async def _handle(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, 190, "Invalid OAuth access token")
        if request.path_params["number"] != self.phone_number_id:
            return _error(400, 100, "Unknown phone number id")
        body = await request.json()
        status, answer = self._answer(body)
        with self.lock:
            self.calls.append(Call(body, status))
        return JSONResponse(answer, status_code=status)

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("messaging_product") != "whatsapp":
            return 400, _error_body(100, "messaging_product must be whatsapp")
        if body.get("status") == "read":
            if not body.get("message_id"):
                return 400, _error_body(100, "message_id is required")
            return 200, fixture("whatsapp_mark_read_response_meta_openapi.json")
        recipient = body.get("to") or body.get("recipient")
        with self.lock:
            for fault in self.faults:
                if fault.recipient in (None, recipient):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault.status, _error_body(fault.code, "Fault injected by the test")
        problem = _check(body)
        if problem:
            return 400, _error_body(100, problem)
        answer = fixture("whatsapp_send_response_meta_openapi.json")
        answer["contacts"] = [{"input": recipient, "wa_id": recipient}]
        answer["messages"] = [{"id": f"wamid.FAKE{next(self._ids):08d}"}]
        return 200, answer


def _check(body: dict[str, Any]) -> str | None:
    if not (body.get("to") or body.get("recipient")):
        return "to or recipient is required"
    kind = body.get("type")
    if kind == "text":
        text = body.get("text", {})
        if not 1 <= len(text.get("body", "")) <= 4096:
            return "text body must have 1-4096 characters"
        if text.get("preview_url") is not False:
            return "link previews must be off"
        return None
    if kind == "template":
        template = body.get("template", {})
        return None if template.get("name") and template.get("language") else "bad template"
    if kind != "interactive":
        return f"unknown type {kind}"
    interactive = body.get("interactive", {})
    text = interactive.get("body", {}).get("text", "")
    if not 1 <= len(text) <= 1024:
        return "interactive body must have 1-1024 characters"
    action = interactive.get("action", {})
    if interactive.get("type") == "button":
        buttons = action.get("buttons", [])
        titles = [b["reply"]["title"] for b in buttons]
        if not 1 <= len(buttons) <= 3 or len(set(titles)) != len(titles):
            return "1-3 buttons with unique titles"
        if any(not 1 <= len(t) <= 20 for t in titles):
            return "button titles have 1-20 characters"
        if any(not 1 <= len(b["reply"]["id"]) <= 256 for b in buttons):
            return "button ids have 1-256 characters"
        return None
    if interactive.get("type") == "list":
        rows = [r for s in action.get("sections", []) for r in s.get("rows", [])]
        if not 1 <= len(rows) <= 10:
            return "1-10 rows"
        if any(not 1 <= len(r["title"]) <= 24 or len(r.get("description", "")) > 72 for r in rows):
            return "row titles have 1-24 characters, descriptions up to 72"
        if not 1 <= len(action.get("button", "")) <= 20:
            return "the list button has 1-20 characters"
        return None
    return "unknown interactive type"


def _error_body(code: int, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"(#{code}) {message}",
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AfakeTrace",
        }
    }


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(_error_body(code, message), status_code=status)
