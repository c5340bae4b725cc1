"""WhatsApp after 24 hours: the person's own, time-limited permission to be contacted again.

WhatsApp refuses free-form messages more than 24 hours after the person's last message; only an
approved template may go then. A reply from the team that comes late would otherwise never reach
the person. So, once, when a WhatsApp request for a person is queued, the person is asked
whether the team may send one short neutral message later to reopen the chat (it says nothing
about what the chat is about), and for how long that holds (``BOT_WHATSAPP_OPTIN_DAYS``).

- Only an explicit "yes" (tapped or typed) sets it, with an expiry; "no" or silence sets nothing.
- It is never asked when it could not be used: no approved template configured, a platform
  without a reply window, or the person chose "only when I write" (the team then never writes
  first, so a reopening message would break that choice).
- It is stored as ``ChannelWindow.opted_in_until``; the WhatsApp channel sends the template only
  before that time, erases it at expiry (its purge), and EXIT and DELETE erase it with
  everything else (``bot/conversation/erasure.py``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.handoff.card import Safety
from bot.platforms import platform
from bot.settings import Settings
from bot.store.channel_models import ChannelWindow
from bot.store.models import utcnow

# The payloads of the question's two buttons (answered in this process, Rasa not needed).
YES, NO = "late_reply_yes", "late_reply_no"
PAYLOADS = frozenset({YES, NO})


class LateReplies:
    def __init__(self, settings: Settings) -> None:
        # Read at each call: admins and tests may change the template while the bot runs.
        self.settings = settings

    @property
    def days(self) -> int:
        return max(self.settings.whatsapp_optin_days, 0)

    def usable(self) -> bool:
        """A permission could be used: an approved template is configured and it lasts."""
        return bool(self.settings.whatsapp_template) and self.days > 0

    def should_ask(self, channel: str, safety: Safety) -> bool:
        """Whether to ask this person, whose request was just queued."""
        return (
            platform(channel).reply_window is not None and self.usable() and not safety.never_first
        )

    def until(
        self, s: Session, contact_id: str, now: dt.datetime | None = None
    ) -> dt.datetime | None:
        """Until when a late reply may reopen the chat with the template; None: it may not."""
        if not self.usable():
            return None
        window = s.get(ChannelWindow, contact_id)
        expires = window.opted_in_until if window is not None else None
        if expires is None or expires <= (now or utcnow()):
            return None
        return expires

    def grant(self, s: Session, contact_id: str, now: dt.datetime | None = None) -> dt.datetime:
        """The person said yes: the permission, from now, for ``days``."""
        window = s.get(ChannelWindow, contact_id)
        if window is None:
            window = ChannelWindow(contact_id=contact_id)
            s.add(window)
        window.opted_in_until = (now or utcnow()) + dt.timedelta(days=self.days)
        return window.opted_in_until


def withdraw(s: Session, contact_id: str) -> None:
    """No permission any more (no, exit, delete)."""
    s.execute(
        update(ChannelWindow)
        .where(ChannelWindow.contact_id == contact_id)
        .values(opted_in_until=None)
        .execution_options(synchronize_session="fetch")
    )


def erase_expired(s: Session, now: dt.datetime | None = None) -> int:
    """Permissions whose time is over are erased, not merely ignored."""
    result = s.execute(
        update(ChannelWindow)
        .where(ChannelWindow.opted_in_until.is_not(None))
        .where(ChannelWindow.opted_in_until <= (now or utcnow()))
        .values(opted_in_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
