"""Operations at the service level: teams, hours, exit words and crisis phrases take effect at once.

Runs against the shared stack (real Rasa, both databases). Every test undoes what it stored and
reloads the operating settings, so the rest of the suite sees the deployment's defaults.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from kit import PASSWORD, Survivor, clean_presence, plain_everyday
from sqlalchemy import delete, select

from bot.console import presence, queries
from bot.console.auth import Accounts, Staff
from bot.handoff.hours import DAYS, HoursError, TeamHours, check_hours
from bot.runtime import Runtime
from bot.safety.changes import check_exit_word, check_phrase, measure, safety_set
from bot.store.console_models import StaffUser
from bot.store.models import Conversation, Mode, utcnow
from bot.store.ops_models import (
    ExitWord,
    Holiday,
    LexiconEntry,
    OperatingSetting,
    Team,
    TeamMember,
)

__all__ = ["clean_presence"]


@pytest.fixture
def restore(stack: Runtime) -> Iterator[None]:
    """Whatever a test stores in the operations tables is gone afterwards, and reloaded."""
    yield
    with stack.db.session() as s:
        for model in (ExitWord, LexiconEntry, OperatingSetting, Holiday):
            s.execute(delete(model))
    stack.reload_operations()


def person(stack: Runtime, languages: list[str]) -> tuple[str, Accounts]:
    accounts = Accounts(stack.db, stack.settings, stack.crypto)
    user, _ = accounts.create(
        f"ops-{uuid.uuid4().hex[:10]}@example.org", "staff", "Ops", PASSWORD, languages, "en"
    )
    return user.id, accounts


def staff_of(stack: Runtime, accounts: Accounts, user_id: str) -> Staff:
    token = accounts.start_session(user_id, True)
    staff = accounts.load(token)
    assert staff is not None
    return staff


def deactivate(stack: Runtime, user_id: str) -> None:
    with stack.db.session() as s:
        user = s.get(StaffUser, user_id)
        assert user is not None
        user.active = False


# --- teams ---


async def test_a_team_s_languages_put_its_members_on_duty_and_in_its_queues(
    stack: Runtime, clean_presence: None
) -> None:
    user_id, accounts = person(stack, ["pt"])
    staff = staff_of(stack, accounts, user_id)
    presence.set_available(stack.db, stack.events, staff, True)
    team_id = None
    try:
        with stack.db.session() as s:
            assert stack.handoffs.on_duty(s, "pt")
            assert not stack.handoffs.on_duty(s, "fr")
            assert user_id not in {u.id for u in queries.colleagues(s, "fr", None)}
        assert not staff.answers("fr")

        with stack.db.session() as s:
            team = Team(name=f"Francophone {uuid.uuid4().hex[:6]}", languages=["fr"])
            s.add(team)
            s.flush()
            team_id = team.id
            s.add(TeamMember(team_id=team.id, staff_id=user_id))
        # At once: on duty for French, a colleague for a French transfer, French in their queue.
        with stack.db.session() as s:
            assert stack.handoffs.on_duty(s, "fr")
            assert user_id in {u.id for u in queries.colleagues(s, "fr", None)}
            assert "fr" in next(x.languages for x in queries.loads(s) if x.id == user_id)
        reloaded = staff_of(stack, accounts, user_id)
        assert reloaded.answers("fr") and reloaded.answers("pt") and not reloaded.answers("es")
        assert reloaded.own_languages == ["pt"]

        with stack.db.session() as s:
            s.execute(delete(Team).where(Team.id == team_id))
        with stack.db.session() as s:
            assert not stack.handoffs.on_duty(s, "fr")
            assert stack.handoffs.on_duty(s, "pt")
        assert not staff_of(stack, accounts, user_id).answers("fr")
    finally:
        with stack.db.session() as s:
            s.execute(delete(Team).where(Team.id == team_id))
        deactivate(stack, user_id)


async def test_a_person_with_no_language_and_no_team_answers_every_queue(
    stack: Runtime, clean_presence: None
) -> None:
    user_id, accounts = person(stack, [])
    staff = staff_of(stack, accounts, user_id)
    presence.set_available(stack.db, stack.events, staff, True)
    team_id = None
    try:
        assert all(staff.answers(code) for code in ("en", "es", "pt", "fr"))
        with stack.db.session() as s:
            assert stack.handoffs.on_duty(s, "fr")
            team = Team(name=f"Spanish {uuid.uuid4().hex[:6]}", languages=["es"])
            s.add(team)
            s.flush()
            team_id = team.id
            s.add(TeamMember(team_id=team.id, staff_id=user_id))
        # In a team: that team's languages (and their own, none here).
        with stack.db.session() as s:
            assert stack.handoffs.on_duty(s, "es")
            assert not stack.handoffs.on_duty(s, "fr")
        member = staff_of(stack, accounts, user_id)
        assert member.languages == ["es"] and not member.answers("fr")
    finally:
        with stack.db.session() as s:
            s.execute(delete(Team).where(Team.id == team_id))
        deactivate(stack, user_id)


# --- hours ---


def other_day_spec(now: dt.datetime, tz: str) -> str:
    """Hours on a weekday two days away: certainly not open now."""
    local = now.replace(tzinfo=dt.UTC).astimezone(TeamHours("", tz).tz)
    return f"{DAYS[(local.weekday() + 2) % 7]} 10:00-11:00"


async def test_hours_set_in_the_database_apply_at_once_to_duty_and_to_what_survivors_read(
    stack: Runtime, clean_presence: None, restore: None
) -> None:
    user_id, accounts = person(stack, ["en"])
    presence.set_available(stack.db, stack.events, staff_of(stack, accounts, user_id), True)
    try:
        with stack.db.session() as s:
            assert stack.handoffs.on_duty(s, "en")
        spec = other_day_spec(utcnow(), "America/Bogota")
        with stack.db.session() as s:
            s.add(OperatingSetting(key="hours", value=spec))
            s.add(OperatingSetting(key="timezone", value="America/Bogota"))
        stack.reload_operations()

        with stack.db.session() as s:
            assert not stack.handoffs.on_duty(s, "en")
        described = stack.hours.describe("en")
        assert "Colombia Time" in described and "10:00" in described
        assert "America/Bogota" not in described  # the zone as people say it, not its key
        survivor = Survivor(stack, "en", "US")
        result = await survivor.ask_for_person("hello")
        told = " ".join(r.text for r in result.replies)
        assert "Colombia Time" in told, told

        with stack.db.session() as s:
            s.execute(delete(OperatingSetting))
        stack.reload_operations()
        with stack.db.session() as s:
            assert stack.handoffs.on_duty(s, "en")
        assert stack.hours.tz.key == stack.settings.team_timezone
    finally:
        deactivate(stack, user_id)


async def test_a_holiday_today_takes_the_team_off_duty(
    stack: Runtime, clean_presence: None, restore: None
) -> None:
    user_id, accounts = person(stack, ["en"])
    presence.set_available(stack.db, stack.events, staff_of(stack, accounts, user_id), True)
    try:
        today = utcnow().replace(tzinfo=dt.UTC).astimezone(stack.hours.tz).date()
        with stack.db.session() as s:
            s.add(OperatingSetting(key="holidays", value="table"))
            s.add(Holiday(day=today, label="test"))
        stack.reload_operations()
        assert today in stack.hours.holidays
        with stack.db.session() as s:
            assert not stack.handoffs.on_duty(s, "en")
        assert stack.hours.next_change(utcnow()) is not None
    finally:
        deactivate(stack, user_id)


def test_hours_text_is_validated_with_a_reason() -> None:
    assert len(check_hours("mon-fri 09:00-17:00; sat 10:00-14:00")) == 6
    for spec, reason in [
        ("", "empty"),
        ("monday to friday", "format"),
        ("mon-fry 09:00-17:00", "day"),
        ("mon 9h-17h", "time"),
        ("mon 17:00-09:00", "order"),
    ]:
        with pytest.raises(HoursError) as caught:
            check_hours(spec)
        assert caught.value.reason == reason, spec


def test_next_change_is_the_end_of_hours_when_open_and_the_start_when_closed() -> None:
    hours = TeamHours("mon-fri 09:00-17:00", "America/Mexico_City", "2026-12-25")
    monday_noon = dt.datetime(2026, 12, 21, 18, 0, tzinfo=dt.UTC)  # 12:00 in Mexico City
    change = hours.next_change(monday_noon)
    assert change is not None and (change.hour, change.day) == (17, 21)
    thursday_night = dt.datetime(2026, 12, 25, 2, 0, tzinfo=dt.UTC)  # Thu 24th, 20:00 local
    change = hours.next_change(thursday_night)
    # Friday 25th is a holiday: the next start is Monday 28th, 09:00.
    assert change is not None and (change.day, change.hour) == (28, 9)


# --- exit words ---


async def test_an_added_exit_word_exits_from_three_states_at_once(
    stack: Runtime, restore: None
) -> None:
    word = "mango" + "".join(chr(97 + int(c, 16)) for c in uuid.uuid4().hex[:4])
    with stack.db.session() as s:
        s.add(ExitWord(language="es", word=word, folded=word))
    stack.reload_operations()

    first = Survivor(stack, "es", "MX")  # a first message
    result = await first.say(word.upper())
    assert result.mode == Mode.CLOSED and result.intent == "command:exit"

    chatting = Survivor(stack, "es", "MX")  # in the middle of a conversation with the assistant
    await chatting.say("hola")
    await chatting.say("necesito un abogado")
    result = await chatting.say(f"¡{word}!")
    assert result.mode == Mode.CLOSED and result.intent == "command:exit"

    waiting = Survivor(stack, "es", "MX")  # waiting in the queue for a person
    await waiting.ask_for_person()
    queued = await waiting.tap("/handoff_yes")
    assert queued.mode == Mode.QUEUED
    result = await waiting.say(word)
    assert result.mode == Mode.CLOSED and result.intent == "command:exit"
    # B1: the session's state is gone at once: the conversation, and the request with it.
    assert waiting.request() is None
    with stack.db.session() as s:
        for who in (first, chatting, waiting):
            left = s.scalars(
                select(Conversation).where(Conversation.contact_id == who.contact_id)
            ).all()
            assert left == []

    with stack.db.session() as s:
        s.execute(delete(ExitWord))
    stack.reload_operations()
    after = Survivor(stack, "es", "MX")
    await after.say("hola")
    result = await after.say(word)
    assert result.intent != "command:exit" and result.mode != Mode.CLOSED


def test_exit_words_that_ordinary_messages_could_be_are_refused(stack: Runtime) -> None:
    screen = stack.screen
    langs = stack.settings.languages

    def reason(word: str) -> str | None:
        refusal = check_exit_word(word, langs, screen.commands, screen.lexicons)
        return refusal.reason if refusal else None

    assert reason("ok") == "short"
    assert reason("123") == "number"
    assert reason("menu") == "command"
    assert reason("Español") == "command"  # a language's name switches language
    assert reason("SALIR") == "exists"
    assert reason("hola") == "greeting"
    assert reason("socorro") == "crisis"
    assert reason("gracias") == "training"  # people send it as a whole message
    calm = next(
        t for t in safety_set("en").everyday if len(t) <= 40 and not any(c.isdigit() for c in t)
    )
    assert calm == "this heat is killing me lol"
    assert reason(calm) == "everyday"
    assert reason("pineapple") is None


# --- crisis phrases ---


async def test_an_added_crisis_phrase_triggers_the_crisis_reply_at_once_and_stops_when_removed(
    stack: Runtime, restore: None
) -> None:
    phrase = "zorblax quarrel"
    with stack.db.session() as s:
        s.add(LexiconEntry(language="en", kind="crisis", phrase=phrase))
    stack.reload_operations()
    survivor = Survivor(stack, "en", "US")
    await survivor.say("hello")
    result = await survivor.say("there is a zorblax quarrel outside my door")
    assert result.crisis and result.replies[0].key.startswith("utter_crisis")
    assert "911" in result.replies[0].text

    with stack.db.session() as s:
        s.execute(delete(LexiconEntry))
    stack.reload_operations()
    result = await survivor.say("there is a zorblax quarrel outside my door")
    assert not result.crisis


def test_impact_counts_false_alarms_and_lost_catches_on_the_safety_set(stack: Runtime) -> None:
    lexicons = stack.screen.lexicons
    data = safety_set("en")
    calm = plain_everyday(lexicons, "en")
    # The whole of an everyday message as a crisis phrase: at least that false alarm.
    impact = measure(lexicons, "en", "crisis", "=" + calm)
    assert impact.new_false_alarms == 1 and impact.risky
    assert impact.everyday_total == len(data.everyday)
    # A crisis message as a "not a crisis" phrase vetoes itself: one crisis no longer caught.
    caught = next(t for t in data.crisis if lexicons.scan(t))
    impact = measure(lexicons, "en", "not_crisis", caught)
    assert impact.no_longer_caught == 1 and impact.risky
    # A phrase nobody writes changes nothing.
    impact = measure(lexicons, "en", "crisis", "zorblax quarrel")
    assert (impact.newly_caught, impact.new_false_alarms, impact.no_longer_caught) == (0, 0, 0)
    assert not impact.risky


def test_a_phrase_already_shipped_or_empty_is_refused_with_a_reason(stack: Runtime) -> None:
    lexicons = stack.screen.lexicons
    shipped = lexicons.by_language["en"].shipped("crisis").phrases[0].source
    refusal = check_phrase(lexicons, "en", "crisis", shipped)
    assert refusal is not None and refusal.reason == "exists"
    refusal = check_phrase(lexicons, "en", "crisis", " ... ")
    assert refusal is not None and refusal.reason == "empty"
    assert check_phrase(lexicons, "en", "crisis", "zorblax quarrel") is None
