"""The Operations pages, the accounts changes and the audit filters, over HTTP as a browser would.

Against the shared stack (real Rasa, both databases); every test restores what it changed.
"""

from __future__ import annotations

import datetime as dt
import html
import uuid
from collections.abc import Iterator

import httpx
import pytest
from kit import (
    PASSWORD,
    Account,
    SignIn,
    Survivor,
    clean_presence,
    csrf_of,
    plain_everyday,
    signed_in,
    staff,
)
from sqlalchemy import delete, select

from bot.console import audit
from bot.console.auth import Accounts
from bot.handoff.hours import DAYS
from bot.runtime import Runtime
from bot.store.console_models import AuditEvent, StaffUser
from bot.store.models import Mode, utcnow
from bot.store.ops_models import (
    ExitWord,
    Holiday,
    LexiconEntry,
    OperatingSetting,
    Team,
    TeamMember,
)

__all__ = ["clean_presence", "signed_in", "staff"]  # fixtures used by name

PAGES = [
    "/operations",
    "/operations/teams",
    "/operations/hours",
    "/operations/exit-words",
    "/operations/lexicon",
]


@pytest.fixture
def restore(stack: Runtime) -> Iterator[None]:
    """The operations tables as they were (empty), and the live settings reloaded."""
    yield
    with stack.db.session() as s:
        for model in (ExitWord, LexiconEntry, OperatingSetting, Holiday):
            s.execute(delete(model))
    stack.reload_operations()


def new_account(stack: Runtime, languages: list[str] | None = None, role: str = "staff") -> Account:
    """A person whose console is in English (the shared accounts read Spanish)."""
    email = f"o-{uuid.uuid4().hex[:10]}@example.org"
    name = f"O{uuid.uuid4().hex[:5]}"
    user, _ = Accounts(stack.db, stack.settings, stack.crypto).create(
        email, role, name, PASSWORD, languages or [], "en"
    )
    return Account(user.id, email, name, role)


@pytest.fixture
def admin(stack: Runtime) -> Iterator[Account]:
    account = new_account(stack, role="admin")
    yield account
    drop_account(stack, account)


def drop_account(stack: Runtime, account: Account) -> None:
    with stack.db.session() as s:
        user = s.get(StaffUser, account.id)
        if user is not None:
            user.active = False


async def submit(client: httpx.AsyncClient, path: str, **data: str | list[str]) -> httpx.Response:
    """POST a form of the page at ``path`` with its CSRF token, following the redirect."""
    page = await client.get(path.split("?")[0])
    return await client.post(path, data={"csrf": csrf_of(page.text), **data})


def events(stack: Runtime, action: str, since: int = 0) -> list[AuditEvent]:
    with stack.db.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.id > since)
                .order_by(AuditEvent.id)
            )
        )


def last_event_id(stack: Runtime) -> int:
    with stack.db.session() as s:
        return int(s.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0)


def text_of(response: httpx.Response) -> str:
    return html.unescape(response.text)


# --- who may ---


async def test_operations_are_for_admins_and_forms_need_their_token(
    stack: Runtime, staff: dict[str, Account], admin: Account, signed_in: SignIn, restore: None
) -> None:
    supervisor = new_account(stack, role="supervisor")
    sol = await signed_in(supervisor.email)
    for path in PAGES:
        response = await sol.get(path)
        assert response.status_code == 403, path
        assert "Your role does not give access" in text_of(response)
    lucia = await signed_in(staff["lucia"].email)  # staff: the audit log and accounts neither
    assert (await lucia.get("/audit")).status_code == 403
    assert (await lucia.get("/accounts")).status_code == 403

    ada = await signed_in(admin.email)
    titles = ["Operations", "Teams", "Hours and holidays", "Exit words", "Crisis phrases"]
    for path, title in zip(PAGES, titles, strict=True):
        response = await ada.get(path)
        assert response.status_code == 200 and f"<h1>{title}</h1>" in response.text, path
    # The shared admin reads the console in Spanish: every page is translated.
    ada_es = await signed_in(staff["ada"].email)
    spanish = [
        "Operación",
        "Equipos",
        "Horario y feriados",
        "Palabras de salida",
        "Frases de crisis",
    ]
    for path, title in zip(PAGES, spanish, strict=True):
        response = await ada_es.get(path)
        assert response.status_code == 200 and f"<h1>{title}</h1>" in response.text, path
    # No token: refused, nothing stored.
    response = await ada.post(
        "/operations/exit-words", data={"action": "add", "language": "es", "word": "papaya"}
    )
    assert response.status_code == 403
    with stack.db.session() as s:
        assert s.scalars(select(ExitWord)).all() == []


# --- teams and accounts ---


async def test_admin_creates_renames_and_deletes_a_team(
    stack: Runtime, staff: dict[str, Account], admin: Account, signed_in: SignIn
) -> None:
    member = new_account(stack, ["en"])
    ada = await signed_in(admin.email)
    name = f"Norte {uuid.uuid4().hex[:6]}"
    start = last_event_id(stack)
    try:
        response = await submit(
            ada,
            "/operations/teams",
            action="create",
            name=name,
            languages=["es", "fr"],
            members=[member.id],
        )
        assert response.status_code == 200 and "Saved." in response.text
        assert '<h2 id="team-' in response.text and name in response.text
        with stack.db.session() as s:
            team = s.scalar(select(Team).where(Team.name == name))
            assert team is not None and team.languages == ["es", "fr"]
            team_id = team.id
            assert s.get(TeamMember, (team_id, member.id)) is not None
        created = events(stack, "team.create", start)
        assert created[-1].detail == {
            "team": team_id,
            "languages": "es.fr",
            "members": 1,
            "renamed": False,
        }
        assert name not in str(created[-1].detail)

        # The same name again is refused, with the reason.
        response = await submit(ada, "/operations/teams", action="create", name=name.upper())
        assert response.status_code == 422
        assert "Another team already has this name." in response.text

        renamed = name + " bis"
        response = await submit(
            ada,
            "/operations/teams",
            action="update",
            team=str(team_id),
            name=renamed,
            languages=["pt"],
        )
        assert "Saved." in response.text and renamed in text_of(response)
        with stack.db.session() as s:
            team = s.get(Team, team_id)
            assert team is not None and team.name == renamed and team.languages == ["pt"]
            assert s.get(TeamMember, (team_id, member.id)) is None  # members unticked
        assert events(stack, "team.update", start)[-1].detail["renamed"] is True

        response = await submit(ada, "/operations/teams", action="delete", team=str(team_id))
        assert renamed not in text_of(response)
        with stack.db.session() as s:
            assert s.get(Team, team_id) is None
        assert events(stack, "team.delete", start)[-1].detail == {"team": team_id}
    finally:
        with stack.db.session() as s:
            s.execute(delete(Team).where(Team.name.startswith(name)))
        drop_account(stack, member)


async def test_admin_changes_role_languages_and_teams_but_not_their_own_role(
    stack: Runtime, staff: dict[str, Account], admin: Account, signed_in: SignIn
) -> None:
    person = new_account(stack, ["en"])
    with stack.db.session() as s:
        team = Team(name=f"Sur {uuid.uuid4().hex[:6]}", languages=["fr"])
        s.add(team)
        s.flush()
        team_id = team.id
    ada = await signed_in(admin.email)
    start = last_event_id(stack)
    try:
        response = await submit(
            ada,
            "/accounts",
            action="change",
            user=person.id,
            role="supervisor",
            languages=["pt", "es"],
            teams=[str(team_id)],
        )
        assert response.status_code == 200 and "Saved. It applies at once." in response.text
        with stack.db.session() as s:
            user = s.get(StaffUser, person.id)
            assert user is not None and user.role == "supervisor"
            assert user.languages == ["es", "pt"]
            assert s.get(TeamMember, (team_id, person.id)) is not None
        row = next(r for r in response.text.split("<tr ") if person.id in r)
        assert "ES, PT" in row and team.name in row
        assert events(stack, "staff.role", start)[-1].detail == {
            "user": person.id,
            "role": "supervisor",
            "was": "staff",
        }
        assert events(stack, "staff.languages", start)[-1].detail["languages"] == "es.pt"
        assert events(stack, "staff.teams", start)[-1].detail["teams"] == 1

        # The person's own console follows at once: French comes from the team.
        client = await signed_in(person.email)
        assert (await client.get("/supervisor")).status_code == 200

        response = await submit(
            ada, "/accounts", action="change", user=admin.id, role="staff", languages=[]
        )
        assert "You cannot change your own role" in response.text
        with stack.db.session() as s:
            me = s.get(StaffUser, admin.id)
            assert me is not None and me.role == "admin" and me.languages == []
    finally:
        with stack.db.session() as s:
            s.execute(delete(Team).where(Team.id == team_id))
        drop_account(stack, person)


# --- hours and holidays ---


async def test_hours_page_validates_saves_checks_and_resets(
    stack: Runtime, staff: dict[str, Account], admin: Account, signed_in: SignIn, restore: None
) -> None:
    ada = await signed_in(admin.email)
    start = last_event_id(stack)
    page = await ada.get("/operations/hours")
    assert "mon-sun 00:00-23:59" in page.text and "On duty now: yes." in page.text
    assert '<option value="America/Argentina/Buenos_Aires"' in page.text
    assert page.text.index("America/") < page.text.index("Europe/")

    response = await submit(
        ada, "/operations/hours", action="hours", hours="mon-fri 17:00-09:00", timezone="UTC"
    )
    assert response.status_code == 422
    assert "the end is not after the start" in text_of(response)
    response = await submit(
        ada, "/operations/hours", action="hours", hours="lundi 09:00-17:00", timezone="UTC"
    )
    assert response.status_code == 422 and "is not one of mon, tue" in text_of(response)
    assert 'value="lundi 09:00-17:00"' in response.text  # what they typed stays in the box

    local = utcnow().replace(tzinfo=dt.UTC).astimezone(stack.hours.tz)
    other = f"{DAYS[(local.weekday() + 3) % 7]} 08:00-12:00"
    response = await submit(
        ada, "/operations/hours", action="hours", hours=other, timezone="America/Lima"
    )
    assert response.status_code == 200 and "Saved." in response.text
    body = text_of(response)
    assert "On duty now: no." in body and "Next change:" in body
    # What survivors are told: the time zone as people say it, never its code.
    assert "(hora de Perú)" in stack.hours.describe("es")
    assert "America/Lima" not in stack.hours.describe("es")
    assert events(stack, "hours.set", start)[-1].detail == {"windows": 1}

    day = (local.date() + dt.timedelta(days=30)).isoformat()
    response = await submit(
        ada, "/operations/hours", action="holiday_add", day=day, label="Fiesta patria"
    )
    assert f'data-day="{day}"' in response.text and "Fiesta patria" in response.text
    assert dt.date.fromisoformat(day) in stack.hours.holidays
    assert events(stack, "holiday.add", start)[-1].detail == {"day": day}
    response = await submit(ada, "/operations/hours", action="holiday_add", day="25/12/2026")
    assert response.status_code == 422 and "year-month-day" in response.text
    response = await submit(ada, "/operations/hours", action="holiday_remove", day=day)
    assert f'data-day="{day}"' not in response.text
    assert dt.date.fromisoformat(day) not in stack.hours.holidays

    response = await submit(ada, "/operations/hours", action="reset")
    assert "On duty now: yes." in response.text
    assert stack.hours.tz.key == stack.settings.team_timezone
    assert events(stack, "hours.reset", start)


# --- exit words ---


async def test_exit_words_refused_with_a_reason_added_live_and_removed(
    stack: Runtime, staff: dict[str, Account], admin: Account, signed_in: SignIn, restore: None
) -> None:
    ada = await signed_in(admin.email)
    start = last_event_id(stack)
    page = await ada.get("/operations/exit-words")
    assert "<code>SALIR</code>" in page.text and "cannot be removed" in page.text

    response = await submit(ada, "/operations/exit-words", action="add", language="es", word="hola")
    assert response.status_code == 422
    assert "it is a greeting" in text_of(response) and 'value="hola"' in response.text
    response = await submit(ada, "/operations/exit-words", action="add", language="es", word="7")
    assert "it contains a number" in text_of(response)
    response = await submit(
        ada, "/operations/exit-words", action="add", language="en", word="help me"
    )
    assert "it is a crisis message" in text_of(response)
    assert [e.detail["reason"] for e in events(stack, "exit_word.refused", start)] == [
        "greeting",
        "number",
        "crisis",
    ]

    word = "guayaba" + "".join(chr(97 + int(c, 16)) for c in uuid.uuid4().hex[:3])
    response = await submit(ada, "/operations/exit-words", action="add", language="es", word=word)
    assert response.status_code == 200 and "Added. It works from the next message." in response.text
    assert f"<code>{word}</code>" in response.text
    added = events(stack, "exit_word.add", start)[-1]
    assert added.detail["language"] == "es" and word not in str(added.detail)

    survivor = Survivor(stack, "es", "MX")
    await survivor.say("hola")
    result = await survivor.say(word.upper())
    assert result.mode == Mode.CLOSED and result.intent == "command:exit"

    with stack.db.session() as s:
        word_id = s.scalar(select(ExitWord.id).where(ExitWord.folded == word))
    response = await submit(ada, "/operations/exit-words", action="remove", word=str(word_id or ""))
    assert "Removed." in response.text and f"<code>{word}</code>" not in response.text
    again = Survivor(stack, "es", "MX")
    await again.say("hola")
    assert (await again.say(word)).intent != "command:exit"


# --- crisis phrases ---


async def test_crisis_phrase_impact_confirmation_live_effect_and_removal(
    stack: Runtime, staff: dict[str, Account], admin: Account, signed_in: SignIn, restore: None
) -> None:
    ada = await signed_in(admin.email)
    start = last_event_id(stack)
    page = await ada.get("/operations/lexicon?language=en&kind=crisis")
    assert "Shipped with the assistant" in page.text and "cannot be removed here" in page.text
    assert "<code>locked me in</code>" in page.text

    # A phrase that flags an everyday message: the impact is shown, and it needs a confirmation.
    calm = plain_everyday(stack.screen.lexicons, "en")
    path = "/operations/lexicon?language=en&kind=crisis"
    form = {"language": "en", "kind": "crisis", "phrase": "=" + calm}
    response = await submit(ada, path, action="check", **form)
    body = text_of(response)
    assert "Everyday messages newly flagged as a crisis (false alarms): 1 of" in body
    response = await submit(ada, path, action="add", **form)
    assert "Not added yet" in text_of(response) and "Add it anyway" in response.text
    with stack.db.session() as s:
        assert s.scalars(select(LexiconEntry)).all() == []
    response = await submit(ada, path, action="add", confirm="1", **form)
    assert "new false alarms 1," in text_of(response)
    with stack.db.session() as s:
        risky = s.scalar(select(LexiconEntry.id))
    assert risky is not None
    await submit(ada, path, action="remove", entry=str(risky), language="en", kind="crisis")

    # A harmless phrase goes live at once: a survivor gets the crisis reply.
    response = await submit(ada, path, action="add", **{**form, "phrase": "zorblax quarrel"})
    assert "Added; it works from the next message." in response.text
    assert "<code>zorblax quarrel</code>" in response.text
    survivor = Survivor(stack, "en", "US")
    await survivor.say("hello")
    result = await survivor.say("a zorblax quarrel is happening next door")
    assert result.crisis and result.replies[0].key.startswith("utter_crisis")
    added = events(stack, "lexicon.add", start)[-1]
    assert added.detail["kind"] == "crisis" and "zorblax" not in str(added.detail)

    # A shipped phrase cannot be added twice.
    response = await submit(ada, path, action="add", **{**form, "phrase": "locked me in"})
    assert response.status_code == 422 and "already" in text_of(response)

    with stack.db.session() as s:
        entry_id = s.scalar(select(LexiconEntry.id).where(LexiconEntry.phrase == "zorblax quarrel"))
    response = await submit(
        ada, path, action="remove", entry=str(entry_id), language="en", kind="crisis"
    )
    assert "Removed; it no longer counts" in response.text
    assert not (await survivor.say("a zorblax quarrel is happening next door")).crisis
    assert events(stack, "lexicon.remove", start)[-1].detail["entry"] == entry_id


# --- the audit log ---


async def test_audit_log_filters_by_who_what_when_and_conversation_with_pages(
    stack: Runtime, staff: dict[str, Account], admin: Account, signed_in: SignIn
) -> None:
    ada = await signed_in(admin.email)
    conversation = uuid.uuid4().hex
    marker = f"opstest{uuid.uuid4().hex[:6]}"
    with stack.db.session() as s:
        for n in range(105):
            audit.record(s, staff["noa"].id, f"{marker}.step", None, n=n)
        audit.record(s, admin.id, f"{marker}.open", conversation, language="es")
    try:
        page = await ada.get("/audit")
        assert f'<option value="{marker}"' in page.text  # built from the known actions
        assert f'<option value="{marker}.open"' in page.text

        response = await ada.get(f"/audit?what={marker}&who={staff['noa'].id}")
        assert response.text.count(f'data-action="{marker}.step"') == 100
        assert f"{marker}.open" not in response.text.split("<tbody>")[1]
        assert 'id="audit-older"' in response.text
        older = response.text.split('id="audit-older"')[0].rsplit('href="', 1)[1].split('"')[0]
        assert f"what={marker}" in html.unescape(older)
        response = await ada.get(html.unescape(older).removeprefix("/console"))
        assert response.text.count(f'data-action="{marker}.step"') == 5

        response = await ada.get(f"/audit?conversation={conversation[:8]}")
        rows = response.text.split("<tbody>")[1]
        assert rows.count("<tr ") == 1 and f'data-action="{marker}.open"' in rows

        yesterday = (dt.date.today() - dt.timedelta(days=2)).isoformat()
        response = await ada.get(f"/audit?what={marker}&to={yesterday}")
        assert "No events match." in response.text
        today = dt.date.today()
        week = f"from={(today - dt.timedelta(days=1)).isoformat()}"
        week += f"&to={(today + dt.timedelta(days=1)).isoformat()}"
        response = await ada.get(f"/audit?what={marker}.open&{week}")
        assert response.text.count(f'data-action="{marker}.open"') == 1
        assert events(stack, "audit.view")[-1].detail == {"filtered": True}
    finally:
        with stack.db.session() as s:
            s.execute(delete(AuditEvent).where(AuditEvent.action.startswith(marker)))
