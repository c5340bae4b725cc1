"""The console's Understanding pages over HTTP, against the running stack (real Rasa, both DBs).

Admins see the intents and their examples, add phrases (each one checked), remove ones not yet
live, and start a retraining; only one runs at a time. A full retraining is slow (minutes), so
here the Retrainer is replaced by one that waits for the test; the real one runs in
tests/test_retrain.py and in the browser test (tests/browser/test_understanding_browser.py).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kit import (
    Account,
    SignIn,
    clean_presence,
    csrf_of,
    signed_in,
    staff,
    wait_until,
)
from sqlalchemy import delete, select

from bot.console import views_understanding as understanding
from bot.evaluation import HELDOUT_DIR, load_examples
from bot.rasa import retrain
from bot.rasa.model import admin_data, domain_intents
from bot.rasa.retrain import Figures, Progress, Retrainer, RetrainResult
from bot.runtime import Runtime
from bot.store.console_models import AuditEvent
from bot.store.content_models import TrainingExample

__all__ = ["clean_presence", "signed_in", "staff"]  # fixtures used by name

PAGE = "/understanding/request_human/es"


@pytest.fixture
def word(stack: Runtime) -> Iterator[str]:
    """A made-up word unique to the test; every phrase containing it is removed afterwards."""
    made_up = f"quorvex{uuid.uuid4().hex[:6]}"
    yield made_up
    with stack.db.session() as s:
        s.execute(delete(TrainingExample).where(TrainingExample.text.contains(made_up)))


def rows(stack: Runtime, word: str) -> list[TrainingExample]:
    with stack.db.session() as s:
        return list(
            s.scalars(
                select(TrainingExample)
                .where(TrainingExample.text.contains(word))
                .order_by(TrainingExample.id)
            )
        )


def audit_since(stack: Runtime, first_id: int, prefix: str = "understanding.") -> list[AuditEvent]:
    with stack.db.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.id > first_id, AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )


def last_audit_id(stack: Runtime) -> int:
    with stack.db.session() as s:
        return int(max([0, *s.scalars(select(AuditEvent.id))]))


def count_link(page: str, intent: str, language: str) -> int:
    found = re.search(rf'href="/console/understanding/{intent}/{language}"[^>]*>(\d+)</a>', page)
    assert found, f"no count for {intent}/{language}"
    return int(found.group(1))


async def add(client: httpx.AsyncClient, path: str, phrases: list[str]) -> httpx.Response:
    page = await client.get(path)
    return await client.post(path, data={"csrf": csrf_of(page.text), "phrases": "\n".join(phrases)})


def test_every_intent_has_a_plain_description() -> None:
    assert domain_intents() <= set(understanding.DESCRIPTIONS)
    assert understanding.ordered_intents()[0] == "greet"


async def test_intents_page_lists_descriptions_and_counts(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, word: str
) -> None:
    admin = await signed_in(staff["ada"].email)  # Ada reads the console in Spanish
    page = (await admin.get("/understanding")).text
    shipped = len(understanding.shipped("es")["request_human"])
    with stack.db.session() as s:
        live = len(
            list(
                s.scalars(
                    select(TrainingExample).where(
                        TrainingExample.intent == "request_human",
                        TrainingExample.language == "es",
                        TrainingExample.status == "live",
                    )
                )
            )
        )
    assert count_link(page, "request_human", "es") == shipped + live > 20
    for intent in domain_intents():
        assert f"<code>{intent}</code>" in page
    assert "Hablar con una persona" in page  # request_human's description, translated
    assert "Retrain and test" not in page and "Reentrenar y probar" in page
    await add(admin, PAGE, [f"quiero hablar con {word}"])
    page = (await admin.get("/understanding")).text
    assert count_link(page, "request_human", "es") == shipped + live  # pending is not counted
    assert "pendientes: 1" in page


async def test_examples_page_shows_both_kinds_and_searches(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, word: str
) -> None:
    admin = await signed_in(staff["ada"].email)
    await add(admin, PAGE, [f"{word} una persona por favor"])
    page = (await admin.get(PAGE)).text
    shipped = understanding.shipped("es")["request_human"]
    assert shipped[0] in page and f"{word} una persona por favor" in page
    assert "pendiente — no está en uso hasta reentrenar" in page
    assert "Ada" in page  # who added it
    found = await admin.get(PAGE + "/list", params={"q": word.upper()})  # case does not matter
    assert f"{word} una persona por favor" in found.text
    assert shipped[0] not in found.text and "<html" not in found.text
    none = await admin.get(PAGE + "/list", params={"q": "zzz-nothing-like-this"})
    assert none.text.count("Ninguna frase.") == 2
    missing = await admin.get("/understanding/make_coffee/es")
    assert missing.status_code == 404 and "No existe esa intención" in missing.text
    assert (await admin.get("/understanding/request_human/de")).status_code == 404


async def test_each_phrase_is_checked_and_refusals_say_why(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, word: str
) -> None:
    admin = await signed_in(staff["ada"].email)
    held_out = next(t for i, t in load_examples(HELDOUT_DIR / "es.yml") if i == "request_human")
    greeting = understanding.shipped("es")["greet"][0]
    first = last_audit_id(stack)
    new = f"necesito a alguien {word}"
    response = await add(
        admin,
        PAGE,
        [
            new,
            held_out,
            greeting,
            "/request_human",
            f"  NECESITO a alguien {word}! ",
            "",
            "x" * 301,
        ],
    )
    assert response.status_code == 200
    added = re.search(r'<ul id="added">(.*?)</ul>', response.text, re.S)
    assert added and new in added.group(1) and held_out not in added.group(1)
    codes = re.findall(r'data-code="([a-z_]+)"', response.text)
    assert codes == ["held_out", "duplicate", "command", "duplicate", "length"]
    assert "está en el conjunto de prueba reservado" in response.text
    assert "ya es un ejemplo de otra intención: greet" in response.text
    assert "ya es un ejemplo de esta intención" in response.text
    kept = rows(stack, word)
    assert [(r.text, r.status, r.author) for r in kept] == [(new, "pending", staff["ada"].id)]
    events = audit_since(stack, first)
    assert [(e.action, e.detail) for e in events] == [
        (
            "understanding.add_example",
            {"intent": "request_human", "language": "es", "added": 1, "refused": 5},
        )
    ]
    empty = await add(admin, PAGE, ["   "])
    assert "Escribe al menos una frase" in empty.text
    many = await add(admin, PAGE, [f"{word} {n}" for n in range(understanding.MAX_LINES + 1)])
    assert "No se añadió nada" in many.text and len(rows(stack, word)) == 1


async def test_a_phrase_not_yet_live_can_be_removed(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, word: str
) -> None:
    admin = await signed_in(staff["ada"].email)
    await add(admin, PAGE, [f"pasame con {word}"])
    with stack.db.session() as s:
        live = TrainingExample(
            intent="request_human", language="es", text=f"{word} live", author="x", status="live"
        )
        s.add(live)
        s.flush()
        live_id = live.id
    pending = rows(stack, word)[0]
    first = last_audit_id(stack)
    token = csrf_of((await admin.get(PAGE)).text)
    gone = await admin.post(PAGE + "/remove", data={"csrf": token, "example": str(pending.id)})
    assert "Se quitó la frase" in gone.text
    kept = await admin.post(PAGE + "/remove", data={"csrf": token, "example": str(live_id)})
    assert "no se pudo quitar" in kept.text
    other = await admin.post(  # the id exists, but under another intent's page: refused
        "/understanding/greet/es/remove", data={"csrf": token, "example": str(live_id)}
    )
    assert "no se pudo quitar" in other.text
    assert [r.id for r in rows(stack, word)] == [live_id]
    assert [(e.action, e.detail) for e in audit_since(stack, first)] == [
        (
            "understanding.remove_example",
            {"intent": "request_human", "language": "es", "status": "pending"},
        )
    ]


async def test_one_retraining_at_a_time_with_progress_and_verdict(
    stack: Runtime,
    staff: dict[str, Account],
    signed_in: SignIn,
    word: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = await signed_in(staff["ada"].email)
    job = understanding.retraining_for(stack)
    assert not job.running
    with stack.db.session() as s:
        assert s.scalar(select(TrainingExample).where(TrainingExample.status == "pending")) is None
    nothing = await admin.post(
        "/understanding/retrain", data={"csrf": csrf_of((await admin.get("/understanding")).text)}
    )
    assert "No hay frases pendientes" in nothing.text and not job.running

    go_on = asyncio.Event()
    before = Figures({"es": 0.9, "en": 0.92}, {"es": 1.0, "en": 1.0}, {"es": 0.01, "en": 0.02})
    after = Figures({"es": 0.91, "en": 0.92}, {"es": 0.95, "en": 1.0}, {"es": 0.02, "en": 0.02})

    async def slow_retrain(
        margin: float = 0.01, progress: Progress = lambda stage: None
    ) -> RetrainResult:
        progress("checking")
        await go_on.wait()
        progress("training")
        return RetrainResult(
            "rejected", "crisis recall", before, after, "model-x", "crisis_recall", "es", 1
        )

    monkeypatch.setattr(job.retrainer, "retrain", slow_retrain)
    await add(admin, PAGE, [f"hablar con {word} ahora"])
    first = last_audit_id(stack)
    token = csrf_of((await admin.get("/understanding")).text)
    started = await admin.post("/understanding/retrain", data={"csrf": token})
    assert "Reentrenamiento iniciado" in started.text and job.running
    assert 'hx-trigger="every 2s"' in started.text and 'aria-current="step"' in started.text
    again = await admin.post("/understanding/retrain", data={"csrf": token})
    assert "Ya hay un reentrenamiento en curso" in again.text
    panel = (await admin.get("/understanding/retraining")).text
    assert "Ahora: Revisando los datos de entrenamiento" in panel
    pending = rows(stack, word)[0]
    busy = await admin.post(PAGE + "/remove", data={"csrf": token, "example": str(pending.id)})
    assert "Hay un reentrenamiento en curso" in busy.text and rows(stack, word)
    go_on.set()
    await wait_until(lambda: job.run is not None and job.run.result is not None, 10)
    polled = await admin.get("/understanding/retraining", headers={"hx-request": "true"})
    assert polled.headers["hx-redirect"] == "/console/understanding#retraining"  # fresh counts
    panel = (await admin.get("/understanding/retraining")).text
    assert "every 2s" not in panel
    assert "Se mantuvo el modelo anterior" in panel
    assert "La detección de crisis bajaría en Español" in panel
    row = re.search(r'<tr data-language="es">(.*?)</tr>', panel, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    assert cells == [
        "90,0%",
        "91,0%",
        "+1,0",
        "100,0%",
        "95,0%",
        "-5,0",
        "1,0%",
        "2,0%",
        "+1,0",
    ]
    assert 'class="worse">-5,0' in row.group(1) and 'class="worse">+1,0' in row.group(1)
    events = [(e.action, e.detail) for e in audit_since(stack, first)]
    assert events[0] == ("understanding.retrain", {"status": "started", "examples": 1})
    assert events[1][0] == "understanding.retrain"
    assert {k: v for k, v in events[1][1].items() if k != "seconds"} == {
        "status": "rejected",
        "reason": "crisis_recall",
        "language": "es",
        "examples": 1,
    }


async def test_only_admins_and_only_with_the_form_token(
    stack: Runtime, staff: dict[str, Account], signed_in: SignIn, word: str
) -> None:
    for key in ("lucia", "sol"):
        person = await signed_in(staff[key].email)
        assert (await person.get("/understanding")).status_code == 403
        assert (await person.get(PAGE)).status_code == 403
        token = csrf_of((await person.get("/queue")).text)
        refused = await person.post(PAGE, data={"csrf": token, "phrases": f"hola {word}"})
        assert refused.status_code == 403
        assert (
            await person.post("/understanding/retrain", data={"csrf": token})
        ).status_code == 403
    admin = await signed_in(staff["ada"].email)
    forged = await admin.post(PAGE, data={"csrf": "forged", "phrases": f"hola {word}"})
    assert forged.status_code == 403
    assert (await admin.post("/understanding/retrain", data={})).status_code == 403
    assert rows(stack, word) == [] and not understanding.retraining_for(stack).running


async def test_a_failed_retraining_changes_nothing(
    stack: Runtime, word: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data check refusing, or training crashing: a "failed" result, phrases still pending."""
    with stack.db.session() as s:
        s.add(TrainingExample(intent="request_human", language="es", text=word, author="x"))
    # The live Rasa (here the fake one, with no process of the bot's) must stay the one answering.
    process, url = stack.rasa_process, stack.rasa.base_url
    folder = admin_data(stack.settings)
    stages: list[str] = []
    monkeypatch.setattr(retrain, "validate", lambda settings: (False, "UserWarning: made up"))
    refused = await Retrainer(stack).retrain(progress=stages.append)
    assert (refused.status, refused.code, refused.examples) == ("failed", "validate", 1)
    assert "made up" in refused.reason and stages == ["checking"]

    def crash(*args: object) -> Path:
        raise subprocess.CalledProcessError(1, "rasa train")

    monkeypatch.setattr(retrain, "validate", lambda settings: (True, ""))
    monkeypatch.setattr(retrain, "ensure_model", crash)
    crashed = await Retrainer(stack).retrain(progress=stages.append)
    assert (crashed.status, crashed.code, crashed.reason) == (
        "failed",
        "error",
        "CalledProcessError",
    )
    assert stages == ["checking", "checking", "training"]
    assert [r.status for r in rows(stack, word)] == ["pending"]
    assert all(word not in f.read_text() for f in folder.glob("*.yml"))  # not in the next model
    assert stack.rasa_process is process and stack.rasa.base_url == url  # no switch
    assert await stack.rasa.ready()
