"""The audit log (F10): who did what, to which conversation, when; never any content.

``detail`` takes enumerated values only (a language code, a role, a reason); the helper refuses
anything else, so a message or a note cannot end up here by mistake.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from bot.store.console_models import AuditEvent

_SAFE = re.compile(r"^[a-z0-9_.:-]{0,40}$")


def record(
    session: Session,
    staff_id: str | None,
    action: str,
    conversation_id: str | None = None,
    **detail: str | int | bool | None,
) -> None:
    clean: dict[str, str | int | bool | None] = {}
    for key, value in detail.items():
        if isinstance(value, str) and not _SAFE.match(value):
            raise ValueError(f"audit detail {key!r} is not an enumerated value")
        clean[key] = value
    session.add(
        AuditEvent(staff_id=staff_id, action=action, conversation_id=conversation_id, detail=clean)
    )
