"""The crisis lifeline: the numbers, sent from the webhook itself, when the database cannot take a
crisis message in time.

A message is stored before it is answered (``bot/channels/inbox.py``): nothing is lost, but while
the database is away (a stall, a failover, a network cut) the webhook answers 503 and the platform
delivers again later, so a person in danger would wait as long as the outage. A crisis cannot wait
for that. When the deterministic screen finds one and the store has not finished within
``BOT_CRISIS_LIFELINE_SECONDS``, or failed, the webhook sends the crisis reply's first message
(the emergency numbers, the support lines, the offer of a person) straight to the person, then goes
on as before: stored when the database is back, answered by a full turn then.

- The text is rendered ahead of time from the database (``refresh``: at start and every
  ``REFRESH_SECONDS``), for every channel, language, kind of danger and country hint, as a turn
  renders it for a person whose country is not known yet. An outage keeps the last rendering;
  before the first one there is nothing to send, and that is logged.
- Once per message across processes: a platform redelivers a webhook it got a 503 for, maybe to
  another process; ``bot/store/once.py`` (Redis when configured) says whether the numbers went
  already. Redis away too, each process decides alone: the numbers twice rather than never.
- What it gives up, knowingly: the person may get the numbers twice (once here, once from the
  turn), and the platform's id of this message is not kept, so an exit word cannot delete it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from bot.channels.base import Channel, Intake, Outcome
from bot.channels.parts import ChannelParts
from bot.directory.service import Directory
from bot.nlg.render import CRISIS_KEYS, RenderContext
from bot.safety.screen import CrisisKind, Screening
from bot.store.once import Once
from bot.types import Reply

log = logging.getLogger("bot.channels.lifeline")

REFRESH_SECONDS = 300.0  # numbers an admin changes reach the lifeline within this
SENT_STAMP = "sent:"  # + contact: the last urgent send to them, from any process
# Hosts' clocks differ a little: an urgent send this long before the crisis was stored still
# counts as its reply (at worst, a person given the numbers a moment ago is not given them again).
CLOCK_SLACK = 0.25


@dataclass(frozen=True)
class Rendered:
    text: str
    language: str


class Lifeline:
    def __init__(self, runtime: ChannelParts, once: Once) -> None:
        self.runtime = runtime
        self.once = once
        # (channel, language, kind, country hint, language sure) -> the text
        self._texts: dict[tuple[str, str, CrisisKind, str | None, bool], str] = {}
        self._countries: frozenset[str] = frozenset()
        self._watches: dict[str, asyncio.Task[None]] = {}  # contact -> its stored crisis's watch

    @property
    def ready(self) -> bool:
        return bool(self._texts)

    def refresh(self, channels: Iterable[str]) -> None:
        """Render every text the lifeline may send (on a database thread: it reads the
        directory). A failure keeps the previous rendering."""
        settings, renderer = self.runtime.settings, self.runtime.renderer
        texts: dict[tuple[str, str, CrisisKind, str | None, bool], str] = {}
        with self.runtime.db.session() as s:
            directory = Directory(s)
            countries = directory.known_countries()
            for channel in channels:
                for language in settings.languages:
                    for sure in (True, False):
                        for kind in CRISIS_KEYS:
                            for hint in (None, *countries):
                                ctx = RenderContext(language, channel, country_hint=hint)
                                first = renderer.crisis(ctx, directory, kind, sure)[0]
                                texts[(channel, language, kind, hint, sure)] = first.text
        self._texts, self._countries = texts, frozenset(countries)

    def text(self, channel: str, intake: Intake, screening: Screening) -> Rendered | None:
        """What a turn would say first to this crisis from someone whose country is unknown."""
        settings = self.runtime.settings
        language = screening.language_hint
        sure = language in settings.languages
        if not sure:
            hinted = intake.inbound.language_hint
            language = hinted if hinted in settings.languages else settings.default_language
        assert language is not None
        hint = intake.inbound.country_hint
        hint = hint if hint in self._countries else None
        text = self._texts.get((channel, language, screening.kind, hint, sure))
        return Rendered(text, language) if text is not None else None

    async def throw(self, channel: Channel, intake: Intake, screening: Screening) -> bool:
        """Send the numbers to the person now, once per message. Whether this call sent them."""
        rendered = self.text(channel.name, intake, screening)
        if rendered is None:
            log.error("crisis lifeline has nothing to send", extra={"channel": channel.name})
            return False
        msg, crypto = intake.inbound, self.runtime.crypto
        assert msg.message_id, "channel adapters always give a message id"
        key = "lifeline:" + crypto.message_key(msg.channel, msg.message_id)
        if not await self.once.first(key):
            return False  # this message's numbers went already (a redelivery)
        contact_id = crypto.pseudonym(msg.channel, msg.user_id)
        payloads = channel.plan(
            [Reply(rendered.text, key="crisis_lifeline")],
            address=intake.address,
            language=rendered.language,
            erase=False,
        )
        for payload in payloads:
            # The person wrote just now: a channel that would look up its sending window in the
            # database (WhatsApp) knows it is open.
            result = await channel.send(contact_id, {**payload, "just_wrote": True})
            if result.outcome is not Outcome.SENT:
                log.error(
                    "crisis lifeline not sent",
                    extra={"channel": channel.name, "error": result.error or result.outcome.value},
                )
                if payload is payloads[0]:
                    await self.once.forget(key)  # nothing reached them: a redelivery tries again
                return False
        log.warning("crisis lifeline sent", extra={"channel": channel.name})
        return True

    # --- a stored crisis whose reply does not come ---

    def sent(self, contact_id: str, urgent: bool) -> None:
        """The outbox sent this contact something (``Outbox.on_sent``). Urgent sends (a crisis,
        exit or delete reply) are stamped for every process: the watch of the process that stored
        a crisis must hear of a reply another process sent."""
        if urgent:
            self.once.stamp(SENT_STAMP + contact_id)

    def watch(self, channel: Channel, intake: Intake, screening: Screening) -> None:
        """A crisis was stored: if no urgent reply has gone to the person, from any process,
        ``2 × BOT_CRISIS_LIFELINE_SECONDS`` later (its turn caught by a database stall, or stuck
        behind work), the numbers go from here (once per message, as ``throw``)."""
        msg = intake.inbound
        contact_id = self.runtime.crypto.pseudonym(msg.channel, msg.user_id)
        self.cancel(contact_id)
        task = asyncio.create_task(self._watch(channel, intake, screening, contact_id))
        self._watches[contact_id] = task
        task.add_done_callback(lambda done: self._forget_watch(contact_id, done))

    def cancel(self, contact_id: str) -> None:
        """The person sent the exit or delete word: nothing more goes to them from here."""
        task = self._watches.pop(contact_id, None)
        if task is not None:
            task.cancel()

    def _forget_watch(self, contact_id: str, task: asyncio.Task[None]) -> None:
        if self._watches.get(contact_id) is task:
            del self._watches[contact_id]

    async def _watch(
        self, channel: Channel, intake: Intake, screening: Screening, contact_id: str
    ) -> None:
        stored = time.time()
        await asyncio.sleep(2 * self.runtime.settings.crisis_lifeline_seconds)
        replied = await self.once.stamped(SENT_STAMP + contact_id)
        if replied is not None and replied >= stored - CLOCK_SLACK:
            return  # answered (the turn's reply, or at least its first message, went out)
        try:
            await self.throw(channel, intake, screening)
        except Exception:
            log.exception("crisis lifeline failed", extra={"channel": channel.name})
