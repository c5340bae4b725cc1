"""The per-contact rate limit: how many messages one person may send in a window before the
assistant stops answering each one and asks them, once, to slow down.

Why: one contact sending hundreds of messages a minute (a script, a stuck phone, someone holding a
key down) made every reply go to Rasa and every line of a live handoff into a transcript staff
decrypt on every refresh. The limit is per contact, counted in memory (one bot process per
database, as the contact locks), in fixed windows of ``BOT_CONTACT_RATE_WINDOW_SECONDS`` that start
with the contact's first message; ``BOT_CONTACT_RATE_MESSAGES`` of 0 turns it off.

What it never does: hold back a crisis or self-harm message, a command (exit, delete, stop, menu,
person, language), an answer to staff's question for the code word, or a button tap; those are
routed before it (``routes.py``), and the inbox takes them ahead of a message that waits.

Nothing a person writes is lost above the limit. In a live handoff the message is kept for the
team. Outside one, a message from a channel (the durable inbox) is kept in the inbox and answered
when the window ends (``RateLimited``): the inbox joins the messages that wait behind it into
that one row, so a flood is answered once, not message by message, and storage stays bounded
(at most ``KEEP_MESSAGES`` messages and ``KEEP_CHARACTERS`` characters; the person is told how
many more were not read, never silently dropped). Only the local terminal, which has no inbox,
still leaves a message above the limit unanswered. Either way the person is told once per window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.types import Reply

# What one kept row may join together (Inbox): enough for what someone writes in a rush, bounded
# so that a script cannot make one person's waiting messages grow without end.
KEEP_MESSAGES = 20
KEEP_CHARACTERS = 4000

# Windows kept at most; beyond this the ended ones are dropped (a flood of new contacts cannot
# grow the table without bound, and an ended window means nothing).
MAX_TRACKED = 50_000


@dataclass
class _Window:
    started: float
    count: int = 0
    noted: bool = False
    # Messages already counted in this window: a message that waited for Rasa is tried again
    # (nothing written the first time) and must not count again, or waiting would exhaust the
    # limit and the message would be dropped.
    counted: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Verdict:
    over: bool = False  # this message is above the limit
    note: bool = False  # and the person has not been told yet in this window


class RateLimited(Exception):
    """A turn run from the durable inbox found an ordinary message above the limit: nothing was
    written; the inbox keeps the row and tries it again in ``seconds``, and queues ``replies``
    (the one note of the window, if it is due) now."""

    def __init__(self, seconds: float, replies: list[Reply], language: str) -> None:
        super().__init__("rate_limited")
        self.seconds = seconds
        self.replies = replies
        self.language = language


class ContactRate:
    def __init__(
        self,
        limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock
        self._windows: dict[str, _Window] = {}

    def count(self, contact_id: str, message: str = "") -> Verdict:
        """Count one message from this contact and say whether it is above the limit; a message
        (``message``: its id) tried again is counted once."""
        if self.limit <= 0 or self.window_seconds <= 0:
            return Verdict()
        now = self.clock()
        window = self._windows.get(contact_id)
        if window is None or now - window.started >= self.window_seconds:
            if window is None and len(self._windows) >= MAX_TRACKED:
                self._forget_ended(now)
            window = self._windows[contact_id] = _Window(started=now)
        if message and message in window.counted:
            return Verdict()  # it was under the limit the first time, or it would not be retried
        if message:
            window.counted.add(message)
        window.count += 1
        if window.count <= self.limit:
            return Verdict()
        return Verdict(over=True, note=not window.noted)

    def told(self, contact_id: str) -> None:
        """The person was asked to slow down: not again in this window. (Marked only when the
        note is sent, so a message above the limit that goes through anyway, a button or the
        exit word, does not use it up.)"""
        window = self._windows.get(contact_id)
        if window is not None:
            window.noted = True

    def resumes_in(self, contact_id: str) -> float:
        """Seconds until this contact's window ends (at least one)."""
        window = self._windows.get(contact_id)
        if window is None:
            return 1.0
        return max(1.0, window.started + self.window_seconds - self.clock())

    def forget(self, contact_id: str) -> None:
        """The contact was erased (DELETE): nothing about them stays, a count included."""
        self._windows.pop(contact_id, None)

    def _forget_ended(self, now: float) -> None:
        ended = [k for k, w in self._windows.items() if now - w.started >= self.window_seconds]
        for key in ended:
            del self._windows[key]
        if len(self._windows) >= MAX_TRACKED:  # all still running: drop the oldest
            oldest = sorted(self._windows, key=lambda k: self._windows[k].started)
            for key in oldest[: len(oldest) // 2]:
                del self._windows[key]
