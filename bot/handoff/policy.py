"""When the team may write to a survivor outside a turn of theirs (E4, A6, WhatsApp's window).

"Their turn" is the few minutes after the survivor's last message: they are holding the phone and
expect an answer. Outside it, a message may arrive on a phone someone else is reading, so:
- "only when I write" (the default) allows nothing outside their turn;
- WhatsApp refuses free-form messages more than 24 hours after the person's last message; then
  only a person who agreed to it (``late.py``) can be reached, by one neutral template, and the
  reply waits until they answer it;
- chosen safe hours allow writing first only when it is that time in every time zone of their
  country (unknown country: never).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from babel.core import get_global

from bot.handoff.card import SAFE_HOURS, Safety
from bot.platforms import platform


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str  # turn / open / never_first / whatsapp_window / whatsapp_template / safe_hours
    until: dt.datetime | None = None  # naive UTC: when this permission (or WhatsApp's window) ends
    whatsapp_until: dt.datetime | None = None


def country_zones(country: str | None) -> list[str]:
    if not country:
        return []
    zones = get_global("territory_zones")
    return [str(z) for z in zones.get(country.upper(), [])]


def in_safe_hours(hours: str, country: str | None, now: dt.datetime) -> bool:
    zones = country_zones(country)
    if not zones or hours not in SAFE_HOURS:
        return False
    start, end = SAFE_HOURS[hours]
    aware = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now
    for zone in zones:
        hour = aware.astimezone(ZoneInfo(zone)).hour
        inside = start <= hour < end if start < end else (hour >= start or hour < end)
        if not inside:
            return False
    return True


def outbound(
    safety: Safety,
    channel: str,
    last_inbound_at: dt.datetime | None,
    now: dt.datetime,
    turn_minutes: int,
    country: str | None,
    late_until: dt.datetime | None = None,
) -> Permission:
    """Whether a message to the survivor may go out now, and why (for the console to say).

    ``late_until``: the person agreed to be reached after WhatsApp's window until then
    (``late.py``). A reply then goes as the approved template, the reply itself waiting until
    they answer; their safety choices still come first."""
    window = platform(channel).reply_window
    wa_end = last_inbound_at + window if window is not None and last_inbound_at else None
    if last_inbound_at is not None and now - last_inbound_at <= dt.timedelta(minutes=turn_minutes):
        turn_end = last_inbound_at + dt.timedelta(minutes=turn_minutes)
        return Permission(True, "turn", turn_end, wa_end)
    closed = window is not None and (wa_end is None or now > wa_end)
    if closed and (late_until is None or late_until <= now):
        return Permission(False, "whatsapp_window", None, wa_end)
    if safety.never_first:
        return Permission(False, "never_first", None, wa_end)
    if safety.safe_hours and not in_safe_hours(safety.safe_hours, country, now):
        return Permission(False, "safe_hours", None, wa_end)
    if closed:
        return Permission(True, "whatsapp_template", late_until, wa_end)
    return Permission(True, "open", wa_end, wa_end)
