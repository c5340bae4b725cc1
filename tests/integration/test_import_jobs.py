"""HSDS imports as background jobs, over HTTP against the running stack (both databases).

Admin Ada (console in Spanish) uploads a directory file; the job checks it and, when she applies
it, writes it a batch at a time. The import's worker thread is held at chosen points (``Gate``) so
the tests read the progress, answer a survivor's crisis message or press "stop" at a known
moment: every ordering is asserted from events, never from the clock.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from kit import (
    Account,
    Survivor,
    apply_import,
    clean_presence,
    client_for,
    csrf_of,
    import_file,
    outside_crisis,
    settled,
    sign_in,
    staff,
)
from sqlalchemy import func, select

from bot.directory.hsds import csv_tables, exporting, importing
from bot.directory.hsds.jobs import ImportJobs
from bot.directory.uploads import Uploads
from bot.http_limits import CpuPool
from bot.runtime import Runtime
from bot.store.console_models import AuditEvent
from bot.store.job_models import ImportJob
from bot.store.models import Organization, Service

__all__ = ["clean_presence", "staff"]  # fixtures used by name
pytestmark = pytest.mark.security


class Gate:
    """Holds the import's worker thread where a test asks, until the test lets it go on."""

    def __init__(self) -> None:
        self.reached: queue.Queue[str] = queue.Queue()
        self._go = threading.Semaphore(0)
        self._open = threading.Event()

    def hold(self, where: str) -> None:
        """Called in the worker thread: say where it is, then wait for ``release``."""
        if self._open.is_set():
            return
        self.reached.put(where)
        while not self._go.acquire(timeout=0.1):
            if self._open.is_set():
                return

    async def next(self) -> str:
        """Where the worker thread stopped next (waits for it, off the event loop)."""
        return await asyncio.to_thread(self.reached.get, True, 60)

    def release(self) -> None:
        self._go.release()

    def open(self) -> None:
        """Let everything through from now on (a test's end, even a failed one)."""
        self._open.set()


@pytest.fixture
async def gate(stack: Runtime, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gate]:
    """A gate before each batch of checks and after each batch written (once committed).

    The gate holds a worker of this process, so with it the checks run on a thread here instead
    of in the import's child process (the same functions; the other tests use the child)."""
    made = Gate()
    jobs = stack.imports
    monkeypatch.setattr(jobs, "cpu", CpuPool(1, queue=2, lower_priority=False))
    check_items, write_batch = importing.check_items, jobs._write_batch

    def held_check(*args: Any) -> list[dict[str, Any]]:
        made.hold("check")
        return check_items(*args)

    def held_write(*args: Any) -> None:
        write_batch(*args)
        made.hold("written")

    monkeypatch.setattr(importing, "check_items", held_check)
    monkeypatch.setattr(jobs, "_write_batch", held_write)
    monkeypatch.setattr(jobs, "batch", 3)
    yield made
    made.open()
    await asyncio.wait_for(jobs.wait(), 60)


@pytest.fixture
async def ada(
    stack: Runtime, staff: dict[str, Account], clean_presence: None
) -> AsyncIterator[httpx.AsyncClient]:
    client = client_for(stack)
    await sign_in(client, staff["ada"].email)
    yield client
    await client.aclose()


@pytest.fixture
def entries(stack: Runtime) -> Iterator[Callable[[int], list[dict[str, Any]]]]:
    """``entries(n)``: n new services in Panama as HSDS, made from a real entry's export; the
    ones imported are removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    with stack.db.session() as s:
        # Made from a hotline, moved out of the crisis category (a hotline would wait for a
        # second admin: tests/integration/test_two_person.py).
        good = outside_crisis(exporting.service_to_hsds(s.get(Service, "us-nhth")))  # type: ignore[arg-type]
    org = f"jobtest-org-{tag}"

    def make(n: int) -> list[dict[str, Any]]:
        items = []
        for i in range(n):
            item: dict[str, Any] = json.loads(json.dumps(good))
            item["id"] = f"jobtest-{tag}-{i}"
            item["name"] = f"Servicio de prueba {i}"
            item["organization"] = {"id": org, "name": "Red de prueba"}
            item["organization_id"] = org
            item["service_areas"] = [{"id": "a", "name": "PA", "description": ""}]
            items.append(item)
        return items

    yield make
    with stack.db.session() as s:
        for svc in s.scalars(select(Service).where(Service.id.like(f"jobtest-{tag}-%"))):
            s.delete(svc)
        s.flush()
        found = s.get(Organization, org)
        if found is not None:
            s.delete(found)


def imported(stack: Runtime, items: list[dict[str, Any]]) -> int:
    """How many of these entries are in the directory, as another connection sees it."""
    with stack.db.session() as s:
        ids = [item["id"] for item in items]
        return int(s.scalar(select(func.count()).where(Service.id.in_(ids))) or 0)


def progress(panel: httpx.Response) -> dict[str, str]:
    """The job panel's state and counts, from its data attributes."""
    head = panel.text[panel.text.index('<section id="import-result"') :].split(">", 1)[0]
    return {
        key: head.split(f'data-{key}="', 1)[1].split('"', 1)[0]
        for key in ("state", "done", "total", "written", "errors")
    }


async def post_upload(client: httpx.AsyncClient, name: str, body: bytes) -> httpx.Response:
    page = await client.get("/directory/import")
    return await client.post(
        "/directory/import",
        data={"csrf": csrf_of(page.text), "action": "check"},
        files={"file": (name, body, "application/json")},
    )


def job_audits(stack: Runtime, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    with stack.db.session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(e.action, e.detail) for e in rows if e.detail.get("job") == job_id]


# --- a job runs in batches, its progress visible over HTTP ---


async def test_an_import_is_checked_and_written_in_batches_with_its_progress_over_http(
    stack: Runtime,
    ada: httpx.AsyncClient,
    gate: Gate,
    entries: Callable[[int], list[dict[str, Any]]],
    staff: dict[str, Account],
) -> None:
    items = entries(8)
    page = await post_upload(ada, "ocho.json", json.dumps({"services": items}).encode())
    path = page.url.path.removeprefix("/console")
    job_id = path.rsplit("/", 1)[1]
    assert path == f"/directory/import/{job_id}" and 'hx-trigger="every 1s"' in page.text

    # The check: three batches of 3, 3 and 2; before each, the progress of those before it.
    for done in (0, 3, 6):
        assert await gate.next() == "check"
        panel = await ada.get(f"{path}/progress")
        assert progress(panel) == {
            "state": "checking",
            "done": str(done),
            "total": "8",
            "written": "0",
            "errors": "0",
        }
        assert f"Entradas revisadas: {done} de 8. Problemas hasta ahora: 0." in panel.text
        if done == 3:  # one import at a time: another upload is refused while this one runs
            other = await post_upload(ada, "otro.json", json.dumps(entries(1)).encode())
            assert other.status_code == 409
            assert "Hay otra importación en curso." in other.text
        gate.release()
    checked = await settled(stack, ada, page)
    assert progress(checked)["state"] == "checked"
    assert "Si lo aplicas: nuevos: 8, actualizados: 0, sin cambios: 0." in checked.text
    assert 'hx-trigger="every 1s"' not in checked.text and imported(stack, items) == 0

    # The apply checks the file again (nothing written), then writes 3, 3 and 2, each batch
    # committed before the next begins: another connection sees them as the panel counts them.
    posted = await ada.post(f"{path}/apply", data={"csrf": csrf_of(checked.text)})
    assert posted.url.path == f"/console{path}"
    for _ in range(3):
        assert await gate.next() == "check"
        assert imported(stack, items) == 0
        gate.release()
    for written in (3, 6, 8):
        assert await gate.next() == "written"
        panel = await ada.get(f"{path}/progress")
        assert progress(panel)["state"] == "applying"
        assert progress(panel)["written"] == str(written)
        assert f"Entradas escritas: {written} de 8." in panel.text
        assert imported(stack, items) == written
        gate.release()
    done_page = await settled(stack, ada, posted)
    assert progress(done_page)["state"] == "done"
    assert "Nuevos: 8, actualizados: 0, sin cambios: 0." in done_page.text
    assert [action for action, _ in job_audits(stack, job_id)] == [
        "directory.import_start",
        "directory.import_check",
        "directory.import_apply",
        "directory.import",
    ]
    assert job_audits(stack, job_id)[-1][1]["created"] == 8
    listed = await ada.get("/directory/import")
    row = listed.text[listed.text.index(f"/directory/import/{job_id}") :].split("</tr>")[0]
    assert "Importado" in row and "Ada" in row


# --- a crisis turn is answered between two batches ---


async def test_a_crisis_message_is_answered_between_two_batches_of_an_import(
    stack: Runtime,
    ada: httpx.AsyncClient,
    gate: Gate,
    entries: Callable[[int], list[dict[str, Any]]],
) -> None:
    items = entries(6)
    page = await post_upload(ada, "seis.json", json.dumps(items).encode())
    for _ in range(2):
        assert await gate.next() == "check"
        gate.release()
    checked = await settled(stack, ada, page)
    path = checked.url.path.removeprefix("/console")
    await ada.post(f"{path}/apply", data={"csrf": csrf_of(checked.text)})
    for _ in range(2):
        assert await gate.next() == "check"
        gate.release()

    events: list[str] = []
    assert await gate.next() == "written"
    events.append(f"batch committed, {imported(stack, items)} written")
    # The import is mid-way (its worker holds here, between two transactions): a survivor's
    # crisis message is answered now, its turn committed, with the emergency numbers.
    job = stack.imports.get(path.rsplit("/", 1)[1])
    assert job is not None and job.state == "applying" and job.written == 3
    survivor = Survivor(stack, "es", "PA")
    result = await survivor.say("me tienen encerrada y no me dejan salir")
    assert result.crisis and result.replies[0].key == "utter_crisis"
    events.append("crisis answered")
    gate.release()
    assert await gate.next() == "written"
    events.append(f"batch committed, {imported(stack, items)} written")
    gate.release()
    await stack.imports.wait()
    assert events == [
        "batch committed, 3 written",
        "crisis answered",
        "batch committed, 6 written",
    ]
    final = stack.imports.get(path.rsplit("/", 1)[1])
    assert final is not None and final.state == "done" and final.written == 6


# --- cancelling ---


async def test_a_stopped_check_writes_nothing_and_a_stopped_apply_keeps_whole_batches(
    stack: Runtime,
    ada: httpx.AsyncClient,
    gate: Gate,
    entries: Callable[[int], list[dict[str, Any]]],
) -> None:
    items = entries(7)
    body = json.dumps(items).encode()
    page = await post_upload(ada, "siete.json", body)
    path = page.url.path.removeprefix("/console")
    assert await gate.next() == "check"
    stopped = await ada.post(f"{path}/cancel", data={"csrf": csrf_of(page.text)})
    gate.release()  # the batch under way finishes; the next one does not start
    stopped = await settled(stack, ada, stopped)
    assert progress(stopped)["state"] == "cancelled"
    assert "Se detuvo durante la revisión: no se escribió nada." in stopped.text
    assert 'id="apply-import"' not in stopped.text and imported(stack, items) == 0

    # Checked again, applied, stopped after its first batch: 3 stay written, then applying the
    # same job again writes them all.
    page = await post_upload(ada, "siete.json", body)
    for _ in range(3):
        assert await gate.next() == "check"
        gate.release()
    checked = await settled(stack, ada, page)
    path = checked.url.path.removeprefix("/console")
    await ada.post(f"{path}/apply", data={"csrf": csrf_of(checked.text)})
    for _ in range(3):
        assert await gate.next() == "check"
        gate.release()
    assert await gate.next() == "written"
    running = await ada.get(path)
    stopped = await ada.post(f"{path}/cancel", data={"csrf": csrf_of(running.text)})
    gate.release()
    stopped = await settled(stack, ada, stopped)
    assert progress(stopped)["state"] == "cancelled"
    assert "Entradas escritas antes de detenerse: 3 de 7." in stopped.text
    assert imported(stack, items) == 3
    gate.open()
    again = await apply_import(stack, ada, stopped)
    assert progress(again)["state"] == "done" and imported(stack, items) == 7
    assert "Nuevos: 4, actualizados: 0, sin cambios: 3." in again.text
    job_id = path.rsplit("/", 1)[1]
    actions = [action for action, _ in job_audits(stack, job_id)]
    assert actions == [
        "directory.import_start",
        "directory.import_check",
        "directory.import_apply",
        "directory.import_cancel",
        "directory.import_cancelled",
        "directory.import_apply",
        "directory.import",
    ]


# --- a restart ---


async def test_a_restart_marks_running_jobs_interrupted_and_the_page_says_so(
    stack: Runtime, ada: httpx.AsyncClient, staff: dict[str, Account]
) -> None:
    """What a new process finds: jobs the old one left running (rows, as it left them)."""
    with stack.db.session() as s:
        applying = ImportJob(
            staff_id=staff["ada"].id, token="t1", state="applying", total=10, written=4, report={}
        )
        checking = ImportJob(
            staff_id=staff["ada"].id, token="t2", state="checking", total=10, report={}
        )
        s.add_all([applying, checking])
    restarted = ImportJobs(
        stack.db,
        Uploads(stack.settings.data_dir),
        stack.imports.audit,
        stack.settings.directory_import_max_rows,
        stack.settings.directory_import_batch_rows,
    )
    assert restarted.recover() == 2
    assert restarted.running() is None

    page = await ada.get(f"/directory/import/{applying.id}")
    assert progress(page)["state"] == "interrupted"
    assert "Interrumpida por un reinicio" in page.text
    assert "Entradas escritas antes de detenerse: 4 de 10." in page.text
    assert 'id="apply-import"' in page.text  # applying it again completes it
    page = await ada.get(f"/directory/import/{checking.id}")
    assert "Se detuvo durante la revisión: no se escribió nada." in page.text
    assert 'id="apply-import"' not in page.text
    assert [(a, d["phase"], d["written"]) for a, d in job_audits(stack, applying.id)] == [
        ("directory.import_interrupted", "applying", 4)
    ]
    upload_page = await ada.get("/directory/import")
    assert 'id="f-file"' in upload_page.text  # nothing blocks the next import


# --- the row limit ---


async def test_a_file_over_the_row_limit_is_refused_with_the_limit_named(
    stack: Runtime,
    ada: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    entries: Callable[[int], list[dict[str, Any]]],
) -> None:
    items = entries(3)
    rows = sum(importing.json_rows(item) for item in items)
    monkeypatch.setattr(stack.imports, "max_rows", rows - 1)
    tables = csv_tables.to_tables(items)
    assert sum(len(t) for t in tables.values()) - len(tables["organization"]) == rows

    for name, body in (
        ("tres.json", json.dumps(items).encode()),
        ("tres.zip", exporting.zip_bytes({"services": items})),
    ):
        refused = await import_file(stack, ada, name, body)
        assert refused.status_code == 422, name
        assert progress(refused)["state"] == "refused"
        assert (
            f"El archivo tiene más de {rows - 1} filas (todas sus tablas juntas), el máximo "
            "que acepta una importación." in refused.text
        )
        assert imported(stack, items) == 0
    monkeypatch.setattr(stack.imports, "max_rows", rows + 1)  # the organisation row counts too
    accepted = await import_file(stack, ada, "tres.zip", exporting.zip_bytes({"services": items}))
    assert progress(accepted)["state"] == "checked"
    with stack.db.session() as s:
        last = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "directory.import_check")
            .order_by(AuditEvent.id.desc())
        ).first()
    assert last is not None and last.detail["created"] == 3
