"""A country's numbers: the kinds a reply may show, how each is reached, and the one rule for
checking a number that comes from the console, the CLI or an import file.

Every number carries the address it was read at and the date; ``confirmed`` is false for a number
the compiler could not confirm from a stored source (or an admin has not yet checked). Survivors
are shown unconfirmed numbers only for the emergency kinds, and only when no confirmed one exists:
a wrong 911-style number costs little (phones route the common ones anyway), a wrong crisis line
costs the person the call they managed to make.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

# In the order the console shows them.
KINDS: tuple[str, ...] = (
    "emergency",  # one number for police, fire and ambulance
    "police",
    "ambulance",
    "fire",
    "trafficking",  # the national anti-trafficking line
    "crisis",  # a suicide or crisis line
    "child",  # a child helpline
    "deaf",  # reachable without voice: text, WhatsApp or relay
)
EMERGENCY_KINDS = ("emergency", "police", "ambulance", "fire")
HOW: tuple[str, ...] = ("voice", "sms", "whatsapp", "relay")

_NUMBER = re.compile(r"^[0-9+*#() .\-]{2,30}$")
_URL = re.compile(r"^https?://\S{3,500}$")


class NumberProblem(ValueError):
    """A number that cannot be stored; ``code`` names the problem for translated messages."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def clean(entry: dict[str, Any]) -> dict[str, Any]:
    """The stored form of one number, or NumberProblem. A confirmed number needs its source."""
    kind = str(entry.get("kind") or "").strip()
    if kind not in KINDS:
        raise NumberProblem("bad_kind", f"kind '{kind}' is not one of {', '.join(KINDS)}")
    number = str(entry.get("number") or "").strip()
    if not _NUMBER.match(number) or not re.search(r"\d", number):
        raise NumberProblem("bad_number", f"'{number}' is not a phone number or short code")
    how = str(entry.get("how") or "voice").strip()
    if how not in HOW:
        raise NumberProblem("bad_how", f"'{how}' is not one of {', '.join(HOW)}")
    source = str(entry.get("source") or "").strip()
    if source and not _URL.match(source):
        raise NumberProblem("bad_source", "the source must be a web address (http or https)")
    verified = entry.get("verified")
    if isinstance(verified, dt.date):
        verified = verified.isoformat()
    if verified:
        try:
            dt.date.fromisoformat(str(verified))
        except ValueError:
            raise NumberProblem("bad_date", f"'{verified}' is not a date (YYYY-MM-DD)") from None
    confirmed = entry.get("confirmed") in (True, "true", "1", "on", "yes")
    if confirmed and not (source and verified):
        raise NumberProblem("unsourced", "a confirmed number needs its source and a verified date")
    out: dict[str, Any] = {
        "kind": kind,
        "number": number,
        "label": str(entry.get("label") or "").strip()[:200],
        "how": how,
        "source": source,
        "verified": str(verified) if verified else None,
        "confirmed": confirmed,
    }
    note = str(entry.get("note") or "").strip()[:300]
    if note:
        out["note"] = note
    return out


def clean_all(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for entry in entries:
        number = clean(entry)
        key = (number["kind"], number["number"], number["how"])
        if key not in seen:
            seen.add(key)
            out.append(number)
    return out


def shown(numbers: Iterable[dict[str, Any]], kind: str, how: str | None = "voice") -> list[str]:
    """The numbers of one kind a survivor may be shown, best first (module docstring)."""
    of_kind = [n for n in numbers if n.get("kind") == kind and (how is None or n.get("how") == how)]
    confirmed = [str(n["number"]) for n in of_kind if n.get("confirmed")]
    if confirmed or kind not in EMERGENCY_KINDS:
        return confirmed
    return [str(n["number"]) for n in of_kind]
