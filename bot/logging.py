"""Logging without content: no message text, no identifiers, ever (safety-requirements F2, F6).

Code logs fixed event names with a few enumerated fields (channel, intent, mode). As a second line
of defence the formatter prints only those allowed fields and drops the rest, so an accidental
``extra={"text": ...}`` or exception message with user text cannot reach the log.
"""

from __future__ import annotations

import logging
import sys

ALLOWED_FIELDS = (
    "channel",
    "intent",
    "crisis",
    "mode",
    "replies",
    "error",
    "response",
    "status",
    "count",
    "path",
    "method",
    "seconds",
    "kind",
    "attempts",
)


class SafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{name}={getattr(record, name)}" for name in ALLOWED_FIELDS if hasattr(record, name)
        )
        # Our own code never passes content; third-party templates (alembic, uvicorn) are fixed
        # text with technical arguments. Exception messages are never printed, only their type.
        message = record.getMessage() if not record.name.startswith("bot") else str(record.msg)
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {message}"
        if record.exc_info:
            line += f" exception={record.exc_info[0].__name__ if record.exc_info[0] else ''}"
        return f"{line} {fields}".rstrip()


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access", "telegram", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
