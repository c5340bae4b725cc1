"""The endpoints file of a Rasa that this process starts: callbacks to us, and, when
``BOT_REDIS_URL`` is set, Rasa's Redis tracker and lock stores.

Written into ``var/rasa/`` (0700) as a 0600 file, because it names where Rasa's state lives. Its
secrets are not in it at all: the callback token and the Redis password reach Rasa in its
environment (readable by this user only), and the file names them as ``${VARIABLE}``, which
Rasa replaces when it reads the file. Neither ever lands on a command line, where ``ps`` shows
it to every user of the machine.

Why the trackers expire after ``BOT_TRANSCRIPT_TTL_HOURS``: a tracker holds the intents and the
routing slots (language, country, kinds of help) of one conversation, never its text. That is
the conversation's working state, and the transcript's time-to-live is the deployment's promise
of how long anything said in a conversation outlives it. Rasa renews the expiry at every turn, so
a conversation that goes on keeps its tracker, and one left alone is gone from Redis a day
later (by default) even if nobody sent EXIT or DELETE. The bot sends the slots again when it has
not synced them within that time (``bot/conversation/dialogue.py``), so an expired tracker
never leaves Rasa without the person's language and country.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.settings import Settings, private_dir

# The variables Rasa reads its secrets from (set by ``RasaProcess.start``).
CALLBACK_URL_VARIABLE = "BOT_CALLBACK_URL"
CALLBACK_TOKEN_VARIABLE = "BOT_CALLBACK_TOKEN"
REDIS_PASSWORD_VARIABLE = "BOT_RASA_REDIS_PASSWORD"
DEFAULT_REDIS_PORT = 6379


class RedisUrlError(ValueError):
    """``BOT_REDIS_URL`` cannot be read; the message says what is wrong, never the password."""


@dataclass(frozen=True)
class RedisTarget:
    """``BOT_REDIS_URL`` taken apart, as Rasa's Redis stores want it."""

    host: str
    port: int
    db: int
    username: str
    password: str
    ssl: bool

    @classmethod
    def parse(cls, url: str) -> RedisTarget:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("redis", "rediss"):
            raise RedisUrlError("BOT_REDIS_URL must start with redis:// or rediss://")
        if not parts.hostname:
            raise RedisUrlError("BOT_REDIS_URL names no host")
        try:
            port = parts.port or DEFAULT_REDIS_PORT
        except ValueError:
            raise RedisUrlError("BOT_REDIS_URL has an invalid port") from None
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise RedisUrlError("BOT_REDIS_URL's database must be a number (e.g. /0)")
        return cls(
            host=parts.hostname,
            port=port,
            db=int(path or 0),
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            ssl=parts.scheme == "rediss",
        )


def tracker_expiry_seconds(settings: Settings) -> int:
    """How long Rasa's Redis keeps a tracker after its last turn (see the module's docstring)."""
    return max(1, settings.transcript_ttl_hours) * 3600


def _store(kind: str, target: RedisTarget, prefix: str, extra: list[str]) -> list[str]:
    lines = [
        f"{kind}:",
        "  type: redis",
        f"  url: {json.dumps(target.host)}",
        f"  port: {target.port}",
        f"  db: {target.db}",
        f"  key_prefix: {json.dumps(prefix)}",
        f"  use_ssl: {'true' if target.ssl else 'false'}",
    ]
    if target.username:
        lines.append(f"  username: {json.dumps(target.username)}")
    if target.password:
        # Unquoted: Rasa only replaces ${...} in plain scalars.
        lines.append(f"  password: ${{{REDIS_PASSWORD_VARIABLE}}}")
    return lines + extra


def endpoints_text(settings: Settings) -> str:
    lines = [
        "# Written by the bot each time it starts Rasa (bot/rasa/endpoints.py); edits are lost.",
        "nlg:",
        f"  url: ${{{CALLBACK_URL_VARIABLE}}}/rasa/nlg",
        f"  token: ${{{CALLBACK_TOKEN_VARIABLE}}}",
        "action_endpoint:",
        f"  url: ${{{CALLBACK_URL_VARIABLE}}}/rasa/actions",
        f"  token: ${{{CALLBACK_TOKEN_VARIABLE}}}",
    ]
    if settings.redis_url.strip():
        target = RedisTarget.parse(settings.redis_url)
        prefix = settings.redis_key_prefix
        lines += _store(
            "tracker_store", target, prefix, [f"  record_exp: {tracker_expiry_seconds(settings)}"]
        )
        lines += _store("lock_store", target, prefix, [])
    return "\n".join(lines) + "\n"


def redis_environment(settings: Settings) -> dict[str, str]:
    """The variables the endpoints file refers to besides the callback's."""
    if not settings.redis_url.strip():
        return {}
    password = RedisTarget.parse(settings.redis_url).password
    return {REDIS_PASSWORD_VARIABLE: password} if password else {}


def write_endpoints(settings: Settings) -> Path:
    """Write the endpoints file (0600, in a 0700 folder of ``var/``) and return its path."""
    folder = settings.data_dir / "rasa"
    private_dir(settings.data_dir)
    private_dir(folder)
    path = folder / "endpoints.yml"
    partial = folder / "endpoints.yml.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(endpoints_text(settings))
    os.replace(partial, path)  # a Rasa starting meanwhile reads the old file or the new, whole
    return path
