"""The messaging platforms a person can write from, and what each allows, declared once.

The conversation and the handoff ask here instead of naming a platform: whether the platform can
erase a chat's messages on exit, whether it limits when we may write first. The adapters that
speak each platform's API live in ``bot/channels/`` (button and text limits stay with them, since
only the adapter lays a reply out). Adding a platform is an entry here, an adapter there, and a
``platform_keeps_<name>`` sentence in ``bot/nlg/messages.py`` (what the platform itself keeps,
said in the person's language: a platform without one gets the general sentence);
docs/architecture.md walks through it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    name: str  # as in Inbound.channel and the contacts table
    # Whether the adapter can delete the chat's messages from the person's phone on exit; if
    # not, the exit reply says so.
    erases_messages: bool
    # How long after the person's last message we may write at all (None: no limit).
    reply_window: dt.timedelta | None = None


PLATFORMS: tuple[Platform, ...] = (
    Platform("telegram", erases_messages=True),
    # WhatsApp: no deleting on the phone; free-form messages only within 24 hours.
    Platform("whatsapp", erases_messages=False, reply_window=dt.timedelta(hours=24)),
    # The web chat: the page keeps nothing and clears itself on exit.
    Platform("webchat", erases_messages=True),
    # Local channels: `bot chat` and `bot eval` keep nothing on any phone.
    Platform("terminal", erases_messages=True),
    Platform("eval", erases_messages=True),
)

_BY_NAME = {platform.name: platform for platform in PLATFORMS}
_UNKNOWN = Platform("unknown", erases_messages=True)


def platform(name: str) -> Platform:
    return _BY_NAME.get(name, _UNKNOWN)
