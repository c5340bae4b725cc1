"""What the console shows, read from the database with the viewer's permissions applied.

Every function returns plain data for the templates. Content (messages, notes) is decrypted only
in ``case_view``, and only the parts the viewer may see: with a code word set and not yet
confirmed, the summary's details, the notes and everything written before this person joined stay
hidden (the person writing now may not be the person who set it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console.auth import Staff
from bot.handoff.card import MAX_CODE_WORD_TRIES, Safety
from bot.handoff.live import LiveHandoff
from bot.handoff.policy import Permission
from bot.handoff.service import Handoffs
from bot.store.console_models import CannedReply, HandoffNote, StaffUser
from bot.store.crypto import Crypto
from bot.store.models import (
    Awaiting,
    Contact,
    HandoffMessage,
    HandoffRequest,
    StaffPresence,
    utcnow,
)
from bot.store.ops_models import answers, team_languages

PRESENCE_FRESH = dt.timedelta(minutes=2)
# Transcript lines decrypted and shown at once; older ones a page at a time on request. Bounds
# what one refresh costs however much a person wrote (BOT_CONTACT_RATE_* bounds how fast).
TRANSCRIPT_PAGE = 200


@dataclass
class Row:
    id: str
    language: str
    urgent: bool
    waited_minutes: int
    status: str
    staff_id: str | None
    staff_name: str | None
    card: bool
    code_word: bool
    told_no_answer: bool
    position: int = 0


@dataclass
class Load:
    id: str
    name: str
    role: str
    languages: list[str]
    presence: str  # available / away / offline
    active_cases: int


@dataclass
class Line:
    direction: str  # in / out / bot / sys
    text: str
    at: dt.datetime


@dataclass
class NoteLine:
    author: str
    text: str
    at: dt.datetime


@dataclass
class Case:
    id: str
    conversation_id: str
    status: str
    language: str
    channel: str
    urgent: bool
    created_at: dt.datetime
    accepted_at: dt.datetime | None
    closed_at: dt.datetime | None
    staff_id: str | None
    staff_name: str | None
    card_consent: bool
    safety: Safety
    code_word: bool
    confirmed: bool
    code_word_failures: int
    last_inbound_at: dt.datetime | None
    permission: Permission
    country: str | None = None
    needs: list[str] = field(default_factory=list)
    messages: list[Line] = field(default_factory=list)
    notes: list[NoteLine] = field(default_factory=list)
    hidden_messages: int = 0
    # Lines the viewer may see that are older than this page, and the first line's id (the
    # "show earlier" link reads the page before it); ``before`` is the page asked for, if any.
    earlier_messages: int = 0
    first_message_id: int | None = None
    before: int | None = None
    code_word_asked: bool = False  # staff asked; the survivor's answer has not come yet
    # WhatsApp: until when the person agreed to be reached after the 24-hour window (a neutral
    # template reopens the chat); None: a late reply waits until they write.
    late_until: dt.datetime | None = None

    @property
    def code_word_blocked(self) -> bool:
        return self.code_word_failures >= MAX_CODE_WORD_TRIES

    @property
    def gated(self) -> bool:
        return self.code_word and not self.confirmed

    def mine(self, staff: Staff) -> bool:
        return self.status == "accepted" and self.staff_id == staff.id


def _row(req: HandoffRequest, now: dt.datetime, told: bool) -> Row:
    return Row(
        id=req.id,
        language=req.language,
        urgent=bool(req.urgency),
        waited_minutes=max(0, int((now - req.created_at).total_seconds() // 60)),
        status=req.status,
        staff_id=req.staff_id,
        staff_name=req.staff_name,
        card=req.card_consent,
        code_word=req.code_word_hash is not None,
        told_no_answer=told,
    )


def waiting(
    s: Session, handoffs: Handoffs, languages: list[str] | None, now: dt.datetime | None = None
) -> list[Row]:
    """The queue, a crisis first then the longest wait, with each row's place in its language."""
    now = now or utcnow()
    rows, places = [], dict[str, int]()
    for req in handoffs.queue(s, languages):
        state = handoffs.state(s, req)
        row = _row(req, now, state.fallback_at is not None)
        places[req.language] = places.get(req.language, 0) + 1
        row.position = places[req.language]
        rows.append(row)
    return rows


def assigned(s: Session, staff_id: str | None = None, now: dt.datetime | None = None) -> list[Row]:
    now = now or utcnow()
    query = select(HandoffRequest).where(HandoffRequest.status == "accepted")
    if staff_id is not None:
        query = query.where(HandoffRequest.staff_id == staff_id)
    return [
        _row(r, now, False)
        for r in s.scalars(query.order_by(HandoffRequest.urgency.desc(), HandoffRequest.created_at))
    ]


def loads(s: Session, now: dt.datetime | None = None) -> list[Load]:
    now = now or utcnow()
    counts = dict(
        s.execute(
            select(HandoffRequest.staff_id, func.count())
            .where(HandoffRequest.status == "accepted")
            .group_by(HandoffRequest.staff_id)
        ).all()
    )
    presence = {p.staff_id: p for p in s.scalars(select(StaffPresence))}
    teams = team_languages(s)
    out = []
    for user in s.scalars(
        select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.display_name)
    ):
        p = presence.get(user.id)
        state = "offline"
        if p is not None and p.seen_at >= now - PRESENCE_FRESH:
            state = "available" if p.available else "away"
        own = list(user.languages or [])
        out.append(
            Load(
                user.id,
                user.display_name,
                user.role,
                own + sorted(teams.get(user.id, set()) - set(own)),
                state,
                int(counts.get(user.id, 0)),
            )
        )
    return out


def colleagues(s: Session, language: str, exclude: str | None) -> list[StaffUser]:
    """Active people who answer this language (their own, a team's, or every language)."""
    users = s.scalars(
        select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.display_name)
    )
    teams = team_languages(s)
    return [
        u
        for u in users
        if u.id != exclude and answers(u.languages or [], teams.get(u.id, ()), language)
    ]


def canned(s: Session, language: str) -> list[CannedReply]:
    return list(
        s.scalars(
            select(CannedReply).where(CannedReply.language == language).order_by(CannedReply.title)
        )
    )


def may_view(staff: Staff, req: HandoffRequest) -> bool:
    """Need to know (F10): your own cases, or a waiting one in your languages; supervisors all."""
    if staff.can("supervisor"):
        return True
    if req.status == "queued":
        return staff.answers(req.language)
    return req.staff_id == staff.id and req.status in ("accepted", "closed")


def case_view(
    s: Session,
    live: LiveHandoff,
    crypto: Crypto,
    req: HandoffRequest,
    now: dt.datetime | None = None,
    before: int | None = None,
) -> Case:
    now = now or utcnow()
    state = live.handoffs.state(s, req)
    contact = s.get(Contact, req.conversation.contact_id)
    case = Case(
        id=req.id,
        conversation_id=req.conversation_id,
        status=req.status,
        language=req.language,
        channel=contact.channel if contact else "",
        urgent=bool(req.urgency),
        created_at=req.created_at,
        accepted_at=req.accepted_at,
        closed_at=req.closed_at,
        staff_id=req.staff_id,
        staff_name=req.staff_name,
        card_consent=req.card_consent,
        safety=Safety.of(req),
        code_word=req.code_word_hash is not None,
        confirmed=req.code_word_confirmed,
        code_word_failures=state.code_word_failures,
        last_inbound_at=state.last_inbound_at,
        permission=live.permission(s, req, now),
        before=before,
        code_word_asked=req.conversation.awaiting == Awaiting.CODE_WORD_CHECK,
        late_until=live.late.until(s, req.conversation.contact_id, now),
    )
    if not case.gated and req.card_consent:
        case.country, case.needs = req.country, list(req.needs or [])
    _transcript(s, crypto, req, case)
    if not case.gated:
        names = {u.id: u.display_name for u in s.scalars(select(StaffUser))}
        for n in s.scalars(
            select(HandoffNote).where(HandoffNote.handoff_id == req.id).order_by(HandoffNote.id)
        ):
            case.notes.append(
                NoteLine(names.get(n.staff_id or "", "—"), crypto.decrypt(n.text_enc) or "", n.at)
            )
    return case


def _transcript(s: Session, crypto: Crypto, req: HandoffRequest, case: Case) -> None:
    """The last page of lines the viewer may see (or the page before ``case.before``), counted
    and decrypted page by page: a transcript of thousands of lines costs one page per refresh.
    With the code word not yet confirmed, what was written before this person joined is only
    counted, never read."""
    mine = HandoffMessage.handoff_id == req.id
    visible = select(HandoffMessage).where(mine)
    if case.gated:
        joined = req.accepted_at
        hidden = mine if joined is None else mine & (HandoffMessage.at < joined)
        counted = select(func.count()).select_from(HandoffMessage).where(hidden)
        case.hidden_messages = int(s.scalar(counted) or 0)
        if joined is None:
            return
        visible = visible.where(HandoffMessage.at >= joined)
    page = visible
    if case.before is not None:
        page = page.where(HandoffMessage.id < case.before)
    rows = list(s.scalars(page.order_by(HandoffMessage.id.desc()).limit(TRANSCRIPT_PAGE)))
    rows.reverse()
    for m in rows:
        case.messages.append(Line(m.direction, crypto.decrypt(m.text_enc) or "", m.at))
    if rows:
        case.first_message_id = rows[0].id
        older = visible.where(HandoffMessage.id < rows[0].id).subquery()
        case.earlier_messages = int(s.scalar(select(func.count()).select_from(older)) or 0)
