"""The durable outbox: every message to a person is a database row until the platform accepted it.

Why a table and not a queue in memory: a reply must survive a crash, a restart or a platform outage,
and reach the person exactly once and in order. So:

- rows are sent per chat in id order; a chat whose first row waits (backoff, WhatsApp's closed
  window) sends nothing after it, other chats carry on;
- network errors, 5xx and rate limits are retried with exponential backoff and jitter (or the
  platform's own ``retry_after``), up to ``BOT_OUTBOX_MAX_ATTEMPTS``; then the row is "dead": kept,
  encrypted, for staff to see (``dead_letters``) and requeue, and purged after
  ``BOT_OUTBOX_DEAD_TTL_HOURS``;
- a row is deleted in the same transaction that records the platform's message id, so a restart
  resends only what the platform never accepted; if the database refuses that commit, the commit
  is tried again, never the send (``_record``). A crash between the platform's answer and that
  commit would send that one message twice: the only duplicate possible;
- rows of a contact erased by other means, or who blocked the bot, are dropped, never sent.

Several processes on one PostgreSQL database: a chat's first unsent row is claimed with a lease
(``bot/store/leases.py``) in a short transaction that locks it (``FOR UPDATE SKIP LOCKED``), so it
goes out from one process only, and the chat's next row only after it. A process killed mid-send
leaves its claim to lapse (``BOT_LEASE_SECONDS``); another process then sends the row (the same
single possible duplicate as a crash above).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.channels.base import Channel, Outcome, SendResult
from bot.store.channel_models import OutboxMessage, PlatformMessage
from bot.store.db import unavailable
from bot.store.leases import Lease
from bot.store.models import Contact, Conversation, utcnow
from bot.types import Reply
from bot.worker import KeyedWorker

if TYPE_CHECKING:
    from bot.channels.parts import ChannelParts

log = logging.getLogger("bot.channels.outbox")

PENDING, HELD, DEAD = "pending", "held", "dead"
ACTIVE = (PENDING, HELD)
CONCURRENT_CHATS = 16
COMMIT_RETRY_FIRST, COMMIT_RETRY_MAX = 0.25, 5.0  # between tries of a commit after a send


@dataclass(frozen=True)
class Sending:
    """A claimed row, read and decrypted, on its way to the platform."""

    row_id: int
    contact_id: str
    channel: str
    payload: dict[str, Any]
    attempts: int
    urgent: bool


@dataclass(frozen=True)
class DeadLetter:
    """What staff see of a message that could not be delivered: never its content."""

    id: int
    channel: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime


async def wait_for(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set or ``seconds`` pass. Not ``asyncio.wait_for``: on Python 3.11 it
    swallows a cancellation that arrives as the event is set, and the worker's ``stop`` then
    waits forever (seen at shutdown right after a web chat's exit)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()


class Outbox(KeyedWorker):
    def __init__(self, runtime: ChannelParts, lease: Lease | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.settings = runtime.settings
        self.lease = lease or Lease(self.settings.lease_seconds)
        self.channels: dict[str, Channel] = {}
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENT_CHATS)
        # Chats with an urgent reply queued behind an ordinary one (per-chat order keeps it
        # there): set by an urgent kick, their drain sends without waiting for a slot.
        self._promoted: dict[str, asyncio.Event] = {}
        # Told of every contact a send reached and whether it was urgent (the crisis lifeline's
        # watch, bot/channels/lifeline.py), on the loop, before the commit that records it.
        self.on_sent: Callable[[str, bool], None] | None = None
        self.unrecorded = 0  # sent, the commit saying so not yet through (``_record``)
        self.resent_risk = 0  # sent, but the row had been claimed by another process meanwhile

    # --- writing, inside the caller's transaction ---

    def enqueue(
        self,
        s: Session,
        contact_id: str,
        channel: str,
        payloads: list[dict[str, Any]],
        urgent: bool = False,
    ) -> None:
        """Queue ``payloads``; ``urgent`` ones (answering a crisis, exit or delete) go out without
        waiting for a free slot."""
        for payload in payloads:
            s.add(
                OutboxMessage(
                    contact_id=contact_id,
                    channel=channel,
                    payload_enc=self.runtime.crypto.encrypt(json.dumps(payload)),
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=utcnow(),
                    urgent=urgent,
                )
            )

    def drop_active(self, s: Session, contact_id: str) -> int:
        """Unsent rows of a chat that must not go out any more (exit, delete, blocked)."""
        result = s.execute(
            delete(OutboxMessage).where(
                OutboxMessage.contact_id == contact_id, OutboxMessage.status.in_(ACTIVE)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def release_held(self, s: Session, contact_id: str) -> None:
        """The person wrote: WhatsApp's window is open again, held rows go out first."""
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.contact_id == contact_id, OutboxMessage.status == HELD)
            .values(status=PENDING, next_attempt_at=utcnow())
        )

    def notify(self) -> None:
        """Rows may be due that nobody kicked (a requeue, a notice outside a turn): scan now."""
        self.rescan()

    def _wake_up(self) -> None:
        self._set(self._wake)

    # --- staff ---

    def dead_letters(self) -> list[DeadLetter]:
        with self.runtime.db.session() as s:
            rows = s.scalars(
                select(OutboxMessage).where(OutboxMessage.status == DEAD).order_by(OutboxMessage.id)
            )
            return [
                DeadLetter(r.id, r.channel, r.attempts, r.last_error, r.created_at) for r in rows
            ]

    def requeue(self, row_id: int) -> bool:
        with self.runtime.db.session() as s:
            row = s.get(OutboxMessage, row_id)
            if row is None or row.status != DEAD:
                return False
            row.status, row.attempts, row.next_attempt_at = PENDING, 0, utcnow()
        self.notify()
        return True

    def purge(self) -> int:
        cutoff = utcnow() - dt.timedelta(hours=self.settings.outbox_dead_ttl_hours)
        with self.runtime.db.session() as s:
            result = s.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.status == DEAD, OutboxMessage.created_at < cutoff
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- dispatching ---

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if self._scan_due():
                    scanned, wait = await self.runtime.db.call(self._due)
                    # A chat kicked for an urgent reply while the scan ran stays urgent.
                    urgent_kicked = {key for key, kicked in self._kicked.items() if kicked}
                    self._scanned(wait)
                    due = [(key, key in urgent_kicked) for key in scanned]
                else:
                    due = self._take_kicks()
                for contact_id, urgent in due:
                    if contact_id not in self._active:
                        task = asyncio.create_task(self._drain(contact_id, urgent))
                        self._active[contact_id] = task
                    else:  # its task may be past its last look: start it again when it ends
                        self._kicked.setdefault(contact_id, False)
            except Exception:
                log.exception("outbox scan failed")
                self._scanned(self.settings.outbox_poll_seconds, failed=True)
            await wait_for(self._wake, self._until_scan())

    def _heads(self, s: Session, contact_id: str | None = None) -> list[OutboxMessage]:
        """Each chat's first unsent row: only it may go out now (per-chat order)."""
        first = select(func.min(OutboxMessage.id)).where(OutboxMessage.status.in_(ACTIVE))
        if contact_id is not None:
            first = first.where(OutboxMessage.contact_id == contact_id)
        else:
            first = first.group_by(OutboxMessage.contact_id)
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(first))))

    def _due(self) -> tuple[list[str], float]:
        now = utcnow()
        wait = self.settings.outbox_poll_seconds
        due: list[str] = []
        with self.runtime.db.session() as s:
            for row in self._heads(s):
                if row.status != PENDING or row.channel not in self.channels:
                    continue
                if self.lease.held_by_other(row.lease_owner, row.lease_until, now):
                    continue  # another process is sending it
                if row.next_attempt_at <= now:
                    due.append(row.contact_id)
                else:
                    wait = min(wait, (row.next_attempt_at - now).total_seconds())
        return due, wait

    def kick(self, key: str, urgent: bool = False) -> None:
        """``KeyedWorker.kick``; an urgent kick of a chat whose task is running promotes it:
        the ordinary replies ahead of the urgent one (per-chat order) go without a slot."""
        if urgent and key in self._active:
            self._promoted.setdefault(key, asyncio.Event()).set()
        super().kick(key, urgent)

    async def _drain(self, contact_id: str, urgent: bool = False) -> None:
        """The chat's rows in order. Kicked for urgent replies, the chat is promoted: its
        ordinary rows ahead of them take no slot and use the urgent database lane too, so a
        crisis reply never waits behind the backlog of everyone's ordinary replies. Otherwise an
        ordinary row waits for a slot, unless an urgent kick promotes the chat meanwhile."""
        promoted = self._promoted.setdefault(contact_id, asyncio.Event())
        if urgent:
            promoted.set()
        try:
            claim = await self.runtime.db.call(self._claim, contact_id, urgent=urgent)
            while claim is not None:
                if claim.urgent or promoted.is_set() or not await self._slot_or_promotion(promoted):
                    claim = await self._deliver(claim, lane_urgent=True)
                else:  # a slot was taken
                    try:
                        claim = await self._deliver(claim)
                    finally:
                        self._slots.release()
        except Exception:
            log.exception("outbox delivery failed")
        finally:
            self._promoted.pop(contact_id, None)
            self._done(contact_id)

    async def _slot_or_promotion(self, promoted: asyncio.Event) -> bool:
        """Wait for a slot (True: taken, the caller releases it) or for the chat's promotion
        (False: no slot taken), whichever comes first."""
        acquire = asyncio.ensure_future(self._slots.acquire())
        promotion = asyncio.ensure_future(promoted.wait())
        try:
            await asyncio.wait({acquire, promotion}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            promotion.cancel()
            if not acquire.done():
                acquire.cancel()
            await asyncio.gather(acquire, promotion, return_exceptions=True)
        # A slot acquired as the promotion came is kept: its holder releases it.
        return not acquire.cancelled() and acquire.exception() is None

    def _claim(self, contact_id: str) -> Sending | None:
        """Claim the chat's first unsent row if it may go out now and nobody else has it; rows of
        erased or blocked contacts are dropped on the way. None: nothing to send now."""
        with self.runtime.db.session() as s:
            return self._claim_in(s, contact_id)

    def _claim_in(self, s: Session, contact_id: str) -> Sending | None:
        """``_claim`` inside the caller's transaction (``_apply`` claims the chat's next row in
        the one that records the last as sent)."""
        now = utcnow()
        while True:
            heads = self._heads(s, contact_id)
            if not heads:
                return None
            head = s.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.id == heads[0].id)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
            if (
                head is None
                or head.status != PENDING
                or head.next_attempt_at > now
                or head.channel not in self.channels
                or self.lease.held_by_other(head.lease_owner, head.lease_until, now)
            ):
                return None
            sending = self._check(s, head)
            if sending is None:
                s.flush()  # dropped or dead-lettered: the next row is the head now
                continue
            # A statement that says whether the row was still there, not an ORM change: on
            # SQLite ``FOR UPDATE`` is ignored and the reads above took no lock, so an exit on
            # the webhook may have erased the chat's rows since; flushing a change to the
            # vanished row would raise StaleDataError at the commit and end the drain.
            attempts, until = head.attempts + 1, self.lease.until(now)
            leased: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                update(OutboxMessage)
                .where(OutboxMessage.id == head.id, OutboxMessage.status == PENDING)
                .values(attempts=attempts, lease_owner=self.lease.owner, lease_until=until)
            )
            if leased.rowcount == 0:
                s.expunge(head)  # erased meanwhile: whatever was queued after it is the head
                continue
            return replace(sending, attempts=attempts)

    def _check(self, s: Session, row: OutboxMessage) -> Sending | None:
        """The row's payload, or None when it must not go out (and was dealt with here)."""
        contact_id, channel_name = row.contact_id, row.channel
        plain = self.runtime.crypto.decrypt(row.payload_enc)
        payload = json.loads(plain) if plain else None
        contact = s.get(Contact, contact_id)
        if not isinstance(payload, dict):
            row.status, row.last_error = DEAD, "unreadable"
            log.error("outbox row unreadable", extra={"channel": channel_name})
            return None
        if contact is None and not payload.get("after_erase"):
            s.delete(row)  # the contact was erased: nothing more goes to them
            log.info("outbox row dropped", extra={"channel": channel_name, "kind": "erased"})
            return None
        if contact is not None and contact.blocked:
            s.delete(row)
            log.info("outbox row dropped", extra={"channel": channel_name, "kind": "blocked"})
            return None
        return Sending(row.id, contact_id, channel_name, payload, row.attempts, row.urgent)

    async def _deliver(self, sending: Sending, lane_urgent: bool = False) -> Sending | None:
        """Send one claimed row; the chat's next row, claimed, when it may go out now. Its
        record takes the urgent database lane for an urgent row or a promoted chat
        (``lane_urgent``); only an urgent row counts as a crisis reply sent (``on_sent``)."""
        row_id, contact_id, channel_name = sending.row_id, sending.contact_id, sending.channel
        payload, attempts = sending.payload, sending.attempts
        channel = self.channels[channel_name]
        try:
            result = await channel.send(contact_id, payload)
        except Exception as exc:  # a bug or an unexpected library error: retried, bounded
            log.exception("outbox send raised", extra={"channel": channel_name})
            result = SendResult(Outcome.RETRY, type(exc).__name__)
        if result.outcome is Outcome.SENT and self.on_sent is not None:
            self.on_sent(contact_id, sending.urgent)
        return await self._record(
            row_id,
            contact_id,
            channel_name,
            payload,
            attempts,
            result,
            lane_urgent or sending.urgent,
        )

    async def _record(
        self,
        row_id: int,
        contact_id: str,
        channel: str,
        payload: dict[str, Any],
        attempts: int,
        result: SendResult,
        urgent: bool = False,
    ) -> Sending | None:
        """Record the platform's answer (``_apply``) on a database thread; the chat's next row,
        claimed in the same transaction, or None.

        When the platform accepted the message and the database refuses the commit that says
        so, the commit is tried again, never the send: sending again is what puts a reply twice
        on the person's phone. The rows of a chat wait meanwhile (this task holds the chat).
        What remains is the window where this process dies (or loses its lease, the database
        being away longer than ``BOT_LEASE_SECONDS``) between the send and that commit:
        ``unrecorded`` counts the sends waiting for their commit now, ``resent_risk`` those
        whose row another process may have sent again."""
        delay = COMMIT_RETRY_FIRST
        pending = False
        try:
            while True:
                try:
                    taken, following = await self.runtime.db.call(
                        self._apply,
                        row_id,
                        contact_id,
                        channel,
                        payload,
                        attempts,
                        result,
                        urgent=urgent,
                    )
                except SQLAlchemyError as exc:
                    if not unavailable(exc):
                        raise
                    if result.outcome is not Outcome.SENT:
                        # Nothing went out: the lease lapses and the row is simply sent later.
                        log.warning("outbox result not recorded", extra={"channel": channel})
                        return None
                    if not pending:
                        pending = True
                        self.unrecorded += 1
                    log.warning(
                        "outbox commit retried",
                        extra={"channel": channel, "error": type(exc).__name__},
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, COMMIT_RETRY_MAX)
                    continue
                if taken:
                    self.resent_risk += 1
                    log.error(
                        "outbox row taken over before its send was recorded",
                        extra={"channel": channel},
                    )
                return following
        finally:
            if pending:
                self.unrecorded -= 1

    def _apply(
        self,
        row_id: int,
        contact_id: str,
        channel: str,
        payload: dict[str, Any],
        attempts: int,
        result: SendResult,
    ) -> tuple[bool, Sending | None]:
        """Apply the platform's answer to the row and, when the chat may go on, claim its next
        row: one transaction for both. First: True when a sent row had been taken over by
        another process meanwhile (it may send it again: the one duplicate we cannot rule out).
        Runs on a database thread."""
        extra: dict[str, Any] = {
            "channel": channel,
            "status": result.outcome.value,
            "attempts": attempts,
            "kind": payload.get("kind"),
        }
        if result.error:
            extra["error"] = result.error
        with self.runtime.db.session() as s:
            row = s.get(OutboxMessage, row_id)
            if result.outcome is Outcome.SENT:
                taken = row is not None and row.lease_owner != self.lease.owner
                if row is not None:  # a bulk delete: an exit may have erased it meanwhile
                    s.execute(delete(OutboxMessage).where(OutboxMessage.id == row_id))
                if not payload.get("after_erase"):
                    known = set(
                        s.scalars(
                            select(PlatformMessage.message_id).where(
                                PlatformMessage.contact_id == contact_id,
                                PlatformMessage.message_id.in_(result.message_ids),
                            )
                        )
                    )  # a retried commit that had landed after all: nothing to add twice
                    for message_id in result.message_ids:
                        if message_id not in known:
                            s.add(PlatformMessage(contact_id=contact_id, message_id=message_id))
                log.info("outbox sent", extra=extra)
                s.flush()
                return taken, self._claim_in(s, contact_id)
            if result.outcome is Outcome.BLOCKED:
                contact = s.get(Contact, contact_id)
                if contact is not None:
                    contact.blocked = True
                self.drop_active(s, contact_id)
                log.warning("outbox contact blocked the bot", extra=extra)
                return False, None
            if row is None:  # dropped meanwhile (exit, delete): the chat's next row, if any
                return False, self._claim_in(s, contact_id)
            row.lease_owner = row.lease_until = None
            row.last_error = result.error[:80] or None
            if result.outcome is Outcome.HOLD:
                row.status = HELD
                log.info("outbox held until the person writes", extra=extra)
            elif result.outcome is Outcome.DEAD or attempts >= self.settings.outbox_max_attempts:
                row.status = DEAD
                log.error("outbox dead letter", extra=extra)
                s.flush()
                return False, self._claim_in(
                    s, contact_id
                )  # out of the chat's way: its next row goes
            else:
                delay = self.backoff(attempts, result.retry_after)
                row.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
                log.warning("outbox retry", extra={**extra, "seconds": round(delay, 2)})
                self.rescan(after=delay)  # nobody kicks a row whose backoff ends
        return False, None

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next try: the platform's ``retry_after`` if it gave one, else
        exponential with "equal jitter", so chats that failed together do not retry together."""
        base = self.settings.outbox_backoff_seconds
        if retry_after is not None:
            return retry_after + random.uniform(0, min(1.0, base))
        step = min(self.settings.outbox_backoff_max_seconds, base * 2.0 ** max(attempts - 1, 0))
        return step / 2 + random.uniform(0, step / 2)


class OutboxDelivery:
    """Where ``Runtime.delivery`` routes once a channel is configured: messages outside a turn
    (staff replies, notices) go through the same durable outbox as replies. Contacts of a channel
    that is not configured, or whose address no platform could deliver to, are left to the
    in-memory default (``send`` returns False)."""

    def __init__(self, runtime: ChannelParts, outbox: Outbox) -> None:
        self.runtime = runtime
        self.outbox = outbox

    async def send(self, contact_id: str, replies: list[Reply]) -> bool:
        if not replies:
            return True
        with self.runtime.db.session() as s:
            contact = s.get(Contact, contact_id)
            channel = self.outbox.channels.get(contact.channel) if contact else None
            address = self.runtime.crypto.decrypt(contact.address_enc) if contact else None
            if contact is None or channel is None or not address or not channel.address_ok(address):
                channel = None
            elif contact.blocked:
                log.info("delivery dropped", extra={"channel": contact.channel, "kind": "blocked"})
                return True
            else:
                # The language the person is writing in (a chosen one is also the contact's);
                # it names the WhatsApp template when a reply comes after the 24-hour window.
                spoken = s.scalar(
                    select(Conversation.language)
                    .where(Conversation.contact_id == contact_id)
                    .order_by(Conversation.updated_at.desc())
                    .limit(1)
                )
                language = contact.language or spoken or self.runtime.settings.default_language
                payloads = channel.plan(replies, address=address, language=language, erase=False)
                self.outbox.enqueue(s, contact_id, channel.name, payloads)
        if channel is None:
            return False
        self.outbox.notify()
        log.info("delivery queued", extra={"channel": channel.name, "replies": len(replies)})
        return True
