"""The two-person rule below the console (issue #12 item 3): what a crisis reply shows, and who is
an admin, changes only when a second admin approves; the author cannot approve, and neither can an
account made after the change. The HSDS import's hook (``changes.propose_or_apply``) is tested
here directly with records made by the import's own ``normalise``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.directory import changes
from bot.directory.changes import CountryChange, ServiceChange
from bot.directory.hsds import exporting, importing
from bot.directory.numbers import NumberProblem
from bot.directory.seed import load_directory, merge_reference
from bot.directory.service import Directory, EmergencyNumber
from bot.settings import Settings
from bot.store import approvals
from bot.store.approvals import ApprovalRefused
from bot.store.console_models import AuditEvent, StaffUser
from bot.store.content_models import PendingChange
from bot.store.db import Database
from bot.store.models import Country, Service, utcnow

pytestmark = pytest.mark.security
TODAY = dt.date.today()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'two.sqlite3'}")
    database.migrate()
    with database.session() as s:
        load_directory(s, Settings().sample_directory)
        merge_reference(s, Settings().countries_file)
        for name in ("ana", "bruno"):  # admins who were there before any change
            s.add(
                StaffUser(
                    id=name,
                    email=f"{name}@example.org",
                    display_name=name,
                    role="admin",
                    created_at=utcnow() - dt.timedelta(days=1),
                )
            )
        s.add(  # an entry no crisis reply shows
            Service(
                id="gt-abogados",
                organization_id="gt-pdh",
                name="Abogados",
                country="GT",
                categories=["legal"],
                phones=[{"number": "2222 0000", "kind": "voice"}],
                source="https://example.org/gt",
                last_verified=TODAY,
                verified_by="ana",
                status="active",
            )
        )
        s.add(
            StaffUser(
                id="sol",
                email="sol@example.org",
                display_name="sol",
                role="supervisor",
                created_at=utcnow() - dt.timedelta(days=1),
            )
        )
    yield database
    database.dispose()


def hotline_phone(db: Database, country: str = "GT") -> str:
    with db.session() as s:
        found = Directory(s).hotlines(country)
        return str(found[0].phones[0]["number"]) if found else ""


def edited_record(db: Database, sid: str, **changed: Any) -> dict[str, Any]:
    """The record an edit form of ``sid`` would send (its fields, with ``changed``)."""
    with db.session() as s:
        svc = s.get(Service, sid)
        assert svc is not None
        record = {k: getattr(svc, k) for k in changes.SERVICE_FIELDS if k != "organization_id"}
        record["organization"] = {"id": svc.organization_id}
    record.update(changed)
    return record


def approve(db: Database, number: int, who: str) -> str:
    with db.session() as s:
        change = s.get(PendingChange, number)
        assert change is not None
        approvals.check_approver(s, change, who)
        target = changes.apply_pending(s, change)
        approvals.decide(s, change, who, approved=True)
        return target


def refusal(db: Database, number: int, who: str) -> str:
    with db.session() as s, pytest.raises(ApprovalRefused) as caught:
        change = s.get(PendingChange, number)
        assert change is not None
        approvals.check_approver(s, change, who)
        changes.apply_pending(s, change)
    return caught.value.code


def test_a_hotline_number_changed_by_one_admin_waits_for_a_second(db: Database) -> None:
    assert hotline_phone(db) == "1555"
    record = edited_record(
        db, "gt-pdh-denuncias", phones=[{"number": "5555 0000", "kind": "voice"}]
    )
    with db.session() as s:
        outcome = changes.propose_or_apply(
            s, ServiceChange("save", "gt-pdh-denuncias", record), "ana"
        )
        assert not outcome.applied and outcome.pending is not None
        number = outcome.pending.id
    assert hotline_phone(db) == "1555"  # live data unchanged
    assert refusal(db, number, "ana") == "own"
    assert refusal(db, number, "sol") == "not_admin"
    assert approve(db, number, "bruno") == "gt-pdh-denuncias"
    assert hotline_phone(db) == "5555 0000"
    with db.session() as s:
        done = s.get(PendingChange, number)
        assert done is not None
        assert (done.status, done.author, done.approver) == ("approved", "ana", "bruno")
        assert done.decided_at is not None
    assert refusal(db, number, "bruno") == "decided"


def test_an_account_made_after_the_change_cannot_approve_it(db: Database) -> None:
    with db.session() as s:
        outcome = changes.propose_or_apply(
            s, CountryChange("GT", [{"kind": "emergency", "number": "112"}]), "ana"
        )
        assert outcome.pending is not None
        number = outcome.pending.id
        s.add(StaffUser(id="newcomer", email="n@example.org", display_name="n", role="admin"))
    assert refusal(db, number, "newcomer") == "newer"
    with db.session() as s:
        assert Directory(s).emergency("GT") == EmergencyNumber("GT", "110")


def test_what_waits_and_what_applies_at_once(db: Database) -> None:
    other = "gt-abogados"
    with db.session() as s:
        stored = s.get(Service, "gt-pdh-denuncias")
        assert stored is not None
        hours = {k: v for k, v in (stored.hours or {}).items() if k not in ("weekly", "holidays")}
    cases: list[tuple[ServiceChange, bool]] = [
        # an entry no crisis reply shows: at once
        (ServiceChange("save", other, edited_record(db, other, name="Renamed")), True),
        # made a hotline, or a hotline made something else: held
        (ServiceChange("save", other, edited_record(db, other, categories=["hotline"])), False),
        (
            ServiceChange(
                "save",
                "gt-pdh-denuncias",
                edited_record(db, "gt-pdh-denuncias", categories=["legal"]),
            ),
            False,
        ),
        # only a verification: as the "verified today" button, at once (a form's empty weekly
        # hours next to hours stored without them change nothing)
        (
            ServiceChange(
                "save",
                "gt-pdh-denuncias",
                edited_record(
                    db,
                    "gt-pdh-denuncias",
                    last_verified=TODAY,
                    verified_by="ana",
                    hours={**hours, "weekly": {}, "holidays": None},
                ),
            ),
            True,
        ),
        (ServiceChange("retire", "gt-pdh-denuncias"), False),
        (ServiceChange("retire", other), True),
    ]
    for change, applied in cases:
        with db.session() as s:
            outcome = changes.propose_or_apply(s, change, "ana")
        assert outcome.applied is applied, change
    with db.session() as s:
        svc = s.get(Service, "gt-pdh-denuncias")
        assert svc is not None
        assert (svc.status, svc.categories, svc.last_verified) == ("active", ["hotline"], TODAY)
        moved = s.get(Service, other)
        assert moved is not None and (moved.name, moved.status) == ("Renamed", "retired")
        held = approvals.waiting(s)
        # the second retirement of the hotline superseded the first; one proposal per target
        assert [(c.kind, c.target, c.payload.get("action")) for c in held] == [
            ("service", other, "save"),
            ("service", "gt-pdh-denuncias", "retire"),
        ]


def test_a_new_hotline_waits_and_gets_its_id_when_proposed(db: Database) -> None:
    record = edited_record(
        db, "gt-pdh-denuncias", name="Línea nueva", phones=[{"number": "1234", "kind": "voice"}]
    )
    record["id"] = ""
    with db.session() as s:
        outcome = changes.propose_or_apply(s, ServiceChange("save", "", record), "ana")
        assert outcome.pending is not None
        assert outcome.pending.target == "new:gt-linea-nueva"
        number = outcome.pending.id
        assert s.get(Service, "gt-linea-nueva") is None
    assert approve(db, number, "bruno") == "gt-linea-nueva"
    with db.session() as s:
        made = s.get(Service, "gt-linea-nueva")
        assert made is not None and made.phones == [{"number": "1234", "kind": "voice"}]


def test_a_change_made_stale_by_another_cannot_be_approved(db: Database) -> None:
    with db.session() as s:
        first = changes.propose_or_apply(
            s,
            ServiceChange(
                "save",
                "gt-pdh-denuncias",
                edited_record(db, "gt-pdh-denuncias", phones=[{"number": "1", "kind": "voice"}]),
            ),
            "ana",
        )
        assert first.pending is not None
        number = first.pending.id
        # marking it verified meanwhile does not make it stale
        assert changes.propose_or_apply(
            s,
            ServiceChange(
                "save",
                "gt-pdh-denuncias",
                edited_record(db, "gt-pdh-denuncias", last_verified=TODAY, verified_by="x"),
            ),
            "bruno",
        ).applied
        svc = s.get(Service, "gt-pdh-denuncias")
        assert svc is not None
        svc.phones = [{"number": "777", "kind": "voice"}]  # changed behind the proposal's back
    assert refusal(db, number, "bruno") == "stale"
    assert hotline_phone(db) == "777"


def test_country_numbers_wait_and_a_bad_number_is_refused_at_once(db: Database) -> None:
    with db.session() as s:
        with pytest.raises(NumberProblem):
            changes.propose_or_apply(
                s, CountryChange("GT", [{"kind": "crisis", "number": "x"}]), "ana"
            )
        with pytest.raises(NumberProblem):
            changes.propose_or_apply(s, CountryChange("EU", []), "ana")
        live = s.get(Country, "GT")
        assert live is not None
        same = changes.propose_or_apply(s, CountryChange("GT", list(live.numbers)), "ana")
        assert same.applied and same.unchanged
        outcome = changes.propose_or_apply(
            s,
            CountryChange("GT", [*live.numbers, {"kind": "crisis", "number": "1599"}]),
            None,  # the command line
        )
        assert outcome.pending is not None
        number = outcome.pending.id
        rows = changes.diff(outcome.pending)
        first = rows[0]
        assert (first.field, first.before, first.after, first.after_unconfirmed) == (
            "crisis",
            "—",
            "1599",
            True,
        )
        assert not any(r.changed for r in rows[1:])
        assert Directory(s).crisis_line("GT") is None
    approve(db, number, "ana")  # a command-line proposal has no author account to exclude
    with db.session() as s:
        assert Directory(s).crisis_line("GT") is None  # unconfirmed: never a crisis line
        country = s.get(Country, "GT")
        assert country is not None and country.numbers[-1]["number"] == "1599"


def test_an_import_holds_its_crisis_part_and_applies_the_rest(db: Database) -> None:
    """An HSDS import: the hotline's new phone waits, the legal entry's new name applies."""
    with db.session() as s:
        items = exporting.export_json(s)["services"]
    by_id = {str(item["id"]): item for item in items}
    hotline = by_id["gt-pdh-denuncias"]
    hotline["phones"] = [{"number": "9999", "type": "voice"}]
    legal = by_id["gt-abogados"]
    legal["name"] = "Renamed by import"
    with db.session() as s:
        # The import's own entry point (the command line's; the console's job calls the same
        # ``apply_service`` per batch).
        report = importing.import_services(s, [hotline, legal], {}, dry_run=False, author="ana")
    assert report.pending == ["gt-pdh-denuncias"]
    assert "gt-pdh-denuncias" in report.updated and str(legal["id"]) in report.updated
    assert hotline_phone(db) == "1555"
    with db.session() as s:
        renamed = s.get(Service, str(legal["id"]))
        assert renamed is not None and renamed.name == "Renamed by import"
        (held,) = approvals.waiting(s)
        number = held.id
    approve(db, number, "bruno")
    assert hotline_phone(db) == "9999"


def test_rejection_records_who_and_when_and_changes_nothing(db: Database) -> None:
    with db.session() as s:
        outcome = changes.propose_or_apply(s, ServiceChange("retire", "gt-pdh-denuncias"), "ana")
        assert outcome.pending is not None
        approvals.decide(s, outcome.pending, "ana", approved=False)  # withdrawn by its author
        assert (outcome.pending.status, outcome.pending.approver) == ("rejected", "ana")
        assert outcome.pending.decided_at is not None
    assert hotline_phone(db) == "1555"


def test_the_command_line_proposes_and_never_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli
    from bot.settings import get_settings

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("BOT_DATABASE_URL", url)
    monkeypatch.setenv("BOT_SECRET_KEY", "k" * 40)
    get_settings.cache_clear()
    try:
        # the first admin of an installation: nobody to ask, made at once
        monkeypatch.setattr("sys.stdin", _Lines("a long test password 42\n"))
        assert (
            cli.main(["staff", "add", "first@example.org", "--role", "admin", "--name", "Ana"]) == 0
        )
        assert "created admin first@example.org" in capsys.readouterr().out
        # the second: an invitation waiting for the first admin's approval in the console
        assert (
            cli.main(["staff", "add", "second@example.org", "--role", "admin", "--name", "Bruno"])
            == 0
        )
        assert "waits for an admin" in capsys.readouterr().out
        assert (
            cli.main(
                ["countries", "set", "CU", "police", "106", "--source", "https://example.org/cu"]
            )
            == 0
        )
        assert "change #2 waits for an admin" in capsys.readouterr().out
        assert cli.main(["countries", "remove", "CU", "ambulance", "104"]) == 0
        assert cli.main(["countries", "remove", "CU", "crisis", "000"]) == 1
        db = Database(url)
        with db.session() as s:
            emails = set(s.scalars(select(StaffUser.email)))
            assert emails == {"first@example.org"}
            country = s.get(Country, "CU")
            assert country is not None  # as shipped: 106 unconfirmed, 104 still there
            assert [(n["kind"], n["number"], n["confirmed"]) for n in country.numbers] == [
                ("police", "106", False),
                ("ambulance", "104", False),
                ("fire", "105", False),
            ]
            assert [(c.kind, c.target, c.author, c.status) for c in approvals.waiting(s)] == [
                ("staff_invite", "second@example.org", None, "pending"),
                ("country", "CU", None, "pending"),  # the removal superseded the addition
            ]
            actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
            assert actions == ["approval.propose"] * 3
        # disabling an admin: the last one is refused, another is proposed, never done
        assert cli.main(["staff", "disable", "first@example.org"]) == 1
        with db.session() as s:
            s.add(StaffUser(email="third@example.org", display_name="Cleo", role="admin"))
        capsys.readouterr()
        assert cli.main(["staff", "disable", "first@example.org"]) == 0
        assert "waits for an admin" in capsys.readouterr().out
        with db.session() as s:
            first = s.scalar(select(StaffUser).where(StaffUser.email == "first@example.org"))
            assert first is not None and first.active
            held = approvals.waiting(s)[-1]
            assert (held.kind, held.target, held.author) == ("staff_deactivate", first.id, None)
        db.dispose()
    finally:
        get_settings.cache_clear()


class _Lines:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        return self.lines.pop(0) if self.lines else ""


# --- an upgrade's reference numbers (bot/directory/countries.json) ---


def _reference(tmp_path: Path, stamp: str, change: dict[tuple[str, str], str]) -> Path:
    """The shipped reference with ``compiled_on`` = ``stamp`` and some numbers changed upstream:
    {(country, old number): new number}."""
    data = json.loads(Settings().countries_file.read_text(encoding="utf-8"))
    data["compiled_on"] = stamp
    for c in data["countries"]:
        for n in c["numbers"]:
            n["number"] = change.get((c["code"], n["number"]), n["number"])
    path = tmp_path / f"countries-{stamp}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _numbers(db: Database, code: str) -> list[tuple[str, str]]:
    with db.session() as s:
        country = s.get(Country, code)
        assert country is not None
        return [(n["kind"], n["number"]) for n in country.numbers]


def test_a_newer_reference_never_changes_a_number_by_itself(db: Database, tmp_path: Path) -> None:
    """An upgrade ships corrected numbers: a number an admin changed here is never overwritten;
    what changed upstream is proposed for an admin (author: none, the shipped reference)."""
    with db.session() as s:  # an admin's approved change: Mexico's crisis line is a local one
        mx = s.get(Country, "MX")
        assert mx is not None
        mx.numbers = [
            {**n, "number": "55 5533 5533"} if n["kind"] == "crisis" else n for n in mx.numbers
        ]
        # a change already waiting for Peru's numbers is never superseded by the reference
        waiting = changes.propose_or_apply(
            s, CountryChange("PE", [{"kind": "police", "number": "105"}], None), "ana"
        ).pending
        assert waiting is not None
        peru = waiting.id
    newer = _reference(
        tmp_path,
        "2027-01-15",
        {("GT", "1555"): "1556", ("MX", "911"): "089", ("PE", "1818"): "1819"},
    )
    with db.session() as s:
        assert merge_reference(s, newer) == ["GT", "MX"]
    # Nothing live changed: Guatemala's hotline is still 1555, Mexico's local crisis line kept.
    assert ("trafficking", "1555") in _numbers(db, "GT")
    assert _numbers(db, "MX") == [
        ("emergency", "911"),
        ("crisis", "55 5533 5533"),
        ("trafficking", "800 5533 000"),
    ]
    with db.session() as s:
        held = {c.target: c for c in approvals.waiting(s)}
        assert set(held) == {"GT", "MX", "PE"} and held["PE"].id == peru
        assert held["GT"].author is None and held["MX"].author is None
        gt, mx_change = held["GT"].id, held["MX"].id
        # Only what changed upstream is proposed: Mexico's emergency number, not its crisis line.
        assert [(n["kind"], n["number"]) for n in held["MX"].payload["numbers"]] == [
            ("emergency", "089"),
            ("crisis", "55 5533 5533"),
            ("trafficking", "800 5533 000"),
        ]
    # The same reference again proposes nothing more (it was merged); Peru waits for its turn.
    with db.session() as s:
        assert merge_reference(s, newer) == []
        assert len(approvals.waiting(s)) == 3
    approve(db, gt, "bruno")
    approve(db, mx_change, "bruno")
    assert ("trafficking", "1556") in _numbers(db, "GT")
    assert _numbers(db, "MX")[:2] == [("emergency", "089"), ("crisis", "55 5533 5533")]
    # Once Peru's own change is decided, the next start proposes the reference's hotline.
    with db.session() as s:
        change = s.get(PendingChange, peru)
        assert change is not None
        approvals.decide(s, change, "ana", approved=False)
    with db.session() as s:
        assert merge_reference(s, newer) == ["PE"]
        (pe,) = approvals.waiting(s)
        assert ("trafficking", "1819") in [(n["kind"], n["number"]) for n in pe.payload["numbers"]]
    # A later reference that changes nothing upstream proposes nothing, whatever differs here.
    with db.session() as s:
        assert (
            merge_reference(
                s,
                _reference(
                    tmp_path,
                    "2027-03-01",
                    {
                        ("GT", "1555"): "1556",
                        ("MX", "911"): "089",
                        ("PE", "1818"): "1819",
                    },
                ),
            )
            == []
        )
