"""The directory in HSDS: export, import all-or-nothing with reasons, dry run, verification age."""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.directory import changes
from bot.directory.hsds import exporting, importing, schema
from bot.directory.seed import load_directory, merge_reference
from bot.directory.service import Directory, shown_name
from bot.handoff.hours import TeamHours
from bot.needs import CATEGORIES
from bot.nlg.catalog import Catalog
from bot.nlg.lint import MAX_LENGTH, glance, revealing
from bot.nlg.render import RenderContext, Renderer
from bot.settings import Settings
from bot.store import approvals
from bot.store.db import Database
from bot.store.models import Service

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'dir.sqlite3'}")
    database.migrate()
    with database.session() as s:
        load_directory(s, Settings().sample_directory)
        merge_reference(s, Settings().countries_file)
    yield database
    database.dispose()


def snapshot(db: Database) -> list[dict[str, object]]:
    with db.session() as s:
        return [
            exporting.service_to_hsds(svc)
            for svc in s.scalars(select(Service).order_by(Service.id))
        ]


@pytest.mark.parametrize("suffix", [".json", ".zip", ""])
def test_export_then_import_round_trips(db: Database, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"export{suffix or '_csv'}"
    with db.session() as s:
        exporting.export_to(s, path)
    items, where = importing.read(path)
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    fresh.migrate()
    with fresh.session() as s:
        report = importing.import_services(s, items, where, dry_run=False)
    assert report.ok, report.errors
    # What a crisis reply shows (the hotlines) waits for a second admin; once applied, the
    # directory is the same as the one exported.
    assert report.pending and set(report.pending) <= set(report.created)
    with fresh.session() as s:
        for change in approvals.waiting(s):
            changes.apply_pending(s, change)
    assert snapshot(fresh) == snapshot(db)
    with db.session() as s:  # importing the same data again changes nothing
        again = importing.import_services(s, items, where, dry_run=True)
    assert again.created == [] and again.updated == [] and len(again.unchanged) == len(items)


def test_one_bad_row_rejects_the_whole_import_with_its_reason(db: Database, tmp_path: Path) -> None:
    with db.session() as s:
        data = exporting.export_json(s)
    data["services"][0]["name"] = "Renamed line"
    data["services"][1]["status"] = "open"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    items, where = importing.read(path)
    with db.session() as s:
        report = importing.import_services(s, items, where, dry_run=False)
    assert not report.ok
    assert [str(e) for e in report.errors] == [
        "services[1]: status 'open' is not one of active, inactive, defunct, temporarily closed"
    ]
    with db.session() as s:  # nothing written, not even the valid rename
        assert s.get(Service, data["services"][0]["id"]).name != "Renamed line"  # type: ignore[union-attr]


def test_csv_errors_name_the_row(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    with db.session() as s:
        exporting.export_to(s, folder)
    rows = list(csv.DictReader((folder / "service_area.csv").open()))
    rows[2]["name"] = "XX"
    with (folder / "service_area.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    items, where = importing.read(folder)
    with db.session() as s:
        report = importing.import_services(s, items, where, dry_run=True)
    assert len(report.errors) == 1
    assert report.errors[0].where == "service.csv row 4"  # the header is row 1
    assert "ISO 3166" in report.errors[0].reason


def test_a_confidential_address_is_refused(db: Database) -> None:
    with db.session() as s:
        item = exporting.service_to_hsds(s.scalars(select(Service)).first())  # type: ignore[arg-type]
    item["service_at_locations"] = [{"location": {"addresses": [{"address_1": "Calle Secreta 1"}]}}]
    with pytest.raises(ValueError, match="public_address"):
        importing.normalise(item)


def test_dry_run_writes_nothing(db: Database) -> None:
    with db.session() as s:
        item = exporting.service_to_hsds(s.scalars(select(Service)).first())  # type: ignore[arg-type]
    item["id"] = "new-service"
    with db.session() as s:
        report = importing.import_services(s, [item], {}, dry_run=True)
    assert report.created == ["new-service"]
    with db.session() as s:
        assert s.get(Service, "new-service") is None


def test_old_entries_are_flagged_then_hidden(db: Database) -> None:
    today = dt.date.today()
    with db.session() as s:
        mx = [svc for svc in s.scalars(select(Service).where(Service.country == "MX"))]
        mx[0].last_verified = today - dt.timedelta(days=100)
    Directory.hide_after_days = 365
    try:
        with db.session() as s:
            d = Directory(s)
            flagged = d.needs_checking(90)
            assert [(svc.id, hidden) for svc, hidden in flagged] == [(mx[0].id, False)]
            assert d.hotlines("MX")
            later = Directory(s, today=today + dt.timedelta(days=300))
            assert later.hotlines("MX") == []  # more than a year since verification: not offered
    finally:
        Directory.hide_after_days = None


def test_cli_import_with_dry_run_and_a_bad_file(db: Database, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    with db.session() as s:
        exporting.export_to(s, good)
    data = json.loads(good.read_text())
    data["services"][2]["phones"] = [{"number": "call me maybe", "type": "voice"}]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    env = {"BOT_DATA_DIR": str(tmp_path / "cli"), "BOT_SECRET_KEY": "k", "PATH": "/usr/bin:/bin"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "directory", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )

    dry = cli("import", str(good), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{len(data['services'])} would be created" in dry.stdout
    rejected = cli("import", str(bad))
    assert rejected.returncode == 1
    assert "rejected: services[2]: phone 'call me maybe' is not a phone number" in rejected.stderr
    assert "nothing was imported" in rejected.stderr
    real = cli("import", str(good))
    assert real.returncode == 0 and "were created" in real.stdout
    exported = tmp_path / "again.zip"
    assert cli("export", str(exported)).returncode == 0 and exported.exists()


def test_a_zip_too_large_once_unpacked_or_not_a_zip_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packed = tmp_path / "directory.zip"
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("service.csv", "id,name\n" + "x,y\n" * 1000)
    monkeypatch.setattr(importing, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(schema.ImportError_, match="too large"):
        importing.read(packed)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip at all")
    with pytest.raises(schema.ImportError_, match="not a readable zip"):
        importing.read(broken)


# --- What survivors receive, rendered: lock screens and length (docs/writing.md, rules 1 and 4) ---

LANGS = ("en", "es", "pt", "fr")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    settings = Settings()
    return Renderer(
        settings, Catalog(list(LANGS)), TeamHours(settings.team_hours, settings.team_timezone)
    )


def test_every_sample_service_card_shows_nothing_revealing_on_a_lock_screen(
    db: Database, renderer: Renderer
) -> None:
    with db.session() as s:
        services = list(s.scalars(select(Service).order_by(Service.id)))
        assert len(services) == 41
        for lang in LANGS:
            ctx = RenderContext(lang, "telegram")
            for svc in services:
                card = renderer.card(svc, 1, 3, ctx)
                assert revealing(card) == [], (lang, svc.id, glance(card))
                assert len(card) <= MAX_LENGTH, (lang, svc.id, len(card))
                # The name (in the person's language when the organisation has one) after the
                # contact and the hours.
                assert shown_name(svc, lang) in card.split("\n", 3)[3]


def test_every_crisis_reply_opens_with_a_number_and_fits(db: Database, renderer: Renderer) -> None:
    """For every country of the directory and with none, in every language and every wording:
    nothing revealing in what a lock screen shows, at most 500 characters."""
    with db.session() as s:
        directory = Directory(s)
        countries: list[str | None] = [None, *directory.known_countries()]
        assert len(countries) == 36
        for lang in LANGS:
            for code in countries:
                ctx = RenderContext(lang, "telegram", country=code)
                for kind in ("self", "self_harm", "others"):
                    for new in (False, True):
                        replies = renderer.crisis(ctx, directory, kind, False, new=new)
                        assert len(replies) <= 2
                        for reply in replies:
                            where = (lang, code, kind, reply.key)
                            assert revealing(reply.text) == [], (*where, glance(reply.text))
                            assert len(reply.text) <= MAX_LENGTH, (*where, len(reply.text))


def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Settings().sample_directory.read_text(encoding="utf-8"))
    return data


def sample_services() -> list[dict[str, Any]]:
    return [svc for org in sample()["organizations"] for svc in org["services"]]


def test_a_sample_entry_says_where_it_comes_from() -> None:
    data = sample()
    assert "verified" in data["notice"]
    for svc in sample_services():
        assert svc["source"].startswith(("http://", "https://")), svc["id"]
        assert svc["last_verified"] and svc["verified_by"], svc["id"]
        dt.date.fromisoformat(svc["last_verified"])
        # What a compiler could not confirm from the source is listed, never guessed.
        assert isinstance(svc.get("not_confirmed", []), list), svc["id"]
        for extra in svc.get("extra_sources", []):
            assert extra.startswith(("http://", "https://")), svc["id"]


BAR = {"shelter", "legal", "medical", "repatriation"}


def test_the_sample_has_every_kind_of_help_in_twelve_countries() -> None:
    """Shelter, legal help, health care and going home in each of these countries (docs/
    directory.md lists what is missing elsewhere); ids are unique."""
    countries: dict[str, set[str]] = {}
    for svc in sample_services():
        countries.setdefault(svc["country"], set()).update(svc["categories"])
    full = {code for code, cats in countries.items() if cats >= BAR}
    assert full >= {"AR", "BR", "CA", "CL", "CO", "EC", "GT", "HN", "MX", "PE", "SV", "US"}
    ids = [svc["id"] for svc in sample_services()]
    assert len(ids) == len(set(ids))
    org_ids = [org["id"] for org in sample()["organizations"]]
    assert len(org_ids) == len(set(org_ids))


def test_every_sample_entry_can_be_reached_and_its_numbers_parse() -> None:
    """Every phone passes the rule the forms and the import use, keeps its kind, and an entry
    without a phone or email has its organisation's website (the card then shows it)."""
    for org in sample()["organizations"]:
        for svc in org["services"]:
            for phone in svc["phones"]:
                assert schema.phone(phone["number"], phone["kind"]) == phone, svc["id"]
            assert svc["phones"] or svc["email"] or org.get("url"), svc["id"]
            assert schema.names(svc.get("names")) == (svc.get("names") or {}), svc["id"]
            # A name in another language is the organisation's own, with where it was read.
            assert not svc.get("names") or svc.get("names_source"), svc["id"]
            assert set(svc["categories"]) <= set(CATEGORIES), svc["id"]


def test_a_name_is_shown_in_the_persons_language_else_the_original() -> None:
    svc = Service(id="x", name="Canadian Human Trafficking Hotline", names={"fr": "Ligne"})
    assert shown_name(svc, "fr") == "Ligne"
    assert shown_name(svc, "en") == "Canadian Human Trafficking Hotline"
    assert shown_name(svc, "es") == "Canadian Human Trafficking Hotline"  # never invented
    assert shown_name(svc, None) == "Canadian Human Trafficking Hotline"
    assert shown_name(Service(id="y", name="Disque 100", names=None), "fr") == "Disque 100"
    assert shown_name(Service(id="z", name="A", names={"fr": "  "}), "fr") == "A"


def test_names_are_checked_like_any_field() -> None:
    assert schema.names({"FR": " Ligne ", "es": ""}) == {"fr": "Ligne"}
    assert schema.names(None) == {}
    with pytest.raises(schema.RowProblem) as bad:
        schema.names({"de": "Hotline"})
    assert bad.value.code == "bad_language"
    with pytest.raises(schema.RowProblem) as long:
        schema.names({"fr": "x" * 201})
    assert long.value.code == "too_long"
    with pytest.raises(schema.RowProblem):
        schema.names(["fr", "Ligne"])


@pytest.mark.parametrize("suffix", [".json", ".zip", ""])
def test_names_travel_through_hsds(db: Database, tmp_path: Path, suffix: str) -> None:
    with db.session() as s:
        svc = s.get(Service, "ca-chth")
        assert svc is not None
        assert svc.names == {"fr": "Ligne d'urgence canadienne contre la traite des personnes"}
        hsds = exporting.service_to_hsds(svc)
        assert hsds["alternate_name"] == svc.names["fr"]
        path = tmp_path / f"export{suffix or '_csv'}"
        exporting.export_to(s, path)
    items, _ = importing.read(path)
    item = next(i for i in items if i["id"] == "ca-chth")
    assert importing.normalise(item)["names"] == {
        "fr": "Ligne d'urgence canadienne contre la traite des personnes"
    }
    iom = next(i for i in items if i["id"] == "br-iom-assistance")
    assert importing.normalise(iom)["names"]["pt"].startswith("Organização Internacional")
    plain = next(i for i in items if i["id"] == "us-nhth")
    assert importing.normalise(plain)["names"] is None


def test_a_name_in_an_unknown_language_is_refused_on_import(db: Database) -> None:
    with db.session() as s:
        svc = s.get(Service, "ca-chth")
        assert svc is not None
        item = exporting.service_to_hsds(svc)
    item["attributes"].append(
        {"taxonomy_term_id": f"{schema.TAXONOMY}:name:de", "value": "Kanadische Hotline"}
    )
    with pytest.raises(schema.RowProblem) as bad:
        importing.normalise(item)
    assert bad.value.code == "bad_language"


def test_an_entry_reached_only_through_its_website_shows_the_website(
    db: Database, renderer: Renderer
) -> None:
    with db.session() as s:
        svc = s.get(Service, "us-iom-tip")
        assert svc is not None and not svc.phones and not svc.email
        for lang, word in (
            ("en", "Website"),
            ("es", "Sitio web"),
            ("pt", "Site"),
            ("fr", "Site web"),
        ):
            card = renderer.card(svc, 1, 1, RenderContext(lang, "telegram"))
            assert f"{word} https://www.iom.int" in card, card
