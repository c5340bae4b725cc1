"""The two-person rule over HTTP, as issue #12 item 3 found it broken (both databases).

Each finding of the issue, replayed through the console as a browser would (forms, CSRF tokens,
cookies), with a new contact in crisis on Telegram (``kit.Survivor``) showing what the assistant
tells them after each step:

- one admin changed a hotline's number and the next person in crisis was told to call it;
- the two-admin rule was bypassed by inviting a second admin account and approving with it;
- an HSDS import of a hotline's phone took effect at once.

Admins Ada and Noa exist before every change (the shared accounts of tests/kit.py). Every test
puts back what it changed and leaves no change waiting.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kit import (
    PASSWORD,
    Account,
    SignIn,
    Survivor,
    clean_presence,
    client_for,
    csrf_of,
    sign_in,
    signed_in,
    staff,
)
from sqlalchemy import select

from bot.console.auth import Accounts, Staff
from bot.console.views_directory_service import values_of
from bot.directory import changes
from bot.directory.changes import ServiceChange
from bot.directory.hsds import exporting, importing
from bot.runtime import Runtime
from bot.store import approvals
from bot.store.console_models import AuditEvent, StaffUser
from bot.store.content_models import PendingChange
from bot.store.models import Country, Service

__all__ = ["clean_presence", "signed_in", "staff"]  # fixtures used by name
pytestmark = pytest.mark.security
HOTLINE = "gt-pdh-denuncias"  # Guatemala's hotline in the sample directory: 1555
CRISIS = "me tienen encerrada"
LINK = re.compile(r'id="invite-link">([^<]+)<')


@pytest.fixture
def restore(stack: Runtime) -> Iterator[None]:
    """Guatemala's hotline and numbers as they were, and no change left waiting."""
    with stack.db.session() as s:
        svc = s.get(Service, HOTLINE)
        country = s.get(Country, "GT")
        assert svc is not None and country is not None
        phones, status, numbers = list(svc.phones), svc.status, list(country.numbers)
        first = max([c.id for c in s.scalars(select(PendingChange))], default=0)
    yield
    with stack.db.session() as s:
        svc = s.get(Service, HOTLINE)
        country = s.get(Country, "GT")
        assert svc is not None and country is not None
        svc.phones, svc.status, country.numbers = phones, status, numbers
        for change in s.scalars(select(PendingChange).where(PendingChange.id > first)):
            if change.status == "pending":
                change.status = "rejected"


async def crisis_reply(stack: Runtime) -> str:
    """What a new contact in Guatemala who writes a crisis message is told first."""
    survivor = Survivor(stack, "es", "GT")
    result = await survivor.say(CRISIS)
    assert result.crisis and result.replies[0].key == "utter_crisis"
    return result.replies[0].text


def edit_form(stack: Runtime, sid: str, csrf: str, **changed: Any) -> dict[str, Any]:
    """The service form of ``sid`` as the console fills it, with ``changed``."""
    with stack.db.session() as s:
        svc = s.get(Service, sid)
        assert svc is not None
        values = values_of(svc, Staff("x", "x", "x", "admin", "es", [], "", ""))
    form: dict[str, Any] = {
        key: value for key, value in values.items() if isinstance(value, str) and key != "id"
    }
    form.update(
        csrf=csrf,
        phone_number=[n for n, _ in values["phones"]],
        phone_kind=[k for _, k in values["phones"]],
        categories=values["categories"],
        languages=values["languages"],
    )
    for flag in ("public_address", "open_24_7", "for_children"):
        if values[flag]:
            form[flag] = "1"
    form.update(changed)
    return form


async def post(client: httpx.AsyncClient, path: str, page: str = "", **data: Any) -> httpx.Response:
    """POST a form with the CSRF token of ``page`` (default: the page at ``path``)."""
    form = await client.get(page or path.split("?")[0])
    return await client.post(path, data={"csrf": csrf_of(form.text), **data})


async def decide(client: httpx.AsyncClient, change: int, action: str) -> httpx.Response:
    return await post(client, "/approvals", change=str(change), action=action)


def waiting_for(stack: Runtime, kind: str, target: str) -> int:
    with stack.db.session() as s:
        found = approvals.waiting_for(s, kind, target)
        assert found is not None, (kind, target)
        return found.id


def audited(stack: Runtime, action: str, change: int) -> list[dict[str, Any]]:
    with stack.db.session() as s:
        return [
            e.detail
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == action))
            if e.detail.get("change") == change
        ]


async def test_one_admin_cannot_change_the_hotline_a_crisis_reply_gives(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore: None
) -> None:
    ada = await signed_in(staff["ada"].email)
    noa = await signed_in(staff["noa"].email)
    assert "1555" in await crisis_reply(stack)
    page = await ada.get(f"/directory/service/{HOTLINE}")
    form = edit_form(stack, HOTLINE, csrf_of(page.text), phone_number=["5555 0000"])
    saved = await ada.post(f"/directory/service/{HOTLINE}", data=form)
    assert saved.status_code == 200 and str(saved.url).endswith("?done=pending")
    assert 'id="approval-notice"' in saved.text
    number = waiting_for(stack, "service", HOTLINE)
    # A new contact in crisis is still told the number two admins approved.
    reply = await crisis_reply(stack)
    assert "1555" in reply and "5555 0000" not in reply
    # The author cannot approve it.
    own = await decide(ada, number, "approve")
    assert own.status_code == 409 and 'id="approval-outcome"' in own.text
    assert audited(stack, "approval.refused", number) == [{"change": number, "reason": "own"}]
    assert "5555 0000" not in await crisis_reply(stack)
    # The page shows the second admin what changes, before and after.
    listing = await noa.get("/approvals")
    section = listing.text.split(f'id="change-{number}"', 1)[1].split("</section>", 1)[0]
    assert "<del>1555 (voice)</del>" in section and "<ins>5555 0000 (voice)</ins>" in section
    approved = await decide(noa, number, "approve")
    assert approved.status_code == 200 and 'id="approval-outcome"' in approved.text
    reply = await crisis_reply(stack)
    assert "5555 0000" in reply and "1555" not in reply
    assert audited(stack, "approval.propose", number) == [
        {"change": number, "kind": "service", "service": HOTLINE}
    ]
    assert audited(stack, "approval.approve", number) == [{"change": number, "kind": "service"}]
    with stack.db.session() as s:
        done = s.get(PendingChange, number)
        assert done is not None
        assert (done.status, done.author, done.approver) == (
            "approved",
            staff["ada"].id,
            staff["noa"].id,
        )


async def test_country_numbers_wait_and_a_newer_admin_cannot_approve(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore: None
) -> None:
    ada = await signed_in(staff["ada"].email)
    noa = await signed_in(staff["noa"].email)
    assert "Llama al 110 (Guatemala)" in await crisis_reply(stack)
    fields = {
        "kind_0": "emergency",
        "number_0": "112",
        "how_0": "voice",
        "source_0": "https://example.org/gt",
        "verified_0": "2026-12-03",
        "confirmed_0": "on",
    }
    saved = await post(ada, "/directory/country/GT", **fields)
    assert str(saved.url).endswith("/directory/country/GT?done=pending")
    assert 'id="approval-notice"' in saved.text
    number = waiting_for(stack, "country", "GT")
    assert "Llama al 110 (Guatemala)" in await crisis_reply(stack)
    # An admin account made after the change cannot approve it.
    email = f"later-{uuid.uuid4().hex[:8]}@example.org"
    Accounts(stack.db, stack.settings, stack.crypto).create(email, "admin", "Later", PASSWORD)
    later = await signed_in(email)
    listing = await later.get("/approvals")
    section = listing.text.split(f'id="change-{number}"', 1)[1].split("</section>", 1)[0]
    assert 'value="approve"' not in section  # no button it could use
    refused = await decide(later, number, "approve")
    assert refused.status_code == 409
    assert audited(stack, "approval.refused", number) == [{"change": number, "reason": "newer"}]
    assert "Llama al 110 (Guatemala)" in await crisis_reply(stack)
    assert (await decide(noa, number, "approve")).status_code == 200
    assert "Llama al 112 (Guatemala)" in await crisis_reply(stack)
    with stack.db.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == email))
        assert user is not None
        user.active = False


async def test_inviting_a_second_admin_does_not_get_round_the_rule(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore: None
) -> None:
    """The issue's bypass: Ada proposes, invites an admin account, and approves with it."""
    ada = await signed_in(staff["ada"].email)
    noa = await signed_in(staff["noa"].email)
    retire = await post(
        ada, "/directory/status", f"/directory/service/{HOTLINE}", service=HOTLINE, action="retire"
    )
    assert str(retire.url).endswith("?done=pending")
    retirement = waiting_for(stack, "service", HOTLINE)
    email = f"second-{uuid.uuid4().hex[:8]}@example.org"
    invited = await post(
        ada,
        "/accounts",
        action="invite",
        email=email,
        display_name="Second",
        role="admin",
        language="es",
    )
    assert invited.status_code == 200 and LINK.search(invited.text) is None
    assert 'id="approval-notice"' in invited.text
    with stack.db.session() as s:
        assert s.scalar(select(StaffUser).where(StaffUser.email == email)) is None
    invitation = waiting_for(stack, "staff_invite", email)
    assert (await decide(ada, invitation, "approve")).status_code == 409  # not her own
    # Noa approves the invitation: the account is made now, and the link shown to Noa only.
    approved = await decide(noa, invitation, "approve")
    found = LINK.search(approved.text)
    assert approved.status_code == 200 and found is not None
    path = found.group(1).split("/console", 1)[1]
    async with client_for(stack) as second:
        form = await second.get(path)
        await second.post(
            path, data={"csrf": csrf_of(form.text), "password": PASSWORD, "again": PASSWORD}
        )
        assert (await sign_in(second, email)).url.path.endswith("/queue")
        # The new admin cannot approve what was proposed before their account existed.
        refused = await decide(second, retirement, "approve")
        assert refused.status_code == 409
    assert "1555" in await crisis_reply(stack)
    with stack.db.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == email))
        assert user is not None and user.role == "admin"
        user.active = False
    rejected = await decide(noa, retirement, "reject")
    assert rejected.status_code == 200
    with stack.db.session() as s:
        done = s.get(PendingChange, retirement)
        assert done is not None and (done.status, done.approver) == ("rejected", staff["noa"].id)
    assert "1555" in await crisis_reply(stack)


async def test_promoting_and_reinviting_an_admin_wait_for_a_second_admin(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn
) -> None:
    ada = await signed_in(staff["ada"].email)
    noa = await signed_in(staff["noa"].email)
    email = f"promoted-{uuid.uuid4().hex[:8]}@example.org"
    user, _ = Accounts(stack.db, stack.settings, stack.crypto).create(
        email, "staff", "Promoted", PASSWORD
    )
    changed = await post(ada, "/accounts", action="change", user=user.id, role="admin")
    assert "pending=" in str(changed.url) and 'id="approval-notice"' in changed.text
    promotion = waiting_for(stack, "staff_promote", user.id)

    def role() -> str:
        with stack.db.session() as s:
            found = s.get(StaffUser, user.id)
            assert found is not None
            return found.role

    assert role() == "staff"
    assert (await decide(ada, promotion, "approve")).status_code == 409
    assert (await decide(noa, promotion, "approve")).status_code == 200
    assert role() == "admin"
    # A password reset of an admin hands the account to whoever opens the link: two people.
    reset = await post(ada, "/accounts", action="reinvite", user=user.id)
    assert LINK.search(reset.text) is None
    reinvite = waiting_for(stack, "staff_reinvite", user.id)
    async with client_for(stack) as still:
        assert (await sign_in(still, email)).url.path.endswith("/queue")  # password unchanged
    approved = await decide(noa, reinvite, "approve")
    assert approved.status_code == 200 and LINK.search(approved.text) is not None
    async with client_for(stack) as stale:
        assert (await sign_in(stale, email)).url.path.endswith("/signin")

    # Deactivating an admin takes two, and so does bringing one back.
    def active() -> bool:
        with stack.db.session() as s:
            found = s.get(StaffUser, user.id)
            assert found is not None
            return found.active

    away = await post(ada, "/accounts", action="deactivate", user=user.id)
    assert 'id="approval-notice"' in away.text and active()
    deactivation = waiting_for(stack, "staff_deactivate", user.id)
    assert (await decide(ada, deactivation, "approve")).status_code == 409
    assert (await decide(noa, deactivation, "approve")).status_code == 200
    assert not active()
    back = await post(ada, "/accounts", action="activate", user=user.id)
    assert 'id="approval-notice"' in back.text and not active()
    reactivation = waiting_for(stack, "staff_activate", user.id)
    assert (await decide(noa, reactivation, "approve")).status_code == 200
    assert active()
    with stack.db.session() as s:
        found = s.get(StaffUser, user.id)
        assert found is not None
        found.active = False


async def test_demoting_or_deactivating_an_admin_waits_and_a_newer_admin_cannot_approve(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn
) -> None:
    """One admin alone could remove the other admins (the only people who could stop them);
    an admin account made after the proposal cannot be the second person."""
    ada = await signed_in(staff["ada"].email)
    noa = await signed_in(staff["noa"].email)
    accounts = Accounts(stack.db, stack.settings, stack.crypto)
    email = f"demoted-{uuid.uuid4().hex[:8]}@example.org"
    target, _ = accounts.create(email, "admin", "Demoted", PASSWORD)

    def state() -> tuple[str, bool]:
        with stack.db.session() as s:
            found = s.get(StaffUser, target.id)
            assert found is not None
            return found.role, found.active

    async with client_for(stack) as signed:
        assert (await sign_in(signed, email)).url.path.endswith("/queue")
        changed = await post(ada, "/accounts", action="change", user=target.id, role="staff")
        assert "pending=" in str(changed.url) and 'id="approval-notice"' in changed.text
        assert state() == ("admin", True)
        demotion = waiting_for(stack, "staff_demote", target.id)
        # An admin account made after the proposal is not a second person for it.
        late_email = f"late-{uuid.uuid4().hex[:8]}@example.org"
        late, _ = accounts.create(late_email, "admin", "Late", PASSWORD)
        async with client_for(stack) as newer:
            await sign_in(newer, late_email)
            assert (await decide(newer, demotion, "approve")).status_code == 409
        assert (await decide(ada, demotion, "approve")).status_code == 409  # her own
        assert state() == ("admin", True)
        assert (await decide(noa, demotion, "approve")).status_code == 200
        assert state() == ("staff", True)
        # The session signed in as an admin ended with the role.
        assert (await signed.get("/accounts")).url.path.endswith("/signin")
    assert audited(stack, "approval.approve", demotion)[0]["kind"] == "staff_demote"

    # Deactivating an admin waits too (the command line's is in tests/unit/test_two_person.py).
    with stack.db.session() as s:
        found = s.get(StaffUser, target.id)
        assert found is not None
        found.role = "admin"
    await post(ada, "/accounts", action="deactivate", user=target.id)
    assert state() == ("admin", True)
    held = waiting_for(stack, "staff_deactivate", target.id)
    assert (await decide(noa, held, "approve")).status_code == 200
    assert state() == ("admin", False)
    with stack.db.session() as s:
        for user_id in (target.id, late.id):
            found = s.get(StaffUser, user_id)
            assert found is not None
            found.active = False


async def test_an_import_of_a_changed_hotline_phone_waits(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, restore: None
) -> None:
    """The import's hook: each imported service through ``propose_or_apply``."""
    noa = await signed_in(staff["noa"].email)
    with stack.db.session() as s:
        item = next(i for i in exporting.export_json(s)["services"] if i["id"] == HOTLINE)
    item["phones"] = [{"number": "2411 1234", "type": "voice"}]
    record = importing.normalise(item)
    with stack.db.session() as s:
        outcome = changes.propose_or_apply(
            s, ServiceChange("save", HOTLINE, record), staff["ada"].id
        )
        assert not outcome.applied and outcome.pending is not None
        number = outcome.pending.id
    assert "2411 1234" not in await crisis_reply(stack)
    assert (await decide(noa, number, "approve")).status_code == 200
    assert "2411 1234" in await crisis_reply(stack)
