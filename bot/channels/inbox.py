"""The durable inbox: a verified webhook is stored before the platform gets its 200, then handled.

- ``accept`` runs inside the webhook request: in one transaction it records the hashed message key
  in ``seen_messages`` (the persistent, bounded dedupe record, purged after
  ``BOT_DEDUPE_TTL_DAYS``) and stores the message, encrypted, in ``inbox_messages``. A redelivered
  webhook finds its key and is dropped, however long after.
- A worker takes each contact's rows in arrival order, runs the turn, and in one transaction
  queues the replies in the outbox and deletes the inbox row. Rows left by a crash are resumed at
  start-up. Because dedupe already happened here, the turn gets no message id (its own dedupe
  would drop a resumed row); a turn cut short by a crash runs again (it wrote nothing: one unit of
  work), and only its replies, queued atomically with the row's deletion, are ever sent.
- Under load, a contact whose waiting message is a crisis, self-harm, exit or delete (the same
  deterministic screen, run at the webhook) skips the queue for turn slots, and so do its replies
  in the outbox: such messages never wait behind other people's turns that need Rasa.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.channels.base import Intake
from bot.channels.outbox import Outbox, wait_for
from bot.directory.service import Directory
from bot.nlg.render import RenderContext
from bot.platforms import platform
from bot.safety.commands import Command
from bot.store.channel_models import InboxMessage, PlatformMessage
from bot.store.models import Contact, SeenMessage
from bot.types import Inbound, TurnResult
from bot.worker import KeyedWorker

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.channels.parts import ChannelParts

log = logging.getLogger("bot.channels.inbox")

TURN_ATTEMPTS = 3  # a turn that raises this often gets the fixed apology instead of silence
CONCURRENT_TURNS = 16
URGENT_COMMANDS = {Command.EXIT, Command.DELETE}


class Inbox(KeyedWorker):
    def __init__(self, runtime: ChannelParts, outbox: Outbox) -> None:
        super().__init__()
        self.runtime = runtime
        self.outbox = outbox
        self.channels: dict[str, Channel] = {}
        self._wake = asyncio.Event()
        self._not_before: dict[str, float] = {}
        self._slots = asyncio.Semaphore(CONCURRENT_TURNS)
        # Contacts with a crisis, self-harm, exit or delete message waiting: their turns take no
        # slot, so under load they never queue behind other people's turns that wait for Rasa.
        # (In memory: after a restart such rows are handled in the ordinary way.)
        self._urgent: set[str] = set()

    # --- the webhook side ---

    def accept(self, intake: Intake) -> bool:
        """Store one message durably; False when it was seen before (a redelivery)."""
        msg = intake.inbound
        assert msg.message_id, "channel adapters always give a message id"
        crypto = self.runtime.crypto
        key = crypto.message_key(msg.channel, msg.message_id)
        contact_id = crypto.pseudonym(msg.channel, msg.user_id)
        stored = {"inbound": asdict(msg), "address": intake.address}
        if intake.sent_at is not None:
            stored["sent_at"] = intake.sent_at.isoformat()
        if intake.platform_message_id:  # so the turn can have this very message deleted
            stored["platform_message_id"] = intake.platform_message_id
        try:
            with self.runtime.db.session() as s:
                if s.get(SeenMessage, key) is not None:
                    return False
                s.add(SeenMessage(key=key))
                s.add(
                    InboxMessage(
                        message_key=key,
                        contact_id=contact_id,
                        channel=msg.channel,
                        payload_enc=crypto.encrypt(json.dumps(stored)),
                        attempts=0,
                    )
                )
                if intake.platform_message_id and not s.scalar(
                    select(PlatformMessage.id).where(
                        PlatformMessage.contact_id == contact_id,
                        PlatformMessage.message_id == intake.platform_message_id,
                    )
                ):
                    s.add(
                        PlatformMessage(
                            contact_id=contact_id, message_id=intake.platform_message_id
                        )
                    )
        except IntegrityError:  # the same message, delivered twice at the same moment
            return False
        if self.urgent(msg):
            self._urgent.add(contact_id)
        self._wake.set()
        return True

    def urgent(self, msg: Inbound) -> bool:
        """Crisis, self-harm, exit or delete: the same deterministic screen a turn runs."""
        if not msg.text:
            return False
        screening = self.runtime.screen.screen(msg.text)
        hit = screening.command
        return screening.crisis or (hit is not None and hit.command in URGENT_COMMANDS)

    # --- the worker ---

    async def _run(self) -> None:
        poll = self.runtime.settings.outbox_poll_seconds
        while True:
            self._wake.clear()
            wait = poll
            try:
                with self.runtime.db.session() as s:
                    waiting = s.execute(
                        select(InboxMessage.contact_id, InboxMessage.channel).distinct()
                    ).all()
                now = time.monotonic()
                for contact_id, channel in waiting:
                    if channel not in self.channels or contact_id in self._active:
                        continue
                    not_before = self._not_before.get(contact_id, 0.0)
                    if not_before > now:
                        wait = min(wait, not_before - now)
                        continue
                    self._active[contact_id] = asyncio.create_task(self._drain(contact_id))
            except Exception:
                log.exception("inbox scan failed")
            await wait_for(self._wake, wait)

    async def _drain(self, contact_id: str) -> None:
        try:
            while True:
                with self.runtime.db.session() as s:
                    row_id = s.scalar(
                        select(InboxMessage.id)
                        .where(InboxMessage.contact_id == contact_id)
                        .order_by(InboxMessage.id)
                        .limit(1)
                    )
                if row_id is None:
                    self._not_before.pop(contact_id, None)
                    self._urgent.discard(contact_id)
                    return
                if contact_id in self._urgent:
                    done = await self._process(row_id)
                else:
                    async with self._slots:
                        done = await self._process(row_id)
                if not done:
                    return
        except Exception:
            log.exception("inbox drain failed")
        finally:
            self._active.pop(contact_id, None)
            self._wake.set()

    async def _process(self, row_id: int) -> bool:
        """Handle one row; False when it must be tried again later (the conversation raised)."""
        with self.runtime.db.session() as s:
            row = s.get(InboxMessage, row_id)
            if row is None:
                return True
            contact_id, channel_name, received_at = row.contact_id, row.channel, row.received_at
            stored = _load(self.runtime.crypto.decrypt(row.payload_enc))
            if stored is None:
                s.delete(row)
                log.error("inbox row unreadable", extra={"channel": channel_name})
                return True
        inbound, address, sent_at, platform_message_id = stored
        channel = self.channels[channel_name]
        try:
            result = await self.runtime.conversations.handle(replace(inbound, message_id=None))
        except Exception:
            log.exception("turn failed", extra={"channel": channel_name})
            with self.runtime.db.session() as s:
                row = s.get(InboxMessage, row_id)
                attempts = 0 if row is None else row.attempts + 1
                if row is not None:
                    row.attempts = attempts
            if attempts < TURN_ATTEMPTS:
                delay = self.outbox.backoff(attempts)
                self._not_before[contact_id] = time.monotonic() + delay
                return False
            result = self._apology(contact_id, inbound)
        inbound_at = min(sent_at, received_at) if sent_at else received_at  # never the future
        self._commit(row_id, contact_id, channel, address, inbound_at, result, platform_message_id)
        return True

    def _commit(
        self,
        row_id: int,
        contact_id: str,
        channel: Channel,
        address: str,
        inbound_at: dt.datetime,
        result: TurnResult,
        platform_message_id: str | None = None,
    ) -> None:
        erase = bool(result.extras.get("erase_chat"))
        # The code word: taken off the person's phone as soon as it is checked, where the
        # platform lets us (whoever holds the phone later must not read it in the chat).
        forget = (
            [{"kind": "forget", "chat_id": address, "message_id": platform_message_id}]
            if result.extras.get("forget_message")
            and platform_message_id
            and platform(channel.name).erases_messages
            else []
        )
        with self.runtime.db.session() as s:
            contact = s.get(Contact, contact_id)
            if erase:
                self.outbox.drop_active(s, contact_id)  # nothing older goes out after the exit
            if contact is not None:
                contact.blocked = False  # they wrote: they have not blocked the bot
                channel.after_turn(s, contact_id, address, inbound_at)
                self.outbox.release_held(s, contact_id)
            if contact_id in self._urgent:
                self.outbox.prioritise(contact_id)
            payloads = channel.plan(
                result.replies, address=address, language=result.language, erase=erase
            )
            if contact is None:  # DELETE erased the contact: still confirm it
                payloads = [{**p, "after_erase": True} for p in payloads]
            self.outbox.enqueue(s, contact_id, channel.name, forget + payloads)
            s.execute(delete(InboxMessage).where(InboxMessage.id == row_id))
        self.outbox.notify()

    def _apology(self, contact_id: str, inbound: Inbound) -> TurnResult:
        """The fixed "something went wrong, here are the numbers" reply: never silence."""
        settings = self.runtime.settings
        with self.runtime.db.session() as s:
            contact = s.get(Contact, contact_id)
            language = (contact.language if contact else None) or settings.default_language
            ctx = RenderContext(
                language=language,
                channel=inbound.channel,
                country=contact.country if contact else None,
                country_hint=inbound.country_hint,
            )
            reply = self.runtime.renderer.render("utter_service_unavailable", ctx, Directory(s))
        return TurnResult([reply], language, intent="unavailable")


def _load(plain: str | None) -> tuple[Inbound, str, dt.datetime | None, str | None] | None:
    if plain is None:
        return None
    try:
        stored: dict[str, Any] = json.loads(plain)
        inbound = Inbound(**stored["inbound"])
        sent_at = dt.datetime.fromisoformat(stored["sent_at"]) if "sent_at" in stored else None
        pmid = stored.get("platform_message_id")
        return inbound, str(stored["address"]), sent_at, str(pmid) if pmid else None
    except (ValueError, TypeError, KeyError):
        return None
