"""Small fakes of the Telegram Bot API and the WhatsApp Graph API, served on 127.0.0.1.

Each runs in a thread with its own event loop, so tests, the in-process stack and a separate bot
process can all reach it. They record every call, accept JSON and form bodies, check the limits the
real APIs enforce, and can be told to answer 429, 403, 5xx or Meta's error codes.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

# Real payloads (sources and licences in tests/fixtures/README.md), copied so the suite needs
# nothing outside the repository.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    """A fixture payload (every one is a JSON object), parsed anew on every call."""
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), name
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """A Starlette app on 127.0.0.1:port, served by uvicorn in a daemon thread."""

    def __init__(self, app: Starlette, port: int) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("fake API server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


_running: dict[tuple[str, int], Any] = {}


def running(kind: type[Any], port: int, **kwargs: Any) -> Any:
    """One fake per port for the whole session (the stack's settings name the port)."""
    key = (kind.__name__, port)
    if key not in _running:
        fake = kind(**kwargs)
        fake.serve(port)
        _running[key] = fake
    return _running[key]
