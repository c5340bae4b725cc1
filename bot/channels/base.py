"""What every messaging channel shares: the intake item, send outcomes, numbered buttons, limits.

A channel adapter verifies and parses a platform's webhook into an ``Intake`` (stored in the durable
inbox before the platform gets its 200), turns a turn's replies into outbox payloads (``plan``) and
sends one payload at a time (``send``), reporting an ``Outcome`` the outbox acts on.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.routing import BaseRoute

from bot.http_limits import client_int
from bot.types import Inbound, Reply, is_language_offer


@dataclass(frozen=True)
class Intake:
    """One verified inbound message, ready for the durable inbox."""

    inbound: Inbound
    address: str  # where replies go: chat id, phone or WhatsApp user id (stored encrypted only)
    platform_message_id: str | None = None  # Telegram: kept so the exit word can delete it
    sent_at: dt.datetime | None = None  # when the person sent it (UTC), if the platform says


class Outcome(enum.Enum):
    SENT = "sent"  # the platform accepted it: the row is deleted
    RETRY = "retry"  # network error, 5xx, rate limit: try again later
    DEAD = "dead"  # the platform refused it for good: kept for staff, never retried blindly
    BLOCKED = "blocked"  # the person blocked the bot: stop sending to them at all
    HOLD = "hold"  # WhatsApp's 24-hour window is closed: wait for the person to write


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    error: str = ""  # an error code or class name, never content
    retry_after: float | None = None  # seconds the platform asked us to wait
    message_ids: tuple[str, ...] = ()  # platform ids to keep for deletion (Telegram)


class Channel(Protocol):
    name: str

    def routes(self) -> list[BaseRoute]: ...

    def address_ok(self, address: str) -> bool:
        """Whether replies can be sent to this address at all (else they are not queued)."""
        ...

    def plan(
        self, replies: list[Reply], *, address: str, language: str, erase: bool
    ) -> list[dict[str, Any]]:
        """The outbox payloads for one batch of replies, in sending order."""
        ...

    async def send(self, contact_id: str, payload: dict[str, Any]) -> SendResult: ...

    def after_turn(
        self, s: Session, contact_id: str, address: str, inbound_at: dt.datetime
    ) -> None:
        """Bookkeeping once a turn's replies are queued (e.g. WhatsApp's 24-hour window)."""
        ...

    def purge(self) -> None:
        """Drop what the channel keeps past its use (e.g. message ids too old to delete)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def numbered_index(replies: list[Reply]) -> int | None:
    """Which reply's buttons a typed number chooses: the conversation maps "1" to the last question
    asked, language offers aside (``Gateway._finish``); only that reply shows numbers."""
    asked = [i for i, r in enumerate(replies) if r.buttons and not is_language_offer(r)]
    return asked[-1] if asked else None


def split_text(text: str, limit: int) -> list[str]:
    """Cut a long text into parts under the platform's limit, at paragraph or line breaks."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit))
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return [p for p in parts if p]


async def read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None past ``limit`` bytes (a hostile sender cannot make us buffer more)."""
    declared = request.headers.get("content-length")
    if declared is not None and (client_int(declared, most=2**62) or 0) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def loads_object(body: bytes) -> dict[str, Any] | None:
    """JSON object or None; raises ValueError when the body is not JSON at all."""
    try:
        data = json.loads(body)
    except RecursionError:  # a signed but absurdly nested body: refused, not a 500
        raise ValueError("JSON nested too deeply") from None
    return data if isinstance(data, dict) else None


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
