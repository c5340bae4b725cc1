"""The attacks of docs/security.md, each as a test against the running server (``-m security``).

Every test here failed on the code before issue 12 and passes now. They talk HTTP on loopback to
the real stack (SQLite and PostgreSQL); client addresses are told apart with ``X-Forwarded-For``,
which uvicorn honours from loopback exactly as it does behind a reverse proxy on the same host.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import io
import json
import re
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fakes import fixture, running
from fakes.people import TelegramPerson
from fakes.telegram import FakeTelegram
from kit import (
    PASSWORD,
    Account,
    SignIn,
    clean_presence,
    client_for,
    csrf_of,
    import_file,
    sign_in,
    signed_in,
    staff,
    wait_until,
)
from sqlalchemy import select

from bot.console import auth, totp
from bot.console.auth import Accounts
from bot.directory.hsds import importing
from bot.runtime import Runtime
from bot.store.console_models import AuditEvent, StaffSession, StaffUser
from bot.store.models import Conversation, HandoffRequest, utcnow

__all__ = ["clean_presence", "signed_in", "staff"]  # fixtures used by name
pytestmark = pytest.mark.security


def new_account(stack: Runtime, role: str = "staff", languages: list[str] | None = None) -> Account:
    email = f"s-{uuid.uuid4().hex[:10]}@example.org"
    user, _ = Accounts(stack.db, stack.settings, stack.crypto).create(
        email, role, "S", PASSWORD, languages or [], "en"
    )
    return Account(user.id, email, "S", role)


def address() -> str:
    """A client address no other test uses (per-address limits and delays start fresh)."""
    n = uuid.uuid4().int
    return f"10.{n % 250 + 1}.{n // 250 % 250 + 1}.{n // 62500 % 250 + 1}"


def client_at(stack: Runtime, ip: str) -> httpx.AsyncClient:
    client = client_for(stack)
    client.headers["x-forwarded-for"] = ip
    return client


async def raw_exchange(stack: Runtime, head: bytes, body: bytes = b"", wait: float = 15) -> bytes:
    """Send a request head (and part of a body) on a plain socket; the first bytes answered, or
    b"" when the server said nothing before ``wait`` (what a held-open request looks like)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.settings.port)
    try:
        writer.write(head + body)
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.read(200), wait)
        except TimeoutError:
            return b""
    finally:
        writer.close()


def signin_head(length: int) -> bytes:
    return (
        b"POST /console/signin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )


# --- availability: nothing a client sends stalls the event loop ---


async def test_password_checks_never_run_on_the_event_loop(
    stack: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []
    checked = auth.password_ok

    def spy(stored: str | None, password: str) -> bool:
        threads.append(threading.get_ident())
        return checked(stored, password)

    monkeypatch.setattr(auth, "password_ok", spy)
    person = new_account(stack)
    async with client_at(stack, address()) as client:
        await sign_in(client, person.email, "a wrong password, long enough")
        assert (await sign_in(client, person.email)).url.path.endswith("/queue")
    async with client_at(stack, address()) as client:
        await sign_in(client, f"nobody-{uuid.uuid4().hex}@example.org")
    assert len(threads) == 3
    assert loop_thread not in threads  # Argon2 ran in the CPU pool, the loop kept answering


async def test_signin_posts_are_limited_per_address_and_for_everyone(
    stack: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.settings, "console_signin_per_ip_per_minute", 3)
    data = {"email": "x@example.org", "password": "p" * 12, "csrf": "x"}
    hammer = address()
    async with client_at(stack, hammer) as client:
        answers = [(await client.post("/signin", data=data)).status_code for _ in range(3)]
        assert 429 not in answers
        refused = await client.post("/signin", data=data)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        for path in ("/totp", f"/invite/{uuid.uuid4().hex}"):
            assert (await client.post(path, data=data)).status_code == 429
    async with client_at(stack, address()) as elsewhere:  # someone else is not held up
        assert (await elsewhere.post("/signin", data=data)).status_code == 403  # only the CSRF
    monkeypatch.setattr(stack.settings, "console_signin_per_ip_per_minute", 100_000)
    monkeypatch.setattr(stack.settings, "console_signin_per_minute", 2)
    statuses = []
    for _ in range(4):  # from four addresses: the global bucket holds two
        async with client_at(stack, address()) as client:
            statuses.append((await client.post("/signin", data=data)).status_code)
    assert statuses.count(429) >= 2


async def test_a_huge_signin_body_is_refused_before_it_is_read(stack: Runtime) -> None:
    # 300 MB declared, nothing sent: the answer comes at once, nothing is read or written.
    answer = await raw_exchange(stack, signin_head(300_000_000), b"email=")
    assert answer.startswith(b"HTTP/1.1 413"), answer
    # No Content-Length: the body is counted as it arrives and cut off at the limit.
    head = (
        b"POST /console/signin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"5000\r\n" + b"y" * 0x5000 + b"\r\n"  # 20 KB, and more would follow
    answer = await raw_exchange(stack, head, chunk)
    assert answer.startswith(b"HTTP/1.1 413"), answer


async def test_a_slow_body_is_cut_off(stack: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack.settings, "body_timeout_seconds", 0.5)
    answer = await raw_exchange(stack, signin_head(100), b"email=a")
    assert answer.startswith(b"HTTP/1.1 408"), answer


async def test_every_route_has_a_body_limit(stack: Runtime) -> None:
    body = b"{" + b" " * (stack.settings.max_body_bytes + 10) + b"}"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.settings.port}") as client:
        for path in ("/dev/terminal", "/rasa/nlg", "/webhooks/telegram", "/console/queue"):
            response = await client.post(path, content=body)
            assert response.status_code == 413, path


async def test_a_small_zip_of_many_rows_is_refused_off_the_event_loop(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file is read and refused in the import's child process: never in this one, so never
    # on its event loop nor on a thread holding its interpreter lock.
    threads: list[int] = []
    reading = importing.read

    def spy(path: Path, max_rows: int = importing.MAX_ROWS) -> Any:
        threads.append(threading.get_ident())
        return reading(path, max_rows)

    monkeypatch.setattr(importing, "read", spy)
    limit = stack.settings.directory_import_max_rows
    rows = "id,organization_id,name\n" + "".join(f"s{i},o1,Service {i}\n" for i in range(limit + 1))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("service.csv", rows)
    assert len(packed.getvalue()) < 300_000  # small to send, large to parse
    admin = await signed_in(staff["ada"].email)
    answer = await import_file(stack, admin, "bomb.zip", packed.getvalue())
    assert answer.status_code == 422
    assert f"El archivo tiene más de {limit} filas (todas sus tablas juntas)" in answer.text
    assert threads == []  # read elsewhere: the limit came back from the child process


# --- no lock-out as a weapon; growing delays ---


async def test_wrong_passwords_from_one_place_do_not_lock_the_account_elsewhere(
    stack: Runtime,
) -> None:
    person = new_account(stack, "admin")
    attacker = address()
    async with client_at(stack, attacker) as client:
        for _ in range(stack.settings.console_free_attempts + 3):
            wrong = await sign_in(client, person.email, "not the password at all")
            assert wrong.url.path.endswith("/signin")
        held = await sign_in(client, person.email)  # the right password, from there: wait
        assert held.url.path.endswith("/signin") and "Wait" in held.text
    async with client_at(stack, address()) as own:
        assert (await sign_in(own, person.email)).url.path.endswith("/queue")
    with stack.db.session() as s:
        actions = {
            e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.staff_id == person.id))
        }
    assert {"signin.failed", "signin"} <= actions


# --- the second step ---


def with_totp(stack: Runtime, person: Account) -> tuple[str, list[str]]:
    accounts = Accounts(stack.db, stack.settings, stack.crypto)
    secret = accounts.start_totp(person.id)
    # A code of a minute ago: the one a test types next is then still unused.
    codes = accounts.confirm_totp(person.id, totp.code_at(secret, now=time.time() - 30))
    assert codes is not None
    return secret, codes


async def test_wrong_codes_are_counted_apart_from_the_password(stack: Runtime) -> None:
    person = new_account(stack)
    secret, _ = with_totp(stack, person)
    free = stack.settings.console_free_attempts

    def failures() -> int:
        with stack.db.session() as s:
            user = s.get(StaffUser, person.id)
            assert user is not None and user.locked_until is None  # delayed, never locked
            return user.totp_failures

    async with client_at(stack, address()) as client:
        first = await sign_in(client, person.email)
        assert first.url.path.endswith("/totp")
        for _ in range(free):  # all counted: delays start after these
            bad = await client.post("/totp", data={"csrf": csrf_of(first.text), "code": "1"})
            assert "did not work" in bad.text or "Wait" in bad.text
        assert failures() == free
        # The attacker has the password: signing in again must not reset the count (it did).
        again = await sign_in(client, person.email)
        assert again.url.path.endswith("/totp") and failures() == free
        with stack.db.session() as s:  # many more failures, the last one just now
            user = s.get(StaffUser, person.id)
            assert user is not None
            user.totp_failures, user.totp_failed_at = free + 10, utcnow()
        right = await client.post(
            "/totp", data={"csrf": csrf_of(again.text), "code": totp.code_at(secret)}
        )
        assert right.url.path.endswith("/totp") and "Wait" in right.text  # even the right code


async def test_a_session_cookie_alone_cannot_change_the_second_step(
    stack: Runtime, signed_in: SignIn
) -> None:
    person = new_account(stack)
    client = await signed_in(person.email)
    page = await client.get("/settings")
    chosen = totp.new_secret()  # the attacker's own secret, the way the old form took it
    await client.post(
        "/settings",
        data={
            "csrf": csrf_of(page.text),
            "what": "totp_on",
            "secret": chosen,
            "code": totp.code_at(chosen),
        },
    )
    await client.post(
        "/settings",
        data={"csrf": csrf_of(page.text), "what": "totp_new", "password": "a guess of them all"},
    )
    with stack.db.session() as s:
        user = s.get(StaffUser, person.id)
        assert user is not None and user.totp_secret_enc is None and user.totp_pending_enc is None
    # With the password, the server makes the secret; a code from it switches it on.
    setup = await client.post(
        "/settings", data={"csrf": csrf_of(page.text), "what": "totp_new", "password": PASSWORD}
    )
    made = re.search(r'id="totp-secret">([A-Z2-7]+)<', setup.text)
    assert made and made.group(1) != chosen
    done = await client.post(
        "/settings",
        data={"csrf": csrf_of(page.text), "what": "totp_confirm", "code": totp.code_at(made[1])},
    )
    assert len(re.findall(r"<li><code>[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}</code>", done.text)) == 8
    # Off needs the password and a current code, not the cookie.
    off = {"csrf": csrf_of(page.text), "what": "totp_off", "password": PASSWORD, "code": "123456"}
    await client.post("/settings", data=off)
    with stack.db.session() as s:
        user = s.get(StaffUser, person.id)
        assert user is not None and user.totp_secret_enc is not None


async def test_admins_must_set_up_a_second_step_and_recovery_codes_work_once(
    stack: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.settings, "console_totp_roles", ["supervisor", "admin"])
    person = new_account(stack, "admin")
    async with client_at(stack, address()) as client:
        first = await sign_in(client, person.email)
        assert first.url.path.endswith("/totp")
        queue = await client.get("/accounts", follow_redirects=False)
        assert queue.status_code == 303  # half signed in is not signed in
        secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', first.text)
        assert secret
        done = await client.post(
            "/totp", data={"csrf": csrf_of(first.text), "code": totp.code_at(secret[1])}
        )
        codes = re.findall(r"<li><code>([a-z2-7-]{14})</code>", done.text)
        assert len(codes) == 8
        assert (await client.get("/accounts")).status_code == 200
    for attempt in range(2):
        async with client_at(stack, address()) as client:
            first = await sign_in(client, person.email)
            used = await client.post("/totp", data={"csrf": csrf_of(first.text), "code": codes[0]})
            assert used.url.path.endswith("/queue" if attempt == 0 else "/totp")


# --- sessions ---


async def test_reinvite_and_role_change_end_every_session(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn
) -> None:
    admin = await signed_in(staff["ada"].email)
    for action in ("reinvite", "change"):
        person = new_account(stack)
        victim = await signed_in(person.email)
        page = await admin.get("/accounts")
        data = {"csrf": csrf_of(page.text), "action": action, "user": person.id}
        if action == "change":
            data["role"] = "supervisor"
        assert (await admin.post("/accounts", data=data)).status_code == 200
        after = await victim.get("/queue", follow_redirects=False)
        assert after.headers.get("location") == "/console/signin", action
    async with client_at(stack, address()) as client:  # a reset password stops working
        assert (await sign_in(client, person.email)).url.path.endswith("/queue")
        stale = new_account(stack)
        admin_page = await admin.get("/accounts")
        await admin.post(
            "/accounts",
            data={"csrf": csrf_of(admin_page.text), "action": "reinvite", "user": stale.id},
        )
        assert (await sign_in(client, stale.email)).url.path.endswith("/signin")


async def test_an_idle_session_ends(stack: Runtime, signed_in: SignIn) -> None:
    person = new_account(stack)
    client = await signed_in(person.email)
    assert (await client.get("/queue", follow_redirects=False)).status_code == 200
    idle = stack.settings.console_idle_minutes
    with stack.db.session() as s:
        for session in s.scalars(select(StaffSession).where(StaffSession.staff_id == person.id)):
            session.last_seen_at = utcnow() - dt.timedelta(minutes=idle + 1)
    after = await client.get("/queue", follow_redirects=False)
    assert after.headers.get("location") == "/console/signin"


def test_https_cookies_carry_the_host_prefix(stack: Runtime) -> None:
    from starlette.responses import Response

    from bot.console.core import Console

    console = Console(stack)
    console.secure = True  # as when BOT_PUBLIC_URL starts with https://
    response = Response()
    console.set_session_cookie(response, "token")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-sh_console=token;")
    assert "Path=/;" in cookie and "Secure" in cookie and "Domain" not in cookie


# --- the low ones ---


async def test_odd_numbers_in_console_requests_are_not_server_errors(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn
) -> None:
    admin = await signed_in(staff["ada"].email)
    huge = "9" * 40
    for path in (
        "/audit?before=²",
        f"/audit?before={huge}",
        "/directory?page=²",
        f"/directory?page={huge}",
    ):
        assert (await admin.get(path)).status_code < 500, path
    canned = await admin.get("/canned")
    for value in ("²", huge, "x"):
        posted = await admin.post("/canned", data={"csrf": csrf_of(canned.text), "delete": value})
        assert posted.status_code < 500, value
    drafts = await admin.post(f"/messages/drafts/{huge}/approve", data={"csrf": "x"})
    assert drafts.status_code < 500


async def test_staff_cannot_widen_the_queues_an_admin_gave_them(
    stack: Runtime, signed_in: SignIn
) -> None:
    person = new_account(stack, languages=["es"])
    client = await signed_in(person.email)
    page = await client.get("/settings")
    await client.post(
        "/settings",
        data={
            "csrf": csrf_of(page.text),
            "what": "profile",
            "display_name": "S",
            "language": "en",
            "languages": ["es", "en", "fr"],
        },
    )
    with stack.db.session() as s:
        user = s.get(StaffUser, person.id)
        assert user is not None and user.languages == ["es"]


async def test_nested_json_and_lone_surrogates_on_signed_webhooks(stack: Runtime) -> None:
    url = f"http://127.0.0.1:{stack.settings.port}/webhooks/whatsapp"
    secret = stack.settings.whatsapp_app_secret

    def signed(body: bytes) -> dict[str, str]:
        mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"content-type": "application/json", "x-hub-signature-256": "sha256=" + mac}

    nested = b"[" * 50_000 + b"]" * 50_000
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(url, content=nested, headers=signed(nested))).status_code == 400
        data = fixture("whatsapp_inbound_text_pywa.json")
        value = data["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = stack.settings.whatsapp_phone_number_id
        message = value["messages"][0]
        message.update(
            id=f"wamid.S{uuid.uuid4().hex}",
            timestamp=str(int(time.time())),
            text={"body": "hola \ud800"},
        )
        body = json.dumps(data).encode()  # ASCII, with the surrogate as "\ud800"
        assert b"\\ud800" in body
        assert (await client.post(url, content=body, headers=signed(body))).status_code == 200


# --- the survivor's phone ---


async def test_the_code_word_is_deleted_from_the_telegram_chat(stack: Runtime) -> None:
    port = urlsplit(stack.settings.telegram_api_url).port
    assert port is not None
    tg: FakeTelegram = running(FakeTelegram, port, token=stack.settings.telegram_token)
    person = TelegramPerson(stack, tg, "es")
    stack.conversations.prepare("telegram", str(person.chat_id), "es", "MX")
    await person.say("hola")
    last = await person.say("1")  # it is safe to chat
    for data in ("/request_human", "/card_code_word"):
        last = await person.tap(data, last[-1]["message_id"])
    before = list(person.my_message_ids)
    await person.say(f"Girasol{uuid.uuid4().hex[:4]}")
    word_id = person.my_message_ids[-1]
    assert word_id not in before
    await wait_until(lambda: word_id in tg.deleted(person.chat_id))
    assert not set(before) & set(tg.deleted(person.chat_id))  # only the code word


async def test_the_answer_to_staffs_code_word_question_is_deleted_from_the_telegram_chat(
    stack: Runtime,
) -> None:
    port = urlsplit(stack.settings.telegram_api_url).port
    assert port is not None
    tg: FakeTelegram = running(FakeTelegram, port, token=stack.settings.telegram_token)
    person = TelegramPerson(stack, tg, "es")
    stack.conversations.prepare("telegram", str(person.chat_id), "es", "MX")
    await person.say("hola")
    last = await person.say("1")  # it is safe to chat
    for data in ("/request_human", "/card_code_word"):
        last = await person.tap(data, last[-1]["message_id"])
    word = f"Girasol{uuid.uuid4().hex[:4]}"
    await person.say(word)
    word_id = person.my_message_ids[-1]
    await wait_until(lambda: word_id in tg.deleted(person.chat_id))
    last = await person.tap("/handoff_yes", last[-1]["message_id"])
    with stack.db.session() as s:
        req = s.scalar(
            select(HandoffRequest)
            .join(Conversation)
            .where(Conversation.contact_id == person.contact_id, HandoffRequest.status == "queued")
        )
        assert req is not None
        hid = req.id
    await stack.live.accept(hid, "staff-telegram-test", "Lucía")
    await stack.live.ask_code_word(hid, "staff-telegram-test")
    await wait_until(
        lambda: "Lucía" in " ".join(m.get("text", "") for m in tg.sent(person.chat_id))
    )
    before = list(person.my_message_ids)
    await person.say(word.lower())
    answer_id = person.my_message_ids[-1]
    assert answer_id not in before
    await wait_until(lambda: answer_id in tg.deleted(person.chat_id))
    assert set(tg.deleted(person.chat_id)) & set(person.my_message_ids) == {word_id, answer_id}
    with stack.db.session() as s:
        confirmed = s.get(HandoffRequest, hid)
        assert confirmed is not None and confirmed.code_word_confirmed
