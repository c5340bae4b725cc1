"""One conversation: the summary, the messages since the handoff, replies, notes, and every action.

Each view checks ``queries.may_view`` (your own cases, waiting ones in your languages; supervisors
all) and every action is audited without content. The survivor's phone number or chat id is never
read here: the console has no code path to ``Contact.address_enc``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console import queries
from bot.console.auth import Staff
from bot.console.core import Console
from bot.handoff.card import MAX_CODE_WORD_TRIES
from bot.handoff.live import Gone, NotAllowed
from bot.nlg.lint import check_free_text
from bot.store.console_models import HandoffNote, StaffUser
from bot.store.models import HandoffRequest

MAX_TEXT = 4000


def _before(request: Request) -> int | None:
    """The transcript page asked for: lines older than this id (``?before=``), else the latest."""
    raw = request.query_params.get("before", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _load(
    console: Console, staff: Staff, hid: str, before: int | None = None
) -> tuple[queries.Case | None, str]:
    """The case as this person may see it, or a reason it is refused."""
    with console.rt.db.session() as s:
        req = s.get(HandoffRequest, hid)
        if req is None or req.status == "draft":
            return None, "gone"
        if not queries.may_view(staff, req):
            return None, "not_yours"
        return queries.case_view(s, console.live, console.rt.crypto, req, before=before), ""


def _refuse(console: Console, request: Request, staff: Staff, reason: str) -> Response:
    return console.error(request, staff, 404 if reason == "gone" else 403, reason)


async def case_page(console: Console, request: Request, staff: Staff) -> Response:
    hid = str(request.path_params["hid"])
    case, reason = _load(console, staff, hid, _before(request))
    if case is None:
        if reason == "not_yours":
            with console.rt.db.session() as s:
                refused = s.get(HandoffRequest, hid)
                conversation_id = refused.conversation_id if refused else None
            console.audit(staff.id, "case.view_refused", conversation_id)
        return _refuse(console, request, staff, reason)
    console.audit(staff.id, "case.view", case.conversation_id, status=case.status)
    with console.rt.db.session() as s:
        canned = queries.canned(s, case.language)
        others = queries.colleagues(s, case.language, staff.id)
        people = [(u.id, u.display_name) for u in others]
        replies = [(c.title, c.text) for c in canned]
    closing = ""
    with console.rt.db.session() as s:
        req = s.get(HandoffRequest, hid)
        if req is not None:
            closing = console.live.render(s, req.conversation, "utter_handoff_closed").text
    return console.html(
        request,
        staff,
        "case.html",
        case=case,
        canned=replies,
        colleagues=people,
        closing=closing,
        problem=request.query_params.get("problem", ""),
    )


async def fragment(console: Console, request: Request, staff: Staff) -> Response:
    hid, part = str(request.path_params["hid"]), str(request.path_params["part"])
    if part not in ("messages", "panel", "reply-status", "notes"):
        return Response(status_code=404)
    case, reason = _load(console, staff, hid, _before(request) if part == "messages" else None)
    if case is None:
        return console.html(request, staff, "_gone.html", reason=reason)
    return console.html(request, staff, f"_{part.replace('-', '_')}.html", case=case)


async def accept(console: Console, request: Request, staff: Staff) -> Response:
    hid = str(request.path_params["hid"])
    if await console.form(request, staff) is None:
        return console.error(request, staff, 403, "csrf")
    with console.rt.db.session() as s:
        req = s.get(HandoffRequest, hid)
        if req is None or req.status != "queued":
            return console.go(f"/c/{hid}?problem=taken")
        if not staff.answers(req.language) and not staff.can("supervisor"):
            return console.error(request, staff, 403, "not_yours")
        conversation_id = req.conversation_id
    try:
        sent = await console.live.accept(hid, staff.id, staff.display_name)
    except Gone:
        return console.go(f"/c/{hid}?problem=taken")
    console.audit(staff.id, "case.accept", conversation_id, held=sent.held)
    return console.go(f"/c/{hid}")


async def reply(console: Console, request: Request, staff: Staff) -> Response:
    hid = str(request.path_params["hid"])
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    text = str(form.get("text", "")).strip()[:MAX_TEXT]
    problem = ""
    case, reason = _load(console, staff, hid)
    if case is None or not case.mine(staff):
        problem = "not_yours"  # (a code word does not block replies: asking for it is one)
    # The rules of the assistant's own texts (bot/nlg/lint.py): a lock screen shows the start of
    # a staff reply as it shows the assistant's, and the same length limit applies.
    lint_problems = check_free_text(text, case.language) if text and case is not None else []
    if lint_problems and not problem:
        problem = "lint"
        console.audit(
            staff.id, "case.reply_refused", case.conversation_id if case else None, reason="lint"
        )
    if text and not problem:
        try:
            await console.live.reply(hid, staff.id, text)
        except NotAllowed as refused:
            problem = refused.permission.reason
            console.audit(
                staff.id,
                "case.reply_refused",
                case.conversation_id if case else None,
                reason=problem,
            )
        except Gone:
            problem = "gone"
        else:
            console.audit(staff.id, "case.reply", case.conversation_id if case else None)
            text = ""
    if not request.headers.get("hx-request"):
        return console.go(f"/c/{hid}" + (f"?problem={problem}" if problem else ""))
    case, _ = _load(console, staff, hid)
    if case is None:
        return console.html(request, staff, "_gone.html", reason=reason or "gone")
    with console.rt.db.session() as s:
        canned = [(c.title, c.text) for c in queries.canned(s, case.language)]
    return console.html(
        request,
        staff,
        "_reply_form.html",
        case=case,
        draft=text,
        reply_problem=problem,
        lint_problems=lint_problems,
        canned=canned,
    )


async def note(console: Console, request: Request, staff: Staff) -> Response:
    hid = str(request.path_params["hid"])
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    text = str(form.get("text", "")).strip()[:MAX_TEXT]
    case, reason = _load(console, staff, hid)
    if case is None or not (case.mine(staff) or staff.can("supervisor")) or case.gated:
        return _refuse(console, request, staff, reason or "not_yours")
    if text:
        with console.rt.db.session() as s:
            s.add(
                HandoffNote(
                    handoff_id=hid, staff_id=staff.id, text_enc=console.rt.crypto.encrypt(text)
                )
            )
        console.audit(staff.id, "case.note", case.conversation_id)
    if request.headers.get("hx-request"):
        case, _ = _load(console, staff, hid)
        return console.html(request, staff, "_notes.html", case=case)
    return console.go(f"/c/{hid}")


async def ask_code_word(console: Console, request: Request, staff: Staff) -> Response:
    """Ask the survivor for their code word. Staff never type or read it: the survivor's answer
    is checked by the assistant and only the result reaches the transcript (and this page)."""
    hid = str(request.path_params["hid"])
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    with console.rt.db.session() as s:
        req = s.get(HandoffRequest, hid)
        if req is None or req.status != "accepted" or req.staff_id != staff.id:
            return console.error(request, staff, 403, "not_yours")
        conversation_id = req.conversation_id
        blocked = console.rt.handoffs.state(s, req).code_word_failures >= MAX_CODE_WORD_TRIES
    if blocked:
        console.audit(staff.id, "case.code_word_ask_refused", conversation_id, reason="blocked")
        return console.go(f"/c/{hid}?problem=code_word_blocked")
    try:
        await console.live.ask_code_word(hid, staff.id)
    except NotAllowed as refused:
        reason = refused.permission.reason
        console.audit(staff.id, "case.code_word_ask_refused", conversation_id, reason=reason)
        return console.go(f"/c/{hid}?problem={reason}")
    except Gone:
        return console.go(f"/c/{hid}?problem=gone")
    console.audit(staff.id, "case.code_word_asked", conversation_id)
    return console.go(f"/c/{hid}")


async def transfer(console: Console, request: Request, staff: Staff) -> Response:
    """To a colleague (by id) or to another language queue; supervisors may reassign any case."""
    hid = str(request.path_params["hid"])
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    with console.rt.db.session() as s:
        req = s.get(HandoffRequest, hid)
        if req is None or req.status not in ("queued", "accepted"):
            return console.go(f"/c/{hid}?problem=gone")
        allowed = staff.can("supervisor") or (req.status == "accepted" and req.staff_id == staff.id)
        if not allowed:
            return console.error(request, staff, 403, "not_yours")
        conversation_id = req.conversation_id
        target_id = str(form.get("to_staff", ""))
        target = s.get(StaffUser, target_id) if target_id else None
    language = str(form.get("to_language", ""))
    try:
        if target is not None and target.active:
            await console.live.assign(hid, target.id, target.display_name)
            console.audit(staff.id, "case.transfer_person", conversation_id, to_staff=target.id)
        elif language in console.settings.languages:
            await console.live.requeue(hid, language)
            console.audit(staff.id, "case.transfer_queue", conversation_id, to_language=language)
        else:
            return console.go(f"/c/{hid}?problem=transfer")
    except Gone:
        return console.go(f"/c/{hid}?problem=gone")
    back = "/supervisor" if form.get("back") == "supervisor" else "/queue"
    return console.go(back)


async def finish(console: Console, request: Request, staff: Staff) -> Response:
    """Hand back to the assistant, or close with a closing message."""
    hid, how = str(request.path_params["hid"]), str(request.path_params["how"])
    form = await console.form(request, staff)
    if form is None:
        return console.error(request, staff, 403, "csrf")
    with console.rt.db.session() as s:
        req = s.get(HandoffRequest, hid)
        if req is None:
            return console.go("/queue")
        mine = req.status == "accepted" and req.staff_id == staff.id
        if not (mine or staff.can("supervisor")):
            return console.error(request, staff, 403, "not_yours")
        conversation_id = req.conversation_id
    try:
        if how == "close":
            text = str(form.get("text", "")).strip()[:MAX_TEXT]
            if not text:
                return console.go(f"/c/{hid}?problem=closing")
            sent = await console.live.close(hid, text)
        else:
            sent = await console.live.hand_back(hid)
    except Gone:
        return console.go(f"/c/{hid}?problem=gone")
    action = "case.close" if how == "close" else "case.hand_back"
    console.audit(staff.id, action, conversation_id, held=sent.held)
    return console.go("/queue")


def routes(console: Console) -> list[Route]:
    return [
        Route("/c/{hid}", console.guard(case_page)),
        Route("/c/{hid}/part/{part}", console.guard(fragment)),
        Route("/c/{hid}/accept", console.guard(accept), methods=["POST"]),
        Route("/c/{hid}/reply", console.guard(reply), methods=["POST"]),
        Route("/c/{hid}/note", console.guard(note), methods=["POST"]),
        Route("/c/{hid}/code-word", console.guard(ask_code_word), methods=["POST"]),
        Route("/c/{hid}/transfer", console.guard(transfer), methods=["POST"]),
        Route("/c/{hid}/finish/{how}", console.guard(finish), methods=["POST"]),
    ]
