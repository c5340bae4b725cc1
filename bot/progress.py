"""What a person watching `make run`, `bot run` or `bot eval` sees while the assistant starts.

A first start can take ten minutes on a small machine (a Rasa model to train, Rasa to load). A
terminal that prints nothing for minutes looks broken, so every phase says what it is doing and
how long it usually takes before it starts, and how long it took once done. The lines are plain
text (no colours, no cursor tricks) so they read the same in a terminal, in `journalctl` and in a
CI log. They never contain message text or identifiers: only fixed phrases and durations.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

MARK = "==> "  # the same mark scripts/setup.sh uses, so `make run` reads as one sequence
INDENT = "    "


def duration(seconds: float) -> str:
    """``4 s``, ``1 min 05 s``: short, and exact enough for a person comparing with "usually"."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60:02d} s"


class Progress:
    """Phases printed to ``out`` (standard output by default); ``Progress(None)`` prints nothing
    (tests and `bot chat`, which say what they do in their own words)."""

    def __init__(self, out: TextIO | None = sys.stdout) -> None:
        self.out = out

    def say(self, line: str) -> None:
        if self.out is not None:
            self.out.write(line + "\n")
            self.out.flush()

    @contextmanager
    def phase(self, what: str, usually: str = "") -> Iterator[None]:
        """``with progress.phase("Starting Rasa", "usually 20–60 seconds"):`` prints the first
        line before the work and ``done in …`` after it (``failed after …`` if it raised)."""
        self.say(f"{MARK}{what}" + (f" ({usually})…" if usually else "…"))
        started = time.monotonic()
        try:
            yield
        except BaseException:
            self.say(f"{INDENT}failed after {duration(time.monotonic() - started)}")
            raise
        self.say(f"{INDENT}done in {duration(time.monotonic() - started)}")

    def framed(self, lines: list[str]) -> None:
        """A block that stands out from the log lines above it (the first admin's link)."""
        self.say(framed(lines))


def framed(lines: list[str]) -> str:
    """Lines inside a frame of ``=``; a long line (a link) is never wrapped or cut, so it stays
    one piece a terminal can make clickable."""
    width = max(len(line) for line in lines) + 4
    rule = "=" * min(width, 100)
    body = "\n".join(f"  {line}" for line in lines)
    return f"\n{rule}\n{body}\n{rule}\n"
