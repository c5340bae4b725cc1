"""A stand-in for the Telegram Bot API on 127.0.0.1, for load: it answers every method and notes
when each ``sendMessage`` reaches it, per chat.

The test suite has a stricter fake (limits, injected faults) in tests/fakes; this one only needs to
be fast and to timestamp deliveries with the same clock as the load generator, so the bench runs
it in a thread of its own process.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class TelegramSink:
    def __init__(self, token: str, port: int) -> None:
        self.token = token
        self.port = port
        self.lock = threading.Lock()
        self.delivered: dict[int, list[float]] = defaultdict(list)  # chat id → arrival times
        self.first_lines: dict[int, list[str]] = defaultdict(list)  # chat id → what arrived
        self.full_texts: dict[int, list[str]] = defaultdict(list)  # the same, whole
        self._ids = itertools.count(1000)
        app = Starlette(routes=[Route("/bot{token}/{method}", self._handle, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the Telegram stand-in did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def first_after(self, chat_id: int, since: float) -> float | None:
        with self.lock:
            return next((t for t in self.delivered.get(chat_id, []) if t >= since), None)

    def texts(self, chat_id: int) -> list[str]:
        """The first line of each message the chat received."""
        with self.lock:
            return list(self.first_lines.get(chat_id, []))

    def messages(self, chat_id: int) -> list[str]:
        """The whole text of each message the chat received."""
        with self.lock:
            return list(self.full_texts.get(chat_id, []))

    def arrivals(self, chat_id: int) -> list[float]:
        """When each message the chat received arrived (``texts``'s order)."""
        with self.lock:
            return list(self.delivered.get(chat_id, []))

    def last(self, chat_id: int) -> float | None:
        with self.lock:
            times = self.delivered.get(chat_id)
            return times[-1] if times else None

    async def _handle(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401}, status_code=401)
        method = request.path_params["method"]
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            params: dict[str, Any] = json.loads(body or b"{}")
        else:
            params = dict(parse_qsl(body.decode()))
        if method != "sendMessage":
            return JSONResponse({"ok": True, "result": True})
        arrived = time.monotonic()
        chat_id = int(params["chat_id"])
        with self.lock:
            self.delivered[chat_id].append(arrived)
            self.first_lines[chat_id].append(str(params.get("text", "")).split("\n", 1)[0])
            self.full_texts[chat_id].append(str(params.get("text", "")))
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": str(params.get("text", "")),
        }
        return JSONResponse({"ok": True, "result": message})


def text_update(update_id: int, chat_id: int, text: str, language: str) -> dict[str, Any]:
    """A private text message as the Bot API documents it (the shape PTB parses)."""
    person = {"id": chat_id, "is_bot": False, "first_name": "Bench", "language_code": language}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
            "from": person,
            "text": text,
        },
    }
