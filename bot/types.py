"""The shapes that cross module boundaries: one inbound message, one reply, one turn's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Inbound:
    """A message from any channel, already verified and parsed by its adapter."""

    channel: str  # telegram / whatsapp / terminal / eval
    user_id: str  # the platform id: only hashed or encrypted past the conversation
    message_id: str | None
    text: str | None = None
    payload: str | None = None  # a tapped button's payload
    language_hint: str | None = None  # e.g. Telegram's language_code
    country_hint: str | None = None  # e.g. from a phone number's calling code
    unsupported: bool = False  # media, stickers, locations: not kept, answered politely

    def __post_init__(self) -> None:
        # JSON may carry a lone UTF-16 surrogate ("\\ud800"); it cannot be encoded, so storing or
        # encrypting the text would fail after the message was taken. It becomes U+FFFD here,
        # once, for every channel.
        for name in ("text", "payload", "user_id", "message_id", "language_hint"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, storable(value))


def storable(text: str) -> str:
    """``text`` with lone surrogates replaced (pairs that make one character are joined)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


@dataclass(frozen=True)
class ReplyButton:
    title: str
    payload: str
    role: str | None = None


@dataclass
class Reply:
    text: str
    buttons: list[ReplyButton] = field(default_factory=list)
    key: str = ""  # which message this is (for tests, eval and channel rules), never sent


@dataclass
class TurnResult:
    replies: list[Reply]
    language: str
    intent: str | None = None
    confidence: float | None = None
    crisis: bool = False
    mode: str = "bot"
    extras: dict[str, Any] = field(default_factory=dict)
    duplicate: bool = False  # the message was seen before: nothing was done
    # Which step decided (conversation/routes.py): command, crisis (a lexicon), choice, to_staff,
    # code_word, understanding (the model, and what the turn made of it). For ``bot eval``.
    route: str = ""
    # The rule or model that decided, e.g. "lexicon es/crisis: me van ... matar" or
    # "model emergency 0.71; lexicon en/crisis: kill me (set aside: joke)". For ``bot eval``.
    reason: str = ""


def is_language_offer(reply: Reply) -> bool:
    """The "switch to <language>?" offer: it never counts as the turn's question (channels too)."""
    return bool(reply.buttons) and all(
        b.payload.startswith("/choose_language") for b in reply.buttons
    )
