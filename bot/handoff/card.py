"""The short handoff summary (E2): enumerated fields only, shown to the survivor before it is sent.

The same fields reach the console; nothing the person wrote is ever on it. Safety preferences
(E4) default to the most protective choice: no phone calls, and the team writes only right after
the person writes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from bot.languages import NATIVE_NAMES
from bot.nlg.messages import MESSAGES
from bot.nlg.render import RenderContext, Renderer
from bot.safety.text import fold_command
from bot.store.crypto import Crypto
from bot.store.models import Conversation, HandoffRequest

# Safe hours the person may pick, local time: (start hour, end hour), end exclusive, may wrap.
SAFE_HOURS: dict[str, tuple[int, int]] = {
    "morning": (6, 12),
    "afternoon": (12, 18),
    "evening": (18, 22),
    "night": (22, 6),
}
LANGUAGE_NAMES = NATIVE_NAMES
# Wrong answers to staff's "what is your code word" before the case stays hidden for good (a
# supervisor takes over): enough for a typo or two, too few to guess a word.
MAX_CODE_WORD_TRIES = 5


@dataclass(frozen=True)
class Safety:
    no_calls: bool = True
    never_first: bool = True  # "the team writes only right after you write"
    safe_hours: str | None = None  # a key of SAFE_HOURS; only matters when never_first is off

    @classmethod
    def of(cls, req: HandoffRequest) -> Safety:
        data: dict[str, Any] = dict(req.safety or {})
        hours = data.get("safe_hours")
        return cls(
            no_calls=bool(data.get("no_calls", True)),
            never_first=bool(data.get("never_first", True)),
            safe_hours=hours if hours in SAFE_HOURS else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "no_calls": self.no_calls,
            "never_first": self.never_first,
            "safe_hours": self.safe_hours,
        }


def code_word_hash(crypto: Crypto, word: str) -> str:
    """A keyed hash of the folded word: case, accents and punctuation do not count."""
    key = crypto.internal_token("handoff-code-word").encode()
    return hmac.new(key, fold_command(word).encode(), hashlib.sha256).hexdigest()


def code_word_matches(crypto: Crypto, stored: str | None, attempt: str) -> bool:
    if not stored or not fold_command(attempt):
        return False
    return hmac.compare_digest(stored, code_word_hash(crypto, attempt))


def edit(req: HandoffRequest, conv: Conversation, field: str, value: str | None = None) -> None:
    """Apply one change the person chose; unknown fields change nothing."""
    safety = Safety.of(req).as_dict()
    if field == "country":
        req.country = None if req.country else conv.country
    elif field == "needs":
        req.needs = [] if req.needs else list(conv.needs or [])
    elif field == "urgent":
        req.urgency = 0 if req.urgency else 1
    elif field == "calls":
        safety["no_calls"] = not safety["no_calls"]
    elif field == "first":
        safety["never_first"] = not safety["never_first"]
    elif field == "hours":
        safety["safe_hours"] = value if value in SAFE_HOURS else None
    req.safety = safety


def change_options(req: HandoffRequest, conv: Conversation) -> list[tuple[str, str]]:
    """(button text key, payload) for each change that makes sense now, then "Done"."""
    safety = Safety.of(req)
    options: list[tuple[str, str]] = []
    if req.country:
        options.append(("button_hide_country", "country"))
    elif conv.country:
        options.append(("button_show_country", "country"))
    if req.needs:
        options.append(("button_hide_needs", "needs"))
    elif conv.needs:
        options.append(("button_show_needs", "needs"))
    options.append(("button_not_urgent" if req.urgency else "button_urgent", "urgent"))
    options.append(("button_calls_ok" if safety.no_calls else "button_no_calls", "calls"))
    options.append(
        ("button_may_write_first" if safety.never_first else "button_only_reply", "first")
    )
    if not safety.never_first:
        options.append(("button_safe_hours", "hours"))
    return [(key, _edit_payload(field)) for key, field in options] + [("button_done", "/card_show")]


def _edit_payload(field: str) -> str:
    if field == "hours":
        return "/card_hours"
    return f'/card_edit{{"field":"{field}"}}'


def hours_options() -> list[tuple[str, str]]:
    options = [(f"button_hours_{name}", name) for name in SAFE_HOURS]
    options.append(("button_any_time", "any"))
    return [(key, f'/card_edit{{"field":"hours","value":"{value}"}}') for key, value in options]


def card_text(renderer: Renderer, ctx: RenderContext, req: HandoffRequest) -> str:
    """The summary as the person reads it, one enumerated field a line, in their language."""

    def t(key: str, **values: Any) -> str:
        return renderer.t(key, ctx, **values)

    lines = [t("card_language", value=LANGUAGE_NAMES.get(req.language, req.language))]
    if req.country:
        lines.append(t("card_country", value=renderer.country_name(req.country, ctx.language)))
    else:
        lines.append(t("card_country_hidden"))
    needs = [t(f"category_{n}") for n in req.needs or [] if f"category_{n}" in MESSAGES]
    lines.append(t("card_needs", value=", ".join(needs)) if needs else t("card_needs_hidden"))
    lines.append(t("card_urgent" if req.urgency else "card_not_urgent"))
    safety = Safety.of(req)
    lines.append(t("card_no_calls" if safety.no_calls else "card_calls_ok"))
    lines.append(t("card_only_reply" if safety.never_first else "card_may_write_first"))
    if not safety.never_first and safety.safe_hours:
        lines.append(t("card_safe_hours", hours=t(f"button_hours_{safety.safe_hours}")))
    lines.append(t("card_code_word_set" if req.code_word_hash else "card_code_word_none"))
    return "\n".join(lines)
