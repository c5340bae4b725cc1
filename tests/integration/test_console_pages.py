"""The console's own pages for a wrong address or method, and one id per conversation.

An unknown address used to answer Starlette's unstyled "Not Found"; the audit log named a
conversation by an id the case page never showed, and linked only to itself. Both backends.
"""

from __future__ import annotations

import uuid

import httpx
from kit import PASSWORD, Account, SignIn, Survivor, clean_presence, console_url, signed_in
from sqlalchemy import select

from bot.console.auth import Accounts
from bot.runtime import Runtime
from bot.store.console_models import AuditEvent
from bot.store.models import Mode

__all__ = ["clean_presence", "signed_in"]


def account(stack: Runtime, role: str, language: str) -> Account:
    email = f"pages-{uuid.uuid4().hex[:10]}@example.org"
    user, _ = Accounts(stack.db, stack.settings, stack.crypto).create(
        email, role, "Pat", PASSWORD, ["es"], language
    )
    return Account(user.id, email, "Pat", role)


async def test_an_unknown_address_gets_a_styled_page_in_the_staff_language(
    stack: Runtime, signed_in: SignIn
) -> None:
    client = await signed_in(account(stack, "staff", "es").email)
    missing = await client.get("/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Página no encontrada" in missing.text and "console.css" in missing.text
    assert 'id="console-nav"' in missing.text  # the menu is there to go on from
    assert "content-security-policy" in missing.headers  # the console's headers, as everywhere

    wrong = await client.delete("/queue")
    assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
    assert "Esta página no se puede usar así" in wrong.text

    refused = await client.get("/accounts")  # an admin page, for a staff member
    assert refused.status_code == 403 and "console.css" in refused.text


async def test_signed_out_a_missing_page_speaks_the_browser_language(stack: Runtime) -> None:
    async with httpx.AsyncClient(base_url=console_url(stack)) as client:
        page = await client.get("/nowhere", headers={"accept-language": "fr-CA,fr;q=0.9"})
    assert page.status_code == 404 and "Page introuvable" in page.text
    assert 'id="console-nav"' not in page.text  # nothing of the console before signing in


async def test_the_audit_log_and_the_case_page_name_a_conversation_alike(
    stack: Runtime, signed_in: SignIn
) -> None:
    supervisor = account(stack, "supervisor", "en")
    client = await signed_in(supervisor.email)
    survivor = Survivor(stack, "es", "MX")
    await survivor.ask_for_person("hola")
    result = await survivor.tap("/handoff_yes")
    assert result.mode == Mode.QUEUED
    req = survivor.request()
    assert req is not None
    short = req.conversation_id[:8]

    case = await client.get(f"/c/{req.id}")
    assert case.status_code == 200
    assert f'<code class="conversation-id" id="conversation-id">{short}</code>' in case.text
    assert f'href="/console/audit?conversation={short}"' in case.text
    with stack.db.session() as s:
        viewed = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "case.view", AuditEvent.staff_id == supervisor.id
            )
        ).one()
        assert viewed.conversation_id == req.conversation_id

    log = await client.get("/audit", params={"conversation": short})
    assert log.status_code == 200
    # The same short id, linked to the case page the supervisor came from.
    assert f'href="/console/c/{req.id}" class="conversation-id"' in log.text
    assert f"<code>{short}</code>" in log.text
