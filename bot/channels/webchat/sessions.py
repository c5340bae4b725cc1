"""Open web chats, in memory: who holds which token, and which pages are listening.

A chat is identified by a random token that lives only in the page's memory (never a cookie, never
browser storage): closing or reloading the tab loses it, which is the point. The server keeps the
token's SHA-256 only, so a lookup takes the same time whatever a guess shares with a real token, and
the id the inbox and the contact key see is derived from that hash, never the token itself.

Like the contact locks, this lives in the one bot process (docs/deploy.md): a restart ends every
open web chat; the page says so and offers a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

HEX = frozenset("0123456789abcdef")
PREFIX = "w"  # user ids and addresses of the web chat: "w" and 40 hex digits
# What a page's stream is handed: an event and the future its writing resolves; None ends it.
Item: TypeAlias = tuple[dict[str, Any], asyncio.Future[bool]] | None
QUEUE_SIZE = 200  # events waiting for a slow page; past this the page reconnects and catches up


def user_id_of(token: str) -> str:
    """The stable, non-secret id of a chat: what the inbox, the contact key and the outbox see."""
    return PREFIX + hashlib.sha256(token.encode()).hexdigest()[:40]


def is_user_id(value: str) -> bool:
    rest = value[len(PREFIX) :]
    return value.startswith(PREFIX) and len(rest) == 40 and all(c in HEX for c in rest)


@dataclass(eq=False)
class WebSession:
    user_id: str
    contact_id: str
    language: str
    opened: float
    gone_since: float | None  # when the last listening page went away (None: one is listening)
    wrote: bool = False  # whether anything reached the inbox: an exit before that erases nothing
    streams: set[asyncio.Queue[Item]] = field(default_factory=set)
    attached: asyncio.Event = field(default_factory=asyncio.Event)


class Sessions:
    def __init__(
        self, pseudonym: Callable[[str], str], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._pseudonym = pseudonym  # user id -> contact id (the keyed hash the inbox uses)
        self._clock = clock
        self._by_user: dict[str, WebSession] = {}
        self._by_contact: dict[str, WebSession] = {}

    def __len__(self) -> int:
        return len(self._by_user)

    def open(self, language: str) -> tuple[str, WebSession]:
        token = secrets.token_urlsafe(32)
        user_id = user_id_of(token)
        now = self._clock()
        session = WebSession(user_id, self._pseudonym(user_id), language, now, gone_since=now)
        self._by_user[user_id] = session
        self._by_contact[session.contact_id] = session
        return token, session

    def get(self, token: str | None) -> WebSession | None:
        if not token or len(token) > 128:
            return None
        return self._by_user.get(user_id_of(token))

    def by_contact(self, contact_id: str) -> WebSession | None:
        return self._by_contact.get(contact_id)

    def drop(self, session: WebSession) -> None:
        """Forget the chat and close its pages' streams (they end at the next event)."""
        self._by_user.pop(session.user_id, None)
        self._by_contact.pop(session.contact_id, None)
        for queue in list(session.streams):
            _offer(queue, None)

    def attach(self, session: WebSession) -> asyncio.Queue[Item]:
        queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=QUEUE_SIZE)
        session.streams.add(queue)
        session.gone_since = None
        session.attached.set()
        return queue

    def detach(self, session: WebSession, queue: asyncio.Queue[Item]) -> None:
        """The page's stream ended: what it had not written yet counts as not delivered."""
        session.streams.discard(queue)
        while not queue.empty():
            item = queue.get_nowait()
            if item is not None and not item[1].done():
                item[1].set_result(False)
        if not session.streams:
            session.gone_since = self._clock()
            session.attached.clear()

    def push(self, session: WebSession, event: dict[str, Any]) -> list[asyncio.Future[bool]]:
        """Hand an event to every listening page. Each future says whether that page's stream
        wrote it out (False: the stream ended first); none when no page listens."""
        loop = asyncio.get_running_loop()
        taken = []
        for queue in list(session.streams):
            written: asyncio.Future[bool] = loop.create_future()
            if _offer(queue, (event, written)):
                taken.append(written)
        return taken

    def gone(self, seconds: float) -> list[WebSession]:
        """Chats no page has listened to for ``seconds``: their tabs are closed."""
        now = self._clock()
        return [
            s
            for s in self._by_user.values()
            if s.gone_since is not None and now - s.gone_since >= seconds
        ]

    def close_all(self) -> None:
        for session in list(self._by_user.values()):
            for queue in list(session.streams):
                _offer(queue, None)


def _offer(queue: asyncio.Queue[Item], item: Item) -> bool:
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:  # a page that stopped reading: end its stream, it reconnects
        return False
    return True
