"""The survivor's side of the handoff: the offer of a person, the summary, consent, waiting.

Deterministic, so "a person" works while Rasa is down. Each step works inside the caller's unit
of work (one turn) and returns the replies; the conversation layer decides when they are sent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory.service import Directory
from bot.events import Event
from bot.handoff import card, late
from bot.handoff.late import LateReplies
from bot.handoff.service import Handoffs
from bot.nlg.render import RenderContext, Renderer
from bot.platforms import platform
from bot.safety.text import fold_command
from bot.store.console_models import AuditEvent
from bot.store.crypto import Crypto
from bot.store.models import Awaiting, Consent, Conversation, HandoffRequest, Mode
from bot.types import Reply, ReplyButton

# Payloads this desk answers (they also work while Rasa is down).
PAYLOADS = frozenset(
    {
        "request_human",
        "no_person",
        "handoff_yes",
        "handoff_nocard",
        "handoff_no",
        "card_change",
        "card_edit",
        "card_hours",
        "card_code_word",
        "card_show",
        "handoff_wait",
        "handoff_leave",
        "handoff_place",
        *late.PAYLOADS,
    }
)
# The audit action for each result of a code-word check (the names the console used before).
AUDIT_ACTIONS = {
    "matched": "case.code_word_ok",
    "no_match": "case.code_word_wrong",
    "blocked": "case.code_word_blocked",
}
# While a person from the team is writing, the assistant stays silent except for these.
WHILE_WITH_STAFF = frozenset({"choose_language", "handoff_place", "handoff_leave", *late.PAYLOADS})


class HandoffDesk:
    def __init__(
        self,
        renderer: Renderer,
        handoffs: Handoffs,
        crypto: Crypto,
        late_replies: LateReplies | None = None,
    ) -> None:
        self.renderer = renderer
        self.handoffs = handoffs
        self.crypto = crypto
        self.late = late_replies

    # --- building blocks ---

    def with_person_now(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory
    ) -> Reply:
        req = self.handoffs.open_request(s, conv)
        name = (req.staff_name if req else None) or ""
        return self.renderer.render("utter_with_person_now", ctx, d, staff_name=name)

    def already_live(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory
    ) -> Reply | None:
        if conv.mode == Mode.STAFF:
            return self.with_person_now(s, conv, ctx, d)
        if conv.mode == Mode.QUEUED:
            return self.renderer.render("utter_queued_ack", ctx, d)
        return None

    def wait_estimate(self, s: Session, ctx: RenderContext, queue: str | None = None) -> str:
        """E1: the expected wait, from recent acceptances; never a promise."""
        minutes = self.handoffs.wait_estimate(s, queue or ctx.language)
        if minutes:
            return self.renderer.t("queue_wait_estimate", ctx, minutes=minutes)
        return self.renderer.t("queue_wait_unknown", ctx)

    def consent(self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory) -> Reply:
        """E1/E2: the question, with the summary exactly as staff would get it."""
        req = self.handoffs.current_draft(s, conv) or self.handoffs.draft(s, conv)
        summary = card.card_text(self.renderer, ctx, req)
        return self.renderer.render("utter_ask_handoff_consent", ctx, d, card=summary)

    # --- the steps ---

    def explain(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory
    ) -> list[Reply]:
        """What a person can do, the likely wait, and the question with the summary."""
        live = self.already_live(s, conv, ctx, d)
        if live is not None:
            return [live]
        self.handoffs.draft(s, conv)  # a fresh summary from what the conversation knows
        estimate = self.wait_estimate(s, ctx)
        explain = self.renderer.render("utter_handoff_explain", ctx, d, wait_estimate=estimate)
        return [explain, self.consent(s, conv, ctx, d)]

    def answer(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory, choice: str
    ) -> list[Reply]:
        """yes: send with the summary; nocard: send with the language only; no: nobody."""
        live = self.already_live(s, conv, ctx, d)
        if live is not None:
            return [live]
        s.add(Consent(contact_id=conv.contact_id, kind="handoff", granted=choice != "no"))
        awaiting = None if conv.awaiting == Awaiting.CODE_WORD else conv.awaiting
        if choice == "no":
            draft = self.handoffs.current_draft(s, conv)
            if draft is not None:
                s.delete(draft)
            reply = self.renderer.render("utter_handoff_declined", ctx, d)
        else:
            s.add(Consent(contact_id=conv.contact_id, kind="summary", granted=choice == "yes"))
            on_duty = self.handoffs.on_duty(s, ctx.language)
            req = self.handoffs.submit(s, conv, choice == "yes", on_duty)
            key = "utter_handoff_queued" if on_duty else "utter_handoff_no_one"
            reply = self.renderer.render(key, ctx, d)
            if on_duty:  # nobody on duty: that answer asks a question already (asked on "wait")
                conv.awaiting = awaiting
                return [reply, *self.ask_late_reply(s, conv, req, ctx, d)]
        conv.awaiting = awaiting
        return [reply]

    # --- WhatsApp after 24 hours (late.py) ---

    def ask_late_reply(
        self, s: Session, conv: Conversation, req: HandoffRequest, ctx: RenderContext, d: Directory
    ) -> list[Reply]:
        """Once per request, on WhatsApp: may the team reopen the chat later with a neutral
        message? Not asked when it could not be used, or was answered for this request."""
        if self.late is None or not self.late.should_ask(ctx.channel, card.Safety.of(req)):
            return []
        answered = s.scalar(
            select(Consent.id).where(
                Consent.contact_id == conv.contact_id,
                Consent.kind == "late_reply",
                Consent.at >= req.created_at,
            )
        )
        if answered is not None:
            return []
        return [self.renderer.render("utter_late_reply_ask", ctx, d, days=str(self.late.days))]

    def answer_late_reply(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory, payload: str
    ) -> list[Reply]:
        """Yes: the permission, with its expiry; no: none (an earlier one is withdrawn)."""
        yes = (
            payload == late.YES
            and self.late is not None
            and self.late.usable()
            and platform(ctx.channel).reply_window is not None  # WhatsApp's window only
        )
        s.add(Consent(contact_id=conv.contact_id, kind="late_reply", granted=yes))
        if yes and self.late is not None:
            self.late.grant(s, conv.contact_id)
            days = str(self.late.days)
            return [self.renderer.render("utter_late_reply_yes", ctx, d, days=days)]
        late.withdraw(s, conv.contact_id)
        return [self.renderer.render("utter_late_reply_no", ctx, d)]

    def change_card(
        self,
        s: Session,
        conv: Conversation,
        ctx: RenderContext,
        d: Directory,
        intent: str,
        entities: dict[str, Any],
    ) -> list[Reply]:
        """Changing the summary before it is sent: one enumerated field per tap."""
        live = self.already_live(s, conv, ctx, d)
        if live is not None:
            return [live]
        if conv.awaiting == Awaiting.CODE_WORD:
            conv.awaiting = None
        req = self.handoffs.current_draft(s, conv) or self.handoffs.draft(s, conv)
        if intent == "card_edit":
            card.edit(req, conv, entities.get("field", ""), entities.get("value"))
        if intent == "card_code_word":
            conv.awaiting = Awaiting.CODE_WORD
            return [self.renderer.render("utter_ask_code_word", ctx, d)]
        if intent == "card_hours":
            buttons = [
                ReplyButton(self.renderer.t(key, ctx), payload)
                for key, payload in card.hours_options()
            ]
            return [self.renderer.render("utter_ask_safe_hours", ctx, d, buttons=buttons)]
        if intent == "card_show":
            return [self.consent(s, conv, ctx, d)]
        # card_change, card_edit: the summary with what can change
        buttons = [
            ReplyButton(self.renderer.t(key, ctx), payload)
            for key, payload in card.change_options(req, conv)
        ]
        summary = card.card_text(self.renderer, ctx, req)
        return [
            self.renderer.render("utter_handoff_card_change", ctx, d, buttons=buttons, card=summary)
        ]

    def code_word(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory, text: str
    ) -> list[Reply]:
        """Keep only a keyed hash of the word; the word itself is never stored, logged or parsed."""
        if not fold_command(text):  # only symbols or emoji: ask again
            return [self.renderer.render("utter_ask_code_word", ctx, d)]
        req = self.handoffs.current_draft(s, conv) or self.handoffs.draft(s, conv)
        req.code_word_hash = card.code_word_hash(self.crypto, text)
        conv.awaiting = None
        saved = self.renderer.render("utter_code_word_saved", ctx, d)
        return [saved, self.consent(s, conv, ctx, d)]

    def check_code_word(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory, text: str
    ) -> list[Reply]:
        """The answer to staff's "what is your code word": compared with the keyed hash, then
        forgotten. The transcript gets only the result (a ``check`` line staff see as "code word:
        matched / did not match"); the word is never kept, logged or sent to Rasa, and the
        caller has the message deleted from the chat where the platform allows it.

        The step ends with this answer whatever it was, so a later message is never swallowed:
        staff ask again if they want to."""
        conv.awaiting = None
        req = self.handoffs.open_request(s, conv)
        if req is None:  # the handoff ended meanwhile: nothing to check against
            return [self.renderer.render("utter_code_word_checked", ctx, d)]
        state = self.handoffs.state(s, req)
        if state.code_word_failures >= card.MAX_CODE_WORD_TRIES:
            result = "blocked"
        elif req.status == "accepted" and card.code_word_matches(
            self.crypto, req.code_word_hash, text
        ):
            req.code_word_confirmed = True
            result = "matched"
        else:
            state.code_word_failures += 1
            result = "no_match"
        self.handoffs.keep_message(s, conv, result, "check")
        # The case view's panel refreshes on this (a match opens the details); no content.
        self.handoffs.events.publish(Event("handoff.code_word", conv.id, {"handoff": req.id}))
        s.add(  # who asked, and what came of it; as the console's audit rows, never the word
            AuditEvent(
                staff_id=req.staff_id,
                action=AUDIT_ACTIONS[result],
                conversation_id=conv.id,
                detail={"failures": state.code_word_failures},
            )
        )
        return [self.renderer.render("utter_code_word_checked", ctx, d)]

    def waiting(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory, intent: str
    ) -> list[Reply]:
        """While queued: keep waiting, leave, or ask the place in the queue (E3)."""
        req = self.handoffs.open_request(s, conv)
        if req is None and intent != "handoff_leave":  # nothing to wait for: offer a person
            return self.explain(s, conv, ctx, d)
        if intent == "handoff_leave" or req is None:
            self.handoffs.withdraw(s, conv)
            return [self.renderer.render("utter_back_to_bot", ctx, d)]
        if conv.mode == Mode.STAFF:
            return [self.with_person_now(s, conv, ctx, d)]
        if intent == "handoff_wait":
            keep = self.renderer.render("utter_handoff_keep_waiting", ctx, d)
            return [keep, *self.ask_late_reply(s, conv, req, ctx, d)]
        estimate = self.wait_estimate(s, ctx, req.language)
        position = self.handoffs.position(s, req)
        return [
            self.renderer.render(
                "utter_queue_place", ctx, d, position=position, wait_estimate=estimate
            )
        ]

    def to_staff(
        self, s: Session, conv: Conversation, ctx: RenderContext, d: Directory, text: str
    ) -> list[Reply]:
        """Someone waits for or talks with a person: the message is for them (the transcript);
        the first one while queued gets one acknowledgement."""
        self.handoffs.keep_message(s, conv, text, "in")
        if conv.mode == Mode.QUEUED and not conv.queue_notice_sent:
            conv.queue_notice_sent = True
            return [self.renderer.render("utter_queued_ack", ctx, d)]
        return []
