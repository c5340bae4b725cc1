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
- Several processes on one database: a row is claimed with a lease (``bot/store/leases.py``) in a
  short transaction that locks the contact's first row (``FOR UPDATE SKIP LOCKED``), and a
  contact has one claimed row at a time, so each message is handled once, by one process, in
  order. No transaction stays open across the turn; the reply is queued only if the claim still
  holds.
- Rasa away (starting, restarting, hung): a message that needs it waits, durably, and is answered
  once Rasa is back (``BOT_RASA_WAIT_SECONDS`` at most, then the fixed apology with the numbers);
  the turn that found Rasa away wrote nothing. Crisis, self-harm, exit, delete, language and
  "person" (the same deterministic screen, run at the webhook; ``urgent`` on the row) never wait:
  not for a turn slot, nor behind the same person's earlier message that waits for Rasa, nor
  behind ordinary database work (their webhook's store, claim, turn and commit run on the
  database's urgent threads). While that earlier message's turn is in a call to Rasa, the urgent
  row is taken by a second task of the contact (``_drain_urgent``), and the waiting turn lends
  it the contact (bot/conversation/lending.py): the crisis is answered first, and the earlier
  message afterwards, from the state the crisis left (or not at all after an exit or delete).
- A new conversation's first message that waits for Rasa does not wait for its introduction
  (automated chat, exit word, emergency number): in one transaction the conversation is started,
  the introduction queued, and the row kept with the conversation's id in it (``introduced``).
  When Rasa is back the row is answered as that conversation's first message, without a second
  introduction. A crash before that transaction leaves the row as it was, so the introduction
  goes out exactly once.
- Exit and delete drop the person's earlier messages still waiting: nothing is answered after
  the chat was cleared.
- Above the per-contact rate limit (``bot/conversation/rate.py``) an ordinary message is kept,
  not dropped: the turn raises ``RateLimited`` having written nothing, the row waits until the
  contact's window ends, and the text messages already waiting behind it are joined into it
  (bounded: what does not fit is counted and the person told), so a flood is answered once.
- The database away: the webhook's store, the scans, claims, releases and commits run on the
  database's threads (``Database.call``), so the event loop does not wait for them; a webhook
  that cannot store in ``ACCEPT_SECONDS`` answers 503. A turn the database failed waits (no try
  counted, no apology); a commit of a finished turn's replies is tried again, not the turn. A
  crisis not stored within ``BOT_CRISIS_LIFELINE_SECONDS`` (or not at all) gets its numbers
  from the webhook meanwhile (``bot/channels/lifeline.py``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from bot.channels.base import Intake
from bot.channels.lifeline import Lifeline
from bot.channels.outbox import Outbox, wait_for
from bot.conversation.lending import TurnWithdrawn
from bot.conversation.rate import KEEP_CHARACTERS, KEEP_MESSAGES, RateLimited
from bot.directory.service import Directory
from bot.nlg.render import RenderContext
from bot.platforms import platform
from bot.rasa.client import RasaUnavailable
from bot.safety.commands import Command
from bot.safety.screen import Screening
from bot.store.channel_models import InboxMessage, PlatformMessage
from bot.store.db import unavailable
from bot.store.leases import Lease
from bot.store.models import Contact, SeenMessage, utcnow
from bot.types import Inbound, TurnResult
from bot.worker import KeyedWorker

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.channels.parts import ChannelParts

log = logging.getLogger("bot.channels.inbox")

TURN_ATTEMPTS = 3  # a turn that raises this often gets the fixed apology instead of silence
RASA_RETRY_SECONDS = 2.0  # how soon a message that found Rasa away is tried again
DATABASE_RETRY_SECONDS = 1.0  # how soon a turn the database failed is tried again
# A webhook waits this long for its message to be stored, then answers 503 (the platform retries).
ACCEPT_SECONDS = 10.0
COMMIT_RETRY_FIRST, COMMIT_RETRY_MAX = 0.25, 5.0  # between tries of a commit the database refused
# Never wait for Rasa, nor behind anything that does: the screen decides these at the webhook.
URGENT_COMMANDS = {Command.EXIT, Command.DELETE, Command.LANGUAGE, Command.PERSON}


@dataclass(frozen=True)
class Claim:
    """A row this process now holds (its lease): the only row of the contact anyone works on."""

    row_id: int
    urgent: bool
    contact_id: str
    channel: str
    received_at: dt.datetime
    attempts: int
    payload_enc: str


class Inbox(KeyedWorker):
    def __init__(
        self,
        runtime: ChannelParts,
        outbox: Outbox,
        lease: Lease | None = None,
        lifeline: Lifeline | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.outbox = outbox
        self.lifeline = lifeline
        self.lease = lease or Lease(runtime.settings.lease_seconds)
        self.channels: dict[str, Channel] = {}
        self._wake = asyncio.Event()
        self._turns = runtime.settings.inbox_concurrent_turns
        self._slots = asyncio.Semaphore(self._turns)
        # Contacts whose urgent row is being worked on beside their ordinary one (whose turn
        # waits for Rasa), and the rows this process works on now, so neither task takes the
        # other's (claims run on database threads, hence the lock).
        self._urgent_active: dict[str, asyncio.Task[None]] = {}
        self._working: set[int] = set()
        self._working_lock = threading.Lock()

    # --- the webhook side ---

    async def receive(self, intake: Intake) -> bool:
        """``accept`` for a webhook: on a database thread, never waiting on the event loop, and
        at most ``ACCEPT_SECONDS`` (then ``DatabaseTimeout``, an ``SQLAlchemyError``: the webhook
        answers 503 and the platform delivers again; if the write landed after all, the
        redelivery is recognised as one)."""
        # The screen first, here: it may still be loading its tables, which is not the
        # database's time to count.
        screening = self._screening(intake.inbound)
        urgent = self._urgent(screening)
        store = asyncio.ensure_future(
            self.runtime.db.call(self._store, intake, urgent, timeout=ACCEPT_SECONDS, urgent=urgent)
        )
        lifeline, channel = self.lifeline, self.channels.get(intake.inbound.channel)
        crisis = screening is not None and screening.crisis
        if screening is not None and crisis and lifeline is not None:
            fresh = await self._store_or_lifeline(store, intake, screening)
        else:
            fresh = await store
        if fresh:
            self._kick_new(intake, urgent)
            if lifeline is not None and channel is not None and screening is not None:
                hit = screening.command
                if hit is not None and hit.command in (Command.EXIT, Command.DELETE):
                    msg = intake.inbound
                    lifeline.cancel(self.runtime.crypto.pseudonym(msg.channel, msg.user_id))
                elif crisis:
                    lifeline.watch(channel, intake, screening)
        return fresh

    async def _store_or_lifeline(
        self, store: asyncio.Future[bool], intake: Intake, screening: Screening
    ) -> bool:
        """A crisis the database does not store in ``BOT_CRISIS_LIFELINE_SECONDS``, or fails to
        store, gets its numbers from here (bot/channels/lifeline.py) while the store goes on."""
        assert self.lifeline is not None
        channel = self.channels.get(intake.inbound.channel)
        wait = self.runtime.settings.crisis_lifeline_seconds
        try:
            done, _ = await asyncio.wait({store}, timeout=wait)
            if done:
                return store.result()  # the usual case: stored, the turn answers at once
        except SQLAlchemyError:
            if channel is not None:
                await self.lifeline.throw(channel, intake, screening)
            raise
        if channel is not None:
            thrown = asyncio.ensure_future(self.lifeline.throw(channel, intake, screening))
            try:
                return await store
            finally:
                await thrown  # the webhook answers once the numbers went (or could not)
        return await store

    def accept(self, intake: Intake) -> bool:
        """Store one message durably; False when it was seen before (a redelivery)."""
        urgent = self._urgent(self._screening(intake.inbound))
        fresh = self._store(intake, urgent)
        if fresh:
            self._kick_new(intake, urgent)
        return fresh

    def _kick_new(self, intake: Intake, urgent: bool) -> None:
        """Start the contact's work now, without a scan of every queued row (on the loop)."""
        msg = intake.inbound
        self.kick(self.runtime.crypto.pseudonym(msg.channel, msg.user_id), urgent)

    def _store(self, intake: Intake, urgent: bool) -> bool:
        """The write of ``accept``, safe on any thread. Tried again once on a dead connection:
        the dedupe key makes a repeat harmless."""
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

        def write(s: Session) -> bool:
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
                    urgent=urgent,
                )
            )
            if intake.platform_message_id and not s.scalar(
                select(PlatformMessage.id).where(
                    PlatformMessage.contact_id == contact_id,
                    PlatformMessage.message_id == intake.platform_message_id,
                )
            ):
                s.add(PlatformMessage(contact_id=contact_id, message_id=intake.platform_message_id))
            return True

        try:
            return self.runtime.db.run(write)
        except IntegrityError:  # the same message, delivered twice at the same moment
            return False

    def urgent(self, msg: Inbound) -> bool:
        """Crisis, self-harm, exit, delete, language or person: the same deterministic screen a
        turn runs, and none of them needs Rasa."""
        return self._urgent(self._screening(msg))

    def _screening(self, msg: Inbound) -> Screening | None:
        return self.runtime.screen.screen(msg.text) if msg.text else None

    @staticmethod
    def _urgent(screening: Screening | None) -> bool:
        if screening is None:
            return False
        hit = screening.command
        return screening.crisis or (hit is not None and hit.command in URGENT_COMMANDS)

    def wake(self) -> None:
        """Look for work now (Rasa is back, a lease was released)."""
        self.rescan()

    def _wake_up(self) -> None:
        self._set(self._wake)

    # --- the worker ---

    async def _run(self) -> None:
        poll = self.runtime.settings.outbox_poll_seconds
        while True:
            self._wake.clear()
            try:
                if self._scan_due():
                    due, wait = await self.runtime.db.call(self._due)
                    self._scanned(wait)
                else:
                    due = self._take_kicks()
                self._start(due)
            except Exception:
                log.exception("inbox scan failed")
                self._scanned(poll, failed=True)
            await wait_for(self._wake, self._until_scan())

    def _start(self, due: list[tuple[str, bool]]) -> None:
        """Urgent ones always; the rest only as many as there are free turn slots, so other
        processes on the database take what this one could not run now (and this one starts
        them as soon as a slot is free). An urgent row of a contact whose task is busy gets a
        task of its own: its earlier message's turn may be waiting seconds for Rasa."""
        free = self._turns - len(self._active)
        for contact_id, urgent in due:
            if contact_id in self._active:
                self._kicked[contact_id] = self._kicked.get(contact_id, False) or urgent
                if urgent:
                    self._start_urgent(contact_id)
                continue
            if not urgent and free <= 0:
                self._kicked.setdefault(contact_id, False)
                continue
            free -= 0 if urgent else 1
            self._active[contact_id] = asyncio.create_task(self._drain(contact_id, urgent))

    def _take_kicks(self) -> list[tuple[str, bool]]:
        """``KeyedWorker._take_kicks``, and the urgent kicks of contacts whose task is busy."""
        for key, urgent in list(self._kicked.items()):
            if urgent and key in self._active:
                self._start_urgent(key)
        return super()._take_kicks()

    def _start_urgent(self, contact_id: str) -> None:
        """The contact's urgent rows, beside its busy task. Its kick stays, plain, so that task
        looks again when it ends; urgent while an urgent task already runs (one started when
        that one ends picks up a row it may have missed)."""
        if contact_id in self._urgent_active:
            return
        self._kicked[contact_id] = False
        task = asyncio.create_task(self._drain_urgent(contact_id))
        self._urgent_active[contact_id] = task

    def _due(self) -> tuple[list[tuple[str, bool]], float]:
        """Contacts with a row that may be tried now and nobody else's claim on them; and how
        long until the next row that waits (a backoff, Rasa away) may be tried."""
        now = utcnow()
        wait = self.runtime.settings.outbox_poll_seconds
        claimed = (
            select(InboxMessage.contact_id)
            .where(InboxMessage.lease_until > now, InboxMessage.lease_owner != self.lease.owner)
            .scalar_subquery()
        )
        ready = or_(InboxMessage.not_before.is_(None), InboxMessage.not_before <= now)
        with self.runtime.db.session() as s:
            rows = s.execute(
                select(InboxMessage.contact_id, InboxMessage.channel, InboxMessage.urgent)
                .where(ready, InboxMessage.contact_id.not_in(claimed))
                .order_by(InboxMessage.id)
            ).all()
            later = s.scalar(select(func.min(InboxMessage.not_before)).where(~ready))
        if later is not None:
            wait = min(wait, max((later - now).total_seconds(), 0.01))
        due: dict[str, bool] = {}  # the longest waiting first; urgent if any row is
        for contact_id, channel, urgent in rows:
            if channel in self.channels:
                due[contact_id] = due.get(contact_id, False) or bool(urgent)
        return sorted(due.items(), key=lambda item: not item[1]), wait

    def _claim(self, contact_id: str, urgent_only: bool = False) -> Claim | None:
        """Take the contact's next row: its first, or, while that one waits (Rasa away, a
        backoff), the first urgent one after it. None: nothing to do now, another process is on
        this contact, or this process's other task for it is (``_working``).

        ``urgent_only`` (``_drain_urgent``, beside the contact's task): the first urgent row,
        unless another task of this process works on it already."""
        picked: list[int] = []
        try:
            return self._claim_in(contact_id, urgent_only, picked)
        except BaseException:
            # Not claimed after all (the transaction failed): nobody works on it here.
            with self._working_lock:
                self._working.difference_update(picked)
            raise

    def _claim_in(self, contact_id: str, urgent_only: bool, picked: list[int]) -> Claim | None:
        now = utcnow()
        with self.runtime.db.session() as s:
            first = s.scalar(
                select(func.min(InboxMessage.id)).where(InboxMessage.contact_id == contact_id)
            )
            if first is None:
                return None
            # Whoever locks the contact's first row decides for the contact; the others skip it.
            # Beside the contact's own task, that task (this process) decides: the urgent row
            # itself is locked instead, below.
            query = select(InboxMessage).where(InboxMessage.id == first)
            head = s.scalar(query if urgent_only else query.with_for_update(skip_locked=True))
            if head is None:
                return None
            rows = list(
                s.scalars(
                    select(InboxMessage)
                    .where(InboxMessage.contact_id == contact_id)
                    .order_by(InboxMessage.id)
                )
            )
            if any(self.lease.held_by_other(r.lease_owner, r.lease_until, now) for r in rows):
                return None

            def ready(row: InboxMessage) -> bool:
                return row.not_before is None or row.not_before <= now

            with self._working_lock:
                if urgent_only:
                    pick = next((r for r in rows if r.urgent and ready(r)), None)
                    if pick is not None and pick.id in self._working:
                        return None  # the contact's task took it: it runs without a slot
                elif any(r.id in self._working for r in rows):
                    return None  # the urgent task is on it; it starts this one afterwards
                else:
                    pick = head if ready(head) else None
                    if pick is None:
                        pick = next((r for r in rows[1:] if r.urgent and ready(r)), None)
                if pick is None or pick.channel not in self.channels:
                    return None
                if urgent_only:
                    locked = s.scalar(
                        select(InboxMessage.id)
                        .where(InboxMessage.id == pick.id)
                        .with_for_update(skip_locked=True)
                    )
                    if locked is None:
                        return None
                self._working.add(pick.id)
                picked.append(pick.id)
            pick.lease_owner, pick.lease_until = self.lease.owner, self.lease.until(now)
            # Everything the turn needs from the row, read here: no second transaction for it.
            return Claim(
                pick.id,
                pick.urgent,
                pick.contact_id,
                pick.channel,
                pick.received_at,
                pick.attempts,
                pick.payload_enc,
            )

    async def _rows(self, contact_id: str, urgent_only: bool, urgent: bool) -> None:
        """Claim and handle the contact's rows (only its urgent ones with ``urgent_only``) until
        none is left or one must wait; an ordinary row waits for a turn slot. ``urgent``: the
        claims take the urgent database lane (a claim runs before anyone knows which row it
        takes)."""
        while True:
            claim = await self.runtime.db.call(self._claim, contact_id, urgent_only, urgent=urgent)
            if claim is None:
                return
            try:
                if claim.urgent:
                    more = await self._process(claim)
                else:
                    async with self._slots:
                        more = await self._process(claim)
            finally:
                self._finished(claim)
            if not more:
                return

    async def _drain(self, contact_id: str, urgent: bool = False) -> None:
        """The contact's rows in order (``urgent``: started for an urgent row)."""
        try:
            await self._rows(contact_id, False, urgent)
        except Exception:
            log.exception("inbox drain failed")
        finally:
            self._done(contact_id)  # a contact kicked meanwhile, or one that waited for a slot

    async def _drain_urgent(self, contact_id: str) -> None:
        """The contact's urgent rows, beside its task, which may be in a turn waiting for Rasa
        (that turn lends the contact meanwhile: bot/conversation/lending.py)."""
        try:
            await self._rows(contact_id, True, True)
        except Exception:
            log.exception("inbox drain failed")
        finally:
            self._urgent_active.pop(contact_id, None)
            # The contact's task may have stopped at the row worked on here: it goes on now.
            self.kick(contact_id)

    async def stop(self, grace: float = 5.0) -> None:
        """``KeyedWorker.stop``, the urgent tasks beside the contacts' tasks included."""
        urgent = [task for task in self._urgent_active.values() if not task.done()]
        await super().stop(grace)
        if urgent:
            _, late = await asyncio.wait(urgent, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    def _finished(self, claim: Claim) -> None:
        with self._working_lock:
            self._working.discard(claim.row_id)

    def _still_ours(self, row_id: int) -> bool:
        """Whether the row is still there and this process's (an exit or delete, answered while
        its turn waited for Rasa, drops the person's earlier rows)."""
        with self.runtime.db.session() as s:
            return (
                s.scalar(
                    select(InboxMessage.id).where(
                        InboxMessage.id == row_id, InboxMessage.lease_owner == self.lease.owner
                    )
                )
                is not None
            )

    def _release(self, row_id: int, not_before: float, attempts: int | None = None) -> None:
        """Give the row back, to be tried (here or by any process) in ``not_before`` seconds."""
        with self.runtime.db.session() as s:
            row = s.get(InboxMessage, row_id)
            if row is None or row.lease_owner != self.lease.owner:
                return
            row.lease_owner = row.lease_until = None
            row.not_before = utcnow() + dt.timedelta(seconds=not_before)
            if attempts is not None:
                row.attempts = attempts
        self.rescan(after=not_before)  # nobody kicks a row whose wait ends

    async def _give_back(self, row_id: int, not_before: float, attempts: int | None = None) -> None:
        """``_release`` off the event loop; if the database is away, the lease lapses instead
        and the row is tried again all the same."""
        try:
            await self.runtime.db.call(self._release, row_id, not_before, attempts)
        except SQLAlchemyError as exc:
            log.warning("inbox row not released", extra={"error": type(exc).__name__})

    def _drop(self, row_id: int) -> None:
        """Delete an unreadable row this process holds."""
        with self.runtime.db.session() as s:
            s.execute(
                delete(InboxMessage).where(
                    InboxMessage.id == row_id, InboxMessage.lease_owner == self.lease.owner
                )
            )

    async def _process(self, claim: Claim) -> bool:
        """Handle one claimed row; True when the contact has another row to handle now, False
        when there is none or this one must be tried again later (the conversation raised, or
        Rasa is away)."""
        row_id, contact_id, channel_name = claim.row_id, claim.contact_id, claim.channel
        received_at, attempts = claim.received_at, claim.attempts
        stored = _load(self.runtime.crypto.decrypt(claim.payload_enc))
        if stored is None:
            await self.runtime.db.call(self._drop, row_id)
            log.error("inbox row unreadable", extra={"channel": channel_name})
            return True
        inbound, address, sent_at, platform_message_id, introduced = stored
        channel = self.channels[channel_name]
        waited = (utcnow() - received_at).total_seconds()
        wait_for_rasa = waited < self.runtime.settings.rasa_wait_seconds
        inbound_at = min(sent_at, received_at) if sent_at else received_at  # never the future
        try:
            result = await self.runtime.conversations.handle(
                replace(inbound, message_id=None),
                wait_for_rasa=wait_for_rasa,
                introduced=introduced,
                may_defer=True,
                urgent=claim.urgent,
                still_wanted=lambda: self.runtime.db.call(
                    self._still_ours, row_id, urgent=claim.urgent
                ),
            )
        except TurnWithdrawn:
            # An exit or delete came while the turn waited for Rasa, and dropped this row.
            log.info("inbox message withdrawn", extra={"channel": channel_name})
            return True
        except RateLimited as held:
            log.info("inbox keeps a message above the rate limit", extra={"channel": channel_name})
            try:
                self._defer(row_id, contact_id, channel, address, held)
            except LeaseLost:
                log.error("inbox lease lost", extra={"channel": channel_name})
                return True
            return False
        except RasaUnavailable:
            # Nothing was written; the message waits for Rasa (durably), never an apology. A new
            # conversation gets its introduction now, all the same (A7).
            log.info("inbox waits for rasa", extra={"channel": channel_name})
            if introduced is None and await self._introduce(
                row_id, contact_id, channel, address, inbound, inbound_at
            ):
                return False  # the row was released with the introduction
            await self._give_back(row_id, RASA_RETRY_SECONDS)
            return False
        except Exception as exc:
            if unavailable(exc):
                # The database, not the message: it waits (durably) like a message that found
                # Rasa away, and no try is counted against it: no apology for our own fault.
                log.warning("turn waits for the database", extra={"channel": channel_name})
                await self._give_back(row_id, DATABASE_RETRY_SECONDS)
                return False
            log.exception("turn failed", extra={"channel": channel_name})
            attempts += 1
            if attempts < TURN_ATTEMPTS:
                await self._give_back(row_id, self.outbox.backoff(attempts), attempts)
                return False
            result = await self.runtime.db.call(self._apology, contact_id, inbound)
        try:
            return await self._record(
                row_id,
                contact_id,
                channel,
                address,
                inbound_at,
                result,
                platform_message_id,
                claim.urgent,
            )
        except LeaseLost:
            # Another process took the row over (this one stalled past its lease): its turn
            # answers; queuing ours too would send the reply twice.
            log.error("inbox lease lost", extra={"channel": channel_name})
        return True

    def _held(self, s: Session, row_id: int) -> InboxMessage:
        """The row this process holds, locked for the caller's transaction; ``LeaseLost`` when
        another process took it over (nothing the caller writes may then be committed)."""
        row = s.scalar(
            select(InboxMessage)
            .where(InboxMessage.id == row_id, InboxMessage.lease_owner == self.lease.owner)
            .with_for_update()
        )
        if row is None:
            raise LeaseLost()
        return row

    def _held_payload(self, s: Session, row_id: int) -> tuple[InboxMessage, dict[str, Any]]:
        """``_held`` and the row's stored payload, decrypted, to be changed and written back."""
        row = self._held(s, row_id)
        return row, json.loads(self.runtime.crypto.decrypt(row.payload_enc) or "{}")

    def _defer(
        self, row_id: int, contact_id: str, channel: Channel, address: str, held: RateLimited
    ) -> None:
        """Keep a message above the rate limit until the contact's window ends, with the text
        messages already waiting behind it joined into it (in order, bounded by KEEP_MESSAGES
        and KEEP_CHARACTERS; the rest are counted and the person told, once per joining), and
        queue the turn's note. Taps, media and urgent rows keep their own rows and order."""
        crypto = self.runtime.crypto
        with self.runtime.db.session() as s:
            row, stored = self._held_payload(s, row_id)
            inbound = stored.get("inbound") or {}
            text = str(inbound.get("text") or "")
            joined = int(stored.get("joined") or 1)
            unread = 0
            later = list(
                s.scalars(
                    select(InboxMessage)
                    .where(
                        InboxMessage.contact_id == contact_id,
                        InboxMessage.id > row_id,
                        InboxMessage.urgent.is_(False),
                    )
                    .order_by(InboxMessage.id)
                )
            )
            if inbound.get("unsupported") or inbound.get("payload") or not text:
                later = []  # only a typed message is joined with what follows it
            for other in later:
                if self.lease.held_by_other(other.lease_owner, other.lease_until, utcnow()):
                    break
                loaded = _load(crypto.decrypt(other.payload_enc))
                if loaded is None or loaded[0].payload or loaded[0].unsupported:
                    break  # a tap or a photo keeps its place after what came before it
                more = loaded[0].text or ""
                if joined < KEEP_MESSAGES and len(text) + 1 + len(more) <= KEEP_CHARACTERS:
                    text = f"{text}\n{more}" if text else more
                    joined += 1
                else:
                    unread += 1
                s.delete(other)
            if text and inbound:
                inbound["text"] = text
                stored["inbound"], stored["joined"] = inbound, joined
                row.payload_enc = crypto.encrypt(json.dumps(stored))
            row.lease_owner = row.lease_until = None
            row.not_before = utcnow() + dt.timedelta(seconds=held.seconds)
            replies = list(held.replies)
            if unread:
                log.warning("inbox could not keep every message", extra={"rows": unread})
                contact = s.get(Contact, contact_id)
                ctx = RenderContext(
                    language=held.language,
                    channel=channel.name,
                    country=contact.country if contact else None,
                )
                replies.append(
                    self.runtime.renderer.render(
                        "utter_slow_down_unread", ctx, Directory(s), count=unread
                    )
                )
            if replies:
                payloads = channel.plan(
                    replies, address=address, language=held.language, erase=False
                )
                self.outbox.enqueue(s, contact_id, channel.name, payloads)
        if replies:
            self.outbox.notify()

    async def _introduce(
        self,
        row_id: int,
        contact_id: str,
        channel: Channel,
        address: str,
        inbound: Inbound,
        inbound_at: dt.datetime,
    ) -> bool:
        """The introduction of a new conversation whose first message waits for Rasa: queued in
        the same transaction that starts the conversation and keeps the row, to be tried again,
        marked with the conversation it introduced. False: not a new conversation (or the
        lease was lost), nothing written."""
        crypto = self.runtime.crypto

        def keep(s: Session, conversation_id: str, result: TurnResult) -> None:
            row, stored = self._held_payload(s, row_id)
            stored["introduced"] = conversation_id
            row.payload_enc = crypto.encrypt(json.dumps(stored))
            row.lease_owner = row.lease_until = None
            row.not_before = utcnow() + dt.timedelta(seconds=RASA_RETRY_SECONDS)
            contact = s.get(Contact, contact_id)
            if contact is not None:
                contact.blocked = False
                channel.after_turn(s, contact_id, address, inbound_at)
                self.outbox.release_held(s, contact_id)
            payloads = channel.plan(
                result.replies, address=address, language=result.language, erase=False
            )
            # What keeps them safe: out without waiting for a free slot, like a crisis reply.
            self.outbox.enqueue(s, contact_id, channel.name, payloads, urgent=True)

        try:
            done = await self.runtime.conversations.introduce(
                replace(inbound, message_id=None), keep
            )
        except LeaseLost:
            log.error("inbox lease lost", extra={"channel": channel.name})
            return True  # another process has the row: nothing more to do here
        if done:
            self.outbox.kick(contact_id, urgent=True)
            self.rescan(after=RASA_RETRY_SECONDS)  # the row kept for Rasa: nobody kicks it
        return done

    async def _record(
        self,
        row_id: int,
        contact_id: str,
        channel: Channel,
        address: str,
        inbound_at: dt.datetime,
        result: TurnResult,
        platform_message_id: str | None = None,
        urgent: bool = False,
    ) -> bool:
        """Queue the turn's replies and delete the row (``_commit``), on a database thread; True
        when the contact has another row waiting. The outbox is told on the event loop.

        The turn has committed its own changes by now (the conversation moved on), so if this
        commit fails because the database is away, it is tried again with the same replies,
        never by running the turn a second time (whose replies would no longer fit). Tried until
        it lands or the row turns out to be another process's (``LeaseLost``); a commit whose
        answer was lost but which did land finds its row gone: ``LeaseLost``, nothing queued
        twice."""
        delay = COMMIT_RETRY_FIRST
        while True:
            try:
                more, urgent = await self.runtime.db.call(
                    self._commit,
                    row_id,
                    contact_id,
                    channel,
                    address,
                    inbound_at,
                    result,
                    platform_message_id,
                    urgent=urgent,
                )
            except SQLAlchemyError as exc:
                if not unavailable(exc):
                    raise
                log.warning(
                    "inbox commit retried",
                    extra={"channel": channel.name, "error": type(exc).__name__},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, COMMIT_RETRY_MAX)
                continue
            self.outbox.kick(contact_id, urgent)  # sent now, without a scan of every queued row
            return more

    def _commit(
        self,
        row_id: int,
        contact_id: str,
        channel: Channel,
        address: str,
        inbound_at: dt.datetime,
        result: TurnResult,
        platform_message_id: str | None = None,
    ) -> tuple[bool, bool]:
        """Queue the replies and delete the row, in one transaction; whether the contact has
        another row waiting (asked in the same transaction, so the drain needs no other), and
        whether the replies are urgent. Runs on a database thread: it never touches the loop."""
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
            payloads = channel.plan(
                result.replies, address=address, language=result.language, erase=erase
            )
            if contact is None:  # DELETE erased the contact: still confirm it
                payloads = [{**p, "after_erase": True} for p in payloads]
            # The row goes only if it is still ours; otherwise nothing here is committed.
            row = self._held(s, row_id)
            urgent = row.urgent
            s.delete(row)
            if erase:
                # Messages written before the exit or delete: the person left, and answering
                # them now would put new lines in the chat they just cleared.
                s.execute(
                    delete(InboxMessage).where(
                        InboxMessage.contact_id == contact_id, InboxMessage.id < row_id
                    )
                )
            self.outbox.enqueue(s, contact_id, channel.name, forget + payloads, urgent=urgent)
            more = s.scalar(
                select(InboxMessage.id)
                .where(InboxMessage.contact_id == contact_id, InboxMessage.id != row_id)
                .limit(1)
            )
        return more is not None, urgent

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


class LeaseLost(Exception):
    """The row was taken over by another process while this one worked on it."""


def _load(
    plain: str | None,
) -> tuple[Inbound, str, dt.datetime | None, str | None, str | None] | None:
    """The stored message: inbound, address, sent at, platform message id, and the
    conversation whose introduction it already had (``Inbox._introduce``)."""
    if plain is None:
        return None
    try:
        stored: dict[str, Any] = json.loads(plain)
        inbound = Inbound(**stored["inbound"])
        sent_at = dt.datetime.fromisoformat(stored["sent_at"]) if "sent_at" in stored else None
        pmid = stored.get("platform_message_id")
        introduced = stored.get("introduced")
        return (
            inbound,
            str(stored["address"]),
            sent_at,
            str(pmid) if pmid else None,
            str(introduced) if introduced else None,
        )
    except (ValueError, TypeError, KeyError):
        return None
