"""Admins edit messages: live checks, drafts, two-person approval, history, rollback, .po files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from bot.directory.seed import load_directory, merge_reference
from bot.nlg import edits
from bot.nlg.catalog import Catalog
from bot.nlg.lint import Problem, check, reading_grade
from bot.nlg.messages import MESSAGES
from bot.settings import Settings
from bot.store.console_models import StaffUser
from bot.store.db import Database
from bot.store.models import utcnow


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'edits.sqlite3'}")
    database.migrate()
    with database.session() as s:
        load_directory(s, Settings().sample_directory)
        merge_reference(s, Settings().countries_file)
        for name in ("ana", "bruno"):  # admins who were there before any draft
            s.add(
                StaffUser(
                    id=name,
                    email=f"{name}@example.org",
                    display_name=name,
                    role="admin",
                    created_at=utcnow() - dt.timedelta(days=1),
                )
            )
    yield database
    database.dispose()


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(["en", "es", "pt", "fr"])


def codes(problems: list[Problem]) -> set[str]:
    return {p.code for p in problems}


def test_checks_as_the_admin_types(db: Database) -> None:
    with db.session() as s:
        assert (
            edits.lint(s, "utter_thanks", "en", "You're welcome.\nI'm here if you need more.") == []
        )
        assert "first_line" in codes(edits.lint(s, "utter_thanks", "en", "Police help.\nBye."))
        assert "wording" in codes(
            edits.lint(s, "utter_thanks", "es", "De nada.\n¿Por qué no te fuiste?")
        )
        assert "inclusive" in codes(edits.lint(s, "utter_thanks", "es", "Gracias.\nBienvenid@s."))
        assert "number" in codes(edits.lint(s, "utter_thanks", "en", "Thanks.\nCall 555 123 4567."))
        assert "number" not in codes(
            edits.lint(s, "utter_thanks", "en", "Thanks.\nCall 800 5533 000.")
        )
        assert "link" in codes(edits.lint(s, "utter_thanks", "en", "Thanks.\nSee https://x.org"))
        assert "placeholders" in codes(edits.lint(s, "utter_goodbye", "en", "Bye.\nTake care."))
        assert "button_length" in codes(
            edits.lint(s, "button_yes", "en", "Yes, absolutely, please go on")
        )


def test_readability_grades_are_plausible() -> None:
    assert reading_grade("You can write any time. We will not write first.", "en") < 6
    hard = (
        "Notwithstanding the aforementioned considerations, institutional confidentiality "
        "obligations necessitate comprehensive documentation procedures."
    )
    assert reading_grade(hard, "en") > 12
    assert check(
        hard + "\n", "en", "{x}\n", whole_message=True, safety_critical=True, question=False
    )


def test_draft_then_approval_makes_it_live(db: Database, catalog: Catalog) -> None:
    with db.session() as s:
        p = edits.propose(
            s, "utter_thanks", "es", "Con gusto.\nAquí sigo si necesitas algo.", "ana"
        )
        assert p.problems == []
        assert catalog.text("utter_thanks", "es") != p.edit.text  # a draft is not live
        edits.approve(s, catalog, p.edit.id, "ana")  # not safety-critical: one admin is enough
    assert catalog.text("utter_thanks", "es") == "Con gusto.\nAquí sigo si necesitas algo."


def test_safety_critical_needs_a_second_admin(db: Database, catalog: Catalog) -> None:
    assert MESSAGES["utter_deleted"].safety_critical
    text = catalog.text("utter_deleted", "en").replace("Done.", "All done.")
    with db.session() as s:
        p = edits.propose(s, "utter_deleted", "en", text, "ana")
        with pytest.raises(edits.EditRefused, match="second admin"):
            edits.approve(s, catalog, p.edit.id, "ana")
        assert catalog.text("utter_deleted", "en") != text
        # A second admin account made after the draft (by its author, say) does not count.
        s.add(StaffUser(id="carla", email="carla@example.org", display_name="c", role="admin"))
        s.flush()
        with pytest.raises(edits.EditRefused, match="made after"):
            edits.approve(s, catalog, p.edit.id, "carla")
        edits.approve(s, catalog, p.edit.id, "bruno")
    assert catalog.text("utter_deleted", "en") == text


def test_an_edit_with_errors_cannot_be_approved(db: Database, catalog: Catalog) -> None:
    with db.session() as s:
        p = edits.propose(s, "utter_thanks", "en", "Police are coming.\nBye.", "ana")
        with pytest.raises(edits.EditRefused, match="lock screens"):
            edits.approve(s, catalog, p.edit.id, "bruno")


def test_history_and_rollback(db: Database, catalog: Catalog) -> None:
    original = catalog.text("utter_thanks", "fr")
    with db.session() as s:
        first = edits.propose(s, "utter_thanks", "fr", "Avec plaisir.\nJe reste là.", "ana")
        edits.approve(s, catalog, first.edit.id, "ana")
        second = edits.propose(s, "utter_thanks", "fr", "De rien.\nÀ votre écoute.", "ana")
        edits.approve(s, catalog, second.edit.id, "ana")
        assert catalog.text("utter_thanks", "fr") == "De rien.\nÀ votre écoute."
        edits.rollback(s, catalog, first.edit.id, "bruno")
        assert catalog.text("utter_thanks", "fr") == "Avec plaisir.\nJe reste là."
        assert [e.status for e in edits.history(s, "utter_thanks", "fr")] == ["approved"] * 3
    assert original not in ("Avec plaisir.\nJe reste là.",)


def test_po_files_round_trip_with_console_edits(
    db: Database, catalog: Catalog, tmp_path: Path
) -> None:
    with db.session() as s:
        p = edits.propose(s, "utter_pause", "pt", "Tudo bem.\nEscreva quando puder.", "ana")
        edits.approve(s, catalog, p.edit.id, "ana")
    po_path = tmp_path / "pt.po"
    edits.export_po(catalog, "pt", po_path)
    with po_path.open("rb") as fh:
        po = read_po(fh, locale="pt")
    pause = po.get(catalog.sources["utter_pause"], context="utter_pause")
    assert pause is not None and pause.string == "Tudo bem.\nEscreva quando puder."
    thanks = po.get(catalog.sources["utter_thanks"], context="utter_thanks")
    assert thanks is not None
    thanks.string = "De nada.\nEstou aqui."
    with po_path.open("wb") as fh:
        write_po(fh, po)
    with db.session() as s:
        drafts = edits.import_po(s, catalog, "pt", po_path, "translator")
        assert [d.edit.key for d in drafts] == ["utter_thanks"]  # only what changed
        edits.approve(s, catalog, drafts[0].edit.id, "ana")
    assert catalog.text("utter_thanks", "pt") == "De nada.\nEstou aqui."


def test_missing_translation_still_falls_back_after_overrides(catalog: Catalog) -> None:
    catalog.set_overrides({("utter_thanks", "es"): ""})
    assert catalog.text("utter_thanks", "es")
