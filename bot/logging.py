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


# uvicorn logs its start and stop lines ("Started server process", "Application startup
# complete") on a logger named ``uvicorn.error``: shown as such, a first start looks like a list of
# errors. Records keep their level; only the name printed changes.
SHOWN_NAMES = {"uvicorn.error": "uvicorn"}

# Libraries whose INFO lines say nothing an operator needs (their warnings and errors still show):
# Alembic's one line per migration (the set-up says "created the database" instead), rasa_sdk's
# "Registered function", and the clients and schedulers that log every request.
QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "uvicorn.access",
    "telegram",
    "apscheduler",
    "alembic",
    "rasa_sdk",
)


class SafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{name}={getattr(record, name)}" for name in ALLOWED_FIELDS if hasattr(record, name)
        )
        # Our own code never passes content; third-party templates (alembic, uvicorn) are fixed
        # text with technical arguments. Exception messages are never printed, only their type.
        message = record.getMessage() if not record.name.startswith("bot") else str(record.msg)
        name = SHOWN_NAMES.get(record.name, record.name)
        line = f"{self.formatTime(record)} {record.levelname} {name}: {message}"
        if record.exc_info:
            line += f" exception={record.exc_info[0].__name__ if record.exc_info[0] else ''}"
        return f"{line} {fields}".rstrip()


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
