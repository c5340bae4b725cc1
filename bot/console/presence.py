"""Who is on duty: signed in, marked available, and with a console page open (heartbeat).

``Handoffs.on_duty`` reads ``StaffPresence``; an entry not refreshed for two minutes
no longer counts, so a closed laptop does not keep a queue "staffed".
"""

from __future__ import annotations

from bot.console.auth import Staff
from bot.events import Event, EventBus
from bot.store.db import Database
from bot.store.models import StaffPresence, utcnow


def set_available(db: Database, events: EventBus, staff: Staff, available: bool) -> None:
    with db.session() as s:
        s.merge(
            StaffPresence(
                staff_id=staff.id,
                display_name=staff.display_name,
                languages=list(staff.languages),
                available=available,
                seen_at=utcnow(),
            )
        )
    events.publish(Event("presence.changed"))


def heartbeat(db: Database, staff: Staff) -> bool:
    """Refresh the entry; returns whether this person is available."""
    with db.session() as s:
        entry = s.get(StaffPresence, staff.id)
        if entry is None:
            return False
        entry.seen_at = utcnow()
        entry.display_name = staff.display_name
        entry.languages = list(staff.languages)
        return entry.available


def is_available(db: Database, staff_id: str) -> bool:
    with db.session() as s:
        entry = s.get(StaffPresence, staff_id)
        return bool(entry and entry.available)


def sign_out(db: Database, events: EventBus, staff_id: str) -> None:
    with db.session() as s:
        entry = s.get(StaffPresence, staff_id)
        if entry is not None:
            s.delete(entry)
    events.publish(Event("presence.changed"))
