"""Every inbound message, from any channel, is one turn here: one unit of work, one commit.

A turn: take the contact's lock → open the unit of work → drop a message seen before → load or
start the conversation → screen it (commands, crisis) → settle the language → take the lines
held for the person → run the first route that applies (routes.py) → commit → then erase Rasa
trackers and tell the console. If anything raises, nothing is written and nobody was told, so
the inbox's retry starts from the same state.

While the turn waits for Rasa it lends the contact's lock (bot/conversation/lending.py): a crisis
from the same person is answered meanwhile, and a turn that was overtaken starts over from what
is stored then, with Rasa's answers kept.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.conversation import crisis, erasure
from bot.conversation.context import TurnContext
from bot.conversation.language import apply_detection
from bot.conversation.lending import LENDING_TRIES, LendingRasa, TurnSuperseded, TurnWithdrawn
from bot.conversation.parts import Parts
from bot.conversation.routes import route_for
from bot.directory.service import Directory
from bot.safety.commands import Command
from bot.safety.people import PeopleReading
from bot.safety.screen import Screening
from bot.store.db import UnitOfWork
from bot.store.models import Contact, Conversation, Mode, SeenMessage, new_id, utcnow
from bot.types import Inbound, TurnResult

log = logging.getLogger("bot.conversation")

LEAVING = (Command.EXIT, Command.DELETE, Command.STOP)
INTRODUCTION = "utter_first_contact"  # its keys (the short one after a crisis's numbers too)

# What the durable inbox does, in the introduction's own transaction, with the introduction it
# sent while Rasa was away: (session, the conversation's id, the introduction).
KeepIntroduction = Callable[[Session, str, TurnResult], None]


class Conversations:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    async def handle(
        self,
        msg: Inbound,
        wait_for_rasa: bool = False,
        introduced: str | None = None,
        may_defer: bool = False,
        urgent: bool = False,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> TurnResult:
        """One turn. With ``wait_for_rasa`` (the durable inbox), a turn that needs Rasa while it
        is away raises ``RasaUnavailable`` having written nothing, instead of apologising.

        ``introduced``: the conversation this message already opened with the introduction
        alone while Rasa was away (``introduce``). If it is still the open one, the message is
        answered as its first (Rasa's greeting, a request kept for after "is it safe?"), without
        a second introduction.

        ``may_defer`` (the durable inbox): an ordinary message above the rate limit raises
        ``RateLimited`` having written nothing, and waits in the inbox (rate.py).

        ``urgent`` (a crisis, exit or delete, screened at the webhook): the unit of work's
        database steps on the threads kept for urgent work. ``still_wanted`` (the inbox): asked
        before a turn that was overtaken while it waited for Rasa starts over; False (the
        message was dropped by an exit or delete meanwhile) raises ``TurnWithdrawn``."""
        p = self.parts
        contact_id = p.crypto.pseudonym(msg.channel, msg.user_id)
        rasa = LendingRasa(p.rasa)
        parts = replace(p, rasa=rasa)
        tries = 0
        while True:
            tries += 1
            try:
                result = await self._once(
                    parts,
                    rasa,
                    tries <= LENDING_TRIES,
                    msg,
                    contact_id,
                    urgent,
                    wait_for_rasa,
                    introduced,
                    may_defer,
                )
            except TurnSuperseded:
                log.info("turn starts over", extra={"channel": msg.channel, "tries": tries})
                if still_wanted is not None and not await still_wanted():
                    raise TurnWithdrawn() from None
                continue
            break
        if result.duplicate:
            log.info("duplicate message dropped", extra={"channel": msg.channel})
            return result
        log.info(
            "turn",
            extra={
                "channel": msg.channel,
                "intent": result.intent,
                "crisis": result.crisis,
                "mode": result.mode,
                "replies": len(result.replies),
            },
        )
        return result

    async def _once(
        self,
        p: Parts,
        rasa: LendingRasa,
        lend: bool,
        msg: Inbound,
        contact_id: str,
        urgent: bool,
        wait_for_rasa: bool,
        introduced: str | None,
        may_defer: bool,
    ) -> TurnResult:
        """One try of the turn, under the contact's lock (lent while it waits for Rasa when
        ``lend``); ``TurnSuperseded`` when it was lent and used meanwhile, having written
        nothing and told nobody."""
        async with p.lock(contact_id) as hold:
            rasa.hold = hold if lend else None
            with p.events.held() as events:
                try:
                    async with p.db.unit_of_work(urgent) as uow:
                        result = await self._turn(
                            p, rasa, uow, msg, contact_id, wait_for_rasa, introduced, may_defer
                        )
                except IntegrityError:
                    # Another process recorded this message id first (a redelivery raced us).
                    result = None
                finally:
                    rasa.hold = None
                after = uow.take_after_commit()
            if result is None:
                return TurnResult([], p.settings.default_language, duplicate=True)
            p.events.deliver(events)
            for work in after:
                done = work()
                if inspect.isawaitable(done):
                    await done
        return result

    async def _turn(
        self,
        p: Parts,
        rasa: LendingRasa,
        uow: UnitOfWork,
        msg: Inbound,
        contact_id: str,
        wait_for_rasa: bool = False,
        introduced: str | None = None,
        may_defer: bool = False,
    ) -> TurnResult | None:
        s = uow.session
        if msg.message_id:
            key = p.crypto.message_key(msg.channel, msg.message_id)
            if s.get(SeenMessage, key) is not None:
                return None
            s.add(SeenMessage(key=key))
        ctx = self._load(uow, msg, contact_id, introduced)
        # Counted after the dedupe (a redelivery is free), once per message (a retry after waiting
        # for Rasa is free too, and so is a try that starts over after lending the contact).
        if rasa.rate is None:
            rasa.rate = p.rate.count(contact_id, msg.message_id or "")
        ctx.rate = rasa.rate
        ctx.wait_for_rasa = wait_for_rasa
        ctx.may_defer = may_defer
        apply_detection(p, ctx)
        if ctx.live:
            p.handoffs.touch(s, ctx.conv)  # their turn: the team may answer now
        # Before anything is written or ordered by it: a crisis phrase the model reads as an
        # everyday idiom is set aside here (crisis.second_look), within a bounded wait.
        await crisis.second_look(p, ctx)
        rasa.settle()  # a look cut short while someone else used the contact: start over
        leaving = ctx.screening.command is not None and ctx.screening.command.command in LEAVING
        held = [] if leaving else p.handoffs.take_held(s, contact_id)
        # Lines held back by "only when I write" come first — except after a crisis message,
        # whose first reply must carry the emergency numbers (A1): then they come last.
        if not ctx.screening.crisis:
            ctx.replies.extend(held)
        before = len(ctx.replies)
        route = route_for(ctx)
        ctx.route = route.name
        await route.run(p, ctx)
        if ctx.introduced:
            # The introduction went out on its own while Rasa was away: never a second one
            # (Rasa's greeting, or the Rasa-less first contact after waiting too long).
            ctx.replies[before:] = [
                r for r in ctx.replies[before:] if not r.key.startswith(INTRODUCTION)
            ]
        self._introduce(ctx, before)
        said = ctx.replies[before:]
        if ctx.screening.crisis:
            ctx.replies.extend(held)
        if not ctx.closed and ctx.live:
            # Staff see what the assistant told the person while they wait or talk (never Rasa).
            for reply in said:
                p.handoffs.keep_message(s, ctx.conv, reply.text, "bot")
        return ctx.result()

    def _introduce(self, ctx: TurnContext, first: int) -> None:
        """A7: a new conversation always learns first what this is (an automated chat, the exit
        word, the emergency number), whatever its first message asked for. After a crisis reply's
        numbers it comes second (A1), which the crisis step sees to itself."""
        if not ctx.is_new or ctx.closed or not ctx.introduce or ctx.introduced:
            return
        if any(reply.key.startswith(INTRODUCTION) for reply in ctx.replies):
            return
        intro = self.parts.renderer.render(INTRODUCTION, ctx.render, ctx.directory)
        ctx.replies.insert(first, intro)

    async def introduce(self, msg: Inbound, keep: KeepIntroduction) -> bool:
        """A new conversation's first message needs Rasa and Rasa is away: the introduction (an
        automated chat, the exit word, the emergency number) cannot wait for it (A7).

        In one transaction: the conversation is started, its language settled from the message,
        and ``keep`` queues the introduction and keeps the message waiting (the inbox), so the
        introduction goes out exactly once, and the message is later answered by
        ``handle(..., introduced=<conversation id>)``. False, having written nothing, when the
        contact has an open conversation already (or the message must reveal nothing)."""
        p = self.parts
        contact_id = p.crypto.pseudonym(msg.channel, msg.user_id)
        async with p.lock(contact_id):
            async with p.db.unit_of_work() as uow:
                ctx = self._load(uow, msg, contact_id)
                if not ctx.is_new or ctx.people.probing:
                    uow.session.rollback()
                    return False
                apply_detection(p, ctx)
                ctx.route = "introduce"
                ctx.decided("introduce", None)
                ctx.answer(p.renderer.render(INTRODUCTION, ctx.render, ctx.directory))
                uow.session.flush()  # the contact and conversation, for ``keep`` to read
                keep(uow.session, ctx.conv.id, ctx.result())
            after = uow.take_after_commit()
        for work in after:
            done = work()
            if inspect.isawaitable(done):
                await done
        log.info("introduced while rasa is away", extra={"channel": msg.channel})
        return True

    def _load(
        self, uow: UnitOfWork, msg: Inbound, contact_id: str, introduced: str | None = None
    ) -> TurnContext:
        p, s = self.parts, uow.session
        contact = s.get(Contact, contact_id)
        if contact is None:
            contact = Contact(
                id=contact_id,
                channel=msg.channel,
                address_enc=p.crypto.encrypt(msg.user_id),
                blocked=False,
            )
            s.add(contact)
        contact.last_seen_on = utcnow().date()
        conv = s.scalar(
            select(Conversation)
            .where(Conversation.contact_id == contact_id, Conversation.mode != Mode.CLOSED)
            .order_by(Conversation.started_at.desc())
        )
        # Introduced alone while Rasa was away, and still open: this is still its first answer.
        first_answer = conv is not None and introduced is not None and conv.id == introduced
        is_new = conv is None or first_answer
        if conv is None:
            # Every column the turn reads is set here: nothing is flushed before the commit.
            conv = Conversation(
                id=new_id(),
                rasa_sender=new_id(),
                contact_id=contact_id,
                mode=Mode.BOT,
                language=contact.language,
                language_confirmed=contact.language is not None,
                language_candidate=None,
                country=contact.country,
                awaiting=None,
                pending_intent=None,
                choices=[],
                needs=[],
                crisis=False,
                rasa_slots={},
                queue_notice_sent=False,
                minor=False,
                filters=[],
                started_at=utcnow(),
            )
            s.add(conv)
        screening = (
            Screening()
            if msg.payload or not msg.text
            else p.screen.screen(msg.text, conv.language if conv.language_confirmed else None)
        )
        people = PeopleReading() if msg.payload or not msg.text else p.people.read(msg.text)
        if people.status and screening.crisis:
            # "Vocês vão chamar a polícia?" holds the crisis phrase "chamar a polícia": the question
            # is answered as one only when every crisis phrase found is the authority it names;
            # any other risky words ("they beat me, will you call the police?") are a crisis.
            text = msg.text or ""
            asked = all(p.people.names_authority(text[m.start : m.end]) for m in screening.matches)
            people = replace(people, status=asked)
        return TurnContext(
            msg=msg,
            uow=uow,
            contact=contact,
            conv=conv,
            is_new=is_new,
            introduced=first_answer,
            screening=screening,
            default_language=p.settings.default_language,
            people=people,
        )

    # --- outside a turn ---

    def prepare(
        self, channel: str, user_id: str, language: str | None, country: str | None
    ) -> None:
        """Set a contact's language and country before a message (``bot eval`` lines, tests)."""
        p = self.parts
        contact_id = p.crypto.pseudonym(channel, user_id)
        with p.db.session() as s:
            contact = s.get(Contact, contact_id)
            if contact is None:
                contact = Contact(
                    id=contact_id, channel=channel, address_enc=p.crypto.encrypt(user_id)
                )
                s.add(contact)
            if language in p.settings.languages:
                contact.language = language
            if country and Directory(s).country(country.upper()) is not None:
                contact.country = country.upper()

    async def forget(self, channel: str, user_id: str) -> None:
        """Erase a contact and its Rasa trackers without a reply (the delete path, silently)."""
        async with self.parts.lock(self.parts.crypto.pseudonym(channel, user_id)):
            senders = erasure.forget(self.parts, channel, user_id)
            await erasure.erase_trackers(self.parts, senders)
