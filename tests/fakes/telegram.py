"""A fake Telegram Bot API: ``/bot{token}/{method}``, JSON or form bodies, calls recorded.

Answers like Telegram (``{"ok": true, "result": …}``; errors with ``error_code``, ``description``
and ``parameters.retry_after``, shaped after the fixtures), enforces the limits the bot must respect
(text 1-4096, callback data ≤ 64 bytes, ≤ 100 ids per deleteMessages) and fails on request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes import ServerThread, fixture

# Form fields PTB sends JSON-encoded (it posts application/x-www-form-urlencoded).
JSON_FIELDS = {
    "chat_id",
    "message_id",
    "message_ids",
    "reply_markup",
    "protect_content",
    "link_preview_options",
    "allowed_updates",
    "max_connections",
    "offset",
    "timeout",
    "limit",
    "drop_pending_updates",
}
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Support", "username": "example_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    result: Any = None
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Fault:
    method: str
    chat_id: int | None
    status: int
    times: int | None  # None: until cleared
    body: dict[str, Any]


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.updates: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._ids = itertools.count(10_000)
        self.app = Starlette(
            routes=[Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"])]
        )
        self.server: ServerThread | None = None

    def serve(self, port: int) -> None:
        self.server = ServerThread(self.app, port)
        self.server.start()

    # --- what tests tell it and read from it ---

    def fail(
        self,
        method: str,
        status: int,
        *,
        chat_id: int | None = None,
        times: int | None = 1,
        retry_after: int | None = None,
    ) -> None:
        if status == 429:
            body = fixture("telegram_error_429_flood.json")
            body["parameters"]["retry_after"] = retry_after or 1
            body["description"] = f"Too Many Requests: retry after {retry_after or 1}"
        elif status == 403:
            body = fixture("telegram_error_403_blocked.json")
        else:
            body = {"ok": False, "error_code": status, "description": "Internal Server Error"}
        with self.lock:
            self.faults.append(Fault(method, chat_id, status, times, body))

    def clear_faults(self, chat_id: int | None = None) -> None:
        with self.lock:
            self.faults = [f for f in self.faults if chat_id is not None and f.chat_id != chat_id]

    def queue_update(self, update: dict[str, Any]) -> None:
        with self.lock:
            self.updates.append(update)

    def of(self, chat_id: int, method: str | None = None, ok: bool = True) -> list[Call]:
        with self.lock:
            return [
                c
                for c in self.calls
                if c.params.get("chat_id") == chat_id
                and (method is None or c.method == method)
                and (c.ok or not ok)
            ]

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        """What the person received, in order (with the message id the fake gave it)."""
        return [
            {**c.params, "message_id": c.result["message_id"]}
            for c in self.of(chat_id, "sendMessage")
        ]

    def deleted(self, chat_id: int) -> list[int]:
        ids: list[int] = []
        for call in self.of(chat_id, "deleteMessages"):
            ids.extend(call.params["message_ids"])
        ids.extend(c.params["message_id"] for c in self.of(chat_id, "deleteMessage"))
        return ids

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    # --- the API ---

    async def _handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        params = await _params(request)
        status, body = self._answer(method, params)
        if method == "getUpdates" and not body.get("result"):
            await asyncio.sleep(min(float(params.get("timeout") or 0), 0.3))
            status, body = self._answer(method, params)
        with self.lock:
            self.calls.append(Call(method, params, status, body.get("result")))
        return JSONResponse(body, status_code=status)

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.chat_id in (None, params.get("chat_id")):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault.status, fault.body
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        try:
            return 200, {"ok": True, "result": handler(params)}
        except ValueError as exc:
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}

    def _getMe(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    def _sendMessage(self, params: dict[str, Any]) -> Any:
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 4096:
            raise ValueError("message text is empty or too long")
        markup = params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not 1 <= len(button.get("callback_data", "").encode()) <= 64:
                    raise ValueError("BUTTON_DATA_INVALID")
        message = fixture("telegram_sendmessage_response.json")["result"]
        message.update(
            message_id=next(self._ids),
            date=int(time.time()),
            text=text,
            chat={"id": params["chat_id"], "type": "private", "first_name": "Test"},
        )
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    def _answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            raise ValueError("query id is empty")
        return True

    def _deleteMessages(self, params: dict[str, Any]) -> Any:
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise ValueError("message_ids must have 1-100 ids")
        return True

    def _deleteMessage(self, params: dict[str, Any]) -> Any:
        return True

    def _setWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        with self.lock:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            return list(self.updates)


async def _params(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return dict(await request.json())
    raw: dict[str, Any] = dict(request.query_params)
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        raw.update({k: v for k, v in form.items() if isinstance(v, str)})
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in JSON_FIELDS and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        params[key] = value
    return params
