"""HSDS imports from the console as background jobs: bounded, in batches, with progress.

An upload used to be parsed, checked and applied inside one request: a 3 KB zip of a 2 MB table
held the server for 35 seconds, and on SQLite the apply held the one write lock while it wrote, so
webhooks and crisis replies waited behind it. Here an upload becomes a stored ``ImportJob``, and
the work runs in the background, in batches:

- reading the file and checking its entries (pure Python, most of the CPU an import costs) run in
  a child process (``ProcessPool``): a thread doing it held the interpreter's lock, and a crisis
  reply waited behind it (0.8 s at the median, 7 s at worst, while sign-in was also hammered);
- what needs the database (comparing with the directory, writing a batch, the job's row) runs on
  one worker thread of its own, pausing after each batch as long as it took, so the event loop
  gets whole stretches with the interpreter's lock and, on SQLite, the write lock.

1. **Check**: the file is read (refused past ``max_rows`` rows, counted as they are read), then
   every entry is checked ``batch`` at a time and compared with the directory (reads only). If any
   entry is refused, nothing can be applied: the job is "rejected" with every reason.
2. **Apply** (only the uploader, only after a clean check): the file is read and checked again
   (nothing is written unless every entry still passes), then written ``batch`` entries per
   transaction. Between batches the write lock is free, so a crisis reply waits at most one batch.
   ``written`` is committed in the same transaction as its batch, so it is always exact.

One job runs at a time. A job can be cancelled between batches: a cancelled check wrote nothing;
a cancelled apply keeps the batches already committed (each a whole set of entries, the page says
how many) and applying the same file again completes it. A job that was running when the process
stopped is marked "interrupted" at the next start (``recover``), in the same way.

Every step is audited (counts only). The per-entry writes go through ``importing.apply_service``
and ``importing.apply_country``, the only places an import changes the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, update

from bot.directory.hsds import importing
from bot.directory.hsds.schema import ImportError_
from bot.directory.uploads import Uploads
from bot.http_limits import CpuPool, ProcessPool
from bot.store.db import Database
from bot.store.job_models import ImportJob
from bot.store.models import Service, utcnow

log = logging.getLogger("bot.directory.jobs")

RUNNING = ("checking", "applying")
FINISHED = ("checked", "rejected", "refused", "done", "cancelled", "failed", "interrupted")
PAUSE = 1.0  # after each batch, a pause this many times as long as the batch took
REPORT_MAX = 500  # refused rows, and new or updated entries, listed on the page (counts are whole)
READ_ERRORS = (ImportError_, zipfile.BadZipFile, UnicodeDecodeError, KeyError, csv.Error, OSError)

T = TypeVar("T")
Audit = Callable[..., None]  # (staff_id, action, **counts): the console's audit log


@dataclass
class Parsed:
    """A file as read: service objects, where each came from, and the countries beside them."""

    items: list[dict[str, Any]]
    where: dict[str, str]
    countries: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return len(self.items) + len(self.countries)


@dataclass
class Checked:
    """What checking every entry found: records to write, and the report (errors, outcomes)."""

    countries: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    report: importing.ImportReport = field(default_factory=importing.ImportReport)


class ImportJobs:
    """The server's import jobs: starts them one at a time, runs them, and answers for them."""

    def __init__(
        self,
        db: Database,
        uploads: Uploads,
        audit: Audit,
        max_rows: int,
        batch: int,
    ) -> None:
        self.db = db
        self.uploads = uploads
        self.audit = audit
        self.max_rows = max_rows
        self.batch = max(1, batch)
        # The CPU work (reading, checking) in one child process of its own: it never holds this
        # process's interpreter lock, and runs at nice 10 (it holds no lock the loop waits for).
        self.cpu: CpuPool | ProcessPool = ProcessPool(1, queue=2)
        # The database work on one thread of its own, never the threads that check passwords.
        # At normal priority, not nice 10: a low-priority thread that the kernel preempts while
        # it holds the interpreter's lock (or SQLite's write lock) would keep the event loop
        # waiting until it runs again (priority inversion); ``_step``'s pauses give the loop its
        # time instead.
        self.io = CpuPool(1, queue=2, lower_priority=False)
        self._task: asyncio.Task[None] | None = None

    # --- what the console asks ---

    def get(self, job_id: str) -> ImportJob | None:
        with self.db.session() as s:
            return s.get(ImportJob, job_id)

    def recent(self, limit: int = 10) -> list[ImportJob]:
        with self.db.session() as s:
            return list(
                s.scalars(select(ImportJob).order_by(ImportJob.created_at.desc()).limit(limit))
            )

    def running(self) -> ImportJob | None:
        with self.db.session() as s:
            return s.scalars(select(ImportJob).where(ImportJob.state.in_(RUNNING)).limit(1)).first()

    def start(self, staff_id: str, token: str) -> ImportJob | None:
        """A new job checking the upload ``token``; None when another import is running."""
        if self.busy() or self.running() is not None:
            return None
        with self.db.session() as s:
            job = ImportJob(staff_id=staff_id, token=token, state="checking", report={})
            s.add(job)
        self.audit(staff_id, "directory.import_start", job=job.id)
        self._task = asyncio.create_task(self._guard(job.id, self._check(job.id)))
        return job

    def apply(self, job_id: str, staff_id: str) -> str:
        """Start writing a checked job: "started", or why not: "busy", "not_yours", "state",
        "expired" (the kept file is gone)."""
        job = self.get(job_id)
        if job is None or job.staff_id != staff_id:
            return "not_yours"
        # A clean check, or an apply that stopped part-way (cancelled or interrupted): applying
        # again writes every entry, the ones already written unchanged.
        resumable = job.state in ("cancelled", "interrupted") and job.reason == "applying"
        if (job.state != "checked" and not resumable) or job.errors:
            return "state"
        if self.busy() or self.running() is not None:
            return "busy"
        if self.uploads.find(staff_id, job.token) is None:
            return "expired"
        self._update(
            job_id,
            state="applying",
            done=0,
            written=0,
            created=0,
            updated=0,
            unchanged=0,
            cancel_requested=False,
            reason=None,
            finished_at=None,
        )
        self.audit(staff_id, "directory.import_apply", job=job_id, entries=job.total)
        self._task = asyncio.create_task(self._guard(job_id, self._apply(job_id)))
        return "started"

    def cancel(self, job_id: str, staff_id: str) -> bool:
        """Ask a running job to stop after its current batch; False when it is not running. Any
        admin may: stopping an import is always safe."""
        with self.db.session() as s:
            job = s.get(ImportJob, job_id)
            if job is None or job.state not in RUNNING:
                return False
            job.cancel_requested = True
            state = job.state
        self.audit(staff_id, "directory.import_cancel", job=job_id, phase=state)
        return True

    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def recover(self) -> int:
        """At start-up: jobs the last process left running are marked interrupted (and audited),
        so the console shows what happened to them. Returns how many."""
        with self.db.session() as s:
            jobs = list(s.scalars(select(ImportJob).where(ImportJob.state.in_(RUNNING))))
            for job in jobs:
                job.reason = job.state  # which phase it was in
                job.state = "interrupted"
                job.finished_at = job.updated_at = utcnow()
            found = [(j.id, j.staff_id, j.reason, j.written) for j in jobs]
        for job_id, staff_id, phase, written in found:
            log.warning("import job interrupted by a restart", extra={"phase": phase})
            self.audit(
                staff_id, "directory.import_interrupted", job=job_id, phase=phase, written=written
            )
        return len(found)

    async def stop(self) -> None:
        """On shutdown: stop the running job now; it is marked interrupted, like after a crash."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if isinstance(self.cpu, ProcessPool):
            self.cpu.shutdown()
        self.recover()

    async def wait(self) -> None:
        """Until the job under way (if any) has finished: for the command line and tests."""
        if self._task is not None:
            await asyncio.shield(self._task)

    # --- the work ---

    async def _guard(self, job_id: str, work: Any) -> None:
        """Run a phase; an unexpected error fails the job (logged without content), never the
        server."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("import job failed", extra={"error": type(exc).__name__})
            job = self._finish(job_id, "failed", reason="error", detail=type(exc).__name__)
            if job is not None:
                self.audit(job.staff_id, "directory.import_failed", job=job_id)
        finally:
            if isinstance(self.cpu, ProcessPool):
                # The child's memory (the parsed file, the modules) is given back between
                # imports; the next phase starts a new one in a second or two.
                self.cpu.shutdown()

    async def _read(self, job_id: str) -> Parsed | None:
        """The job's file, read in the child process; None (and the job finished) if it cannot
        be, or has expired."""
        job = self.get(job_id)
        assert job is not None
        path = self.uploads.find(job.staff_id or "", job.token)
        if path is None:
            self._finish(job_id, "failed", reason="expired")
            return None
        try:
            return await self.cpu.run(_read, path, self.max_rows)
        except importing.TooManyRows as exc:
            self._refuse(job, path, "rows", str(exc.limit))
        except READ_ERRORS as exc:
            self._refuse(job, path, "unreadable", str(exc)[:200])
        return None

    def _refuse(self, job: ImportJob, path: Path, reason: str, detail: str) -> None:
        self.uploads.discard(path)
        self._finish(job.id, "refused", reason=reason, detail=detail)
        self.audit(job.staff_id, "directory.import_check", job=job.id, readable=False, why=reason)

    async def _step(self, fn: Callable[..., T], *args: Any) -> T:
        """One batch of database work on the worker thread, then a pause as long as it took (at
        most a second). While the worker runs Python it holds the interpreter's lock half the
        time at best; the pause leaves the event loop whole stretches without it, at the cost of
        a slower import."""
        started = time.monotonic()
        result = await self.io.run(fn, *args)
        await asyncio.sleep(min(1.0, (time.monotonic() - started) * PAUSE))
        return result

    async def _check_all(self, job_id: str, parsed: Parsed, compare: bool) -> Checked | None:
        """Every entry checked, ``batch`` at a time; with ``compare``, each batch also compared
        with the directory (reads only). None when cancelled."""
        checked = Checked()
        checked.countries = importing.check_countries(parsed.countries, checked.report)
        seen: set[str] = set()
        done = len(parsed.countries)
        if compare and not checked.report.errors:
            await self.io.run(self._compare, checked.countries, [], checked.report)
        for start in range(0, len(parsed.items), self.batch):
            if await self.io.run(self._cancelled, job_id):
                return None
            chunk = parsed.items[start : start + self.batch]
            where = {
                key: parsed.where[key]
                for key in map(str, range(start, start + len(chunk)))
                if key in parsed.where
            }
            records, errors, names = await self.cpu.run(_check_chunk, chunk, where, start, seen)
            seen.update(record["id"] for record in records)
            checked.report.errors += errors
            checked.report.names.update(names)
            checked.services += records
            if compare and not checked.report.errors:
                await self._step(self._compare, [], records, checked.report)
            done += len(chunk)
            if compare:  # the check's progress; an apply's is what it has written
                await self.io.run(
                    self._update, job_id, done=done, errors=len(checked.report.errors)
                )
        return checked

    def _compare(
        self,
        countries: list[dict[str, Any]],
        services: list[dict[str, Any]],
        report: importing.ImportReport,
    ) -> None:
        with self.db.session() as s:
            for c in countries:
                report.outcome(f"country:{c['code']}", importing.country_outcome(s, c))
            for record in services:
                existing = s.get(Service, record["id"])
                report.outcome(record["id"], importing.service_outcome(existing, record))
            s.rollback()  # only read

    async def _check(self, job_id: str) -> None:
        parsed = await self._read(job_id)
        if parsed is None:
            return
        self._update(job_id, total=parsed.total)
        checked = await self._check_all(job_id, parsed, compare=True)
        if checked is None:
            self._stopped(job_id)
            return
        report = checked.report
        state = "rejected" if report.errors else "checked"
        job = self._finish(
            job_id,
            state,
            done=parsed.total,
            errors=len(report.errors),
            created=len(report.created),
            updated=len(report.updated),
            unchanged=len(report.unchanged),
            report=_report_json(report),
        )
        assert job is not None
        if report.errors:
            self._discard_upload(job)
        self.audit(
            job.staff_id,
            "directory.import_check",
            job=job_id,
            errors=len(report.errors),
            created=len(report.created),
            updated=len(report.updated),
            unchanged=len(report.unchanged),
        )

    async def _apply(self, job_id: str) -> None:
        parsed = await self._read(job_id)
        if parsed is None:
            return
        checked = await self._check_all(job_id, parsed, compare=False)
        if checked is None:
            self._stopped(job_id)
            return
        if checked.report.errors:  # the same file passed its check: a rule changed since
            self._finish(job_id, "failed", reason="changed", errors=len(checked.report.errors))
            return
        report = importing.ImportReport()
        batches: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = [(checked.countries, [])]
        batches += [
            ([], checked.services[i : i + self.batch])
            for i in range(0, len(checked.services), self.batch)
        ]
        for countries, services in batches:
            if await self.io.run(self._cancelled, job_id):
                self._stopped(job_id)
                return
            if countries or services:
                await self._step(self._write_batch, job_id, countries, services, report)
        report.names = checked.report.names
        job = self._finish(job_id, "done", report=_report_json(report))
        assert job is not None
        self._discard_upload(job)
        self.audit(
            job.staff_id,
            "directory.import",
            job=job_id,
            applied=True,
            errors=0,
            created=len(report.created),
            updated=len(report.updated),
            unchanged=len(report.unchanged),
        )

    def _discard_upload(self, job: ImportJob) -> None:
        """The kept file is not needed any more (applied, or refused by its check)."""
        path = self.uploads.find(job.staff_id or "", job.token)
        if path is not None:
            self.uploads.discard(path)

    def _write_batch(
        self,
        job_id: str,
        countries: list[dict[str, Any]],
        services: list[dict[str, Any]],
        report: importing.ImportReport,
    ) -> None:
        """One batch in one transaction, with the job's progress: committed together, so
        ``written`` is exactly what is in the directory. Runs in the worker thread."""
        job = self.get(job_id)
        author = job.staff_id if job else None  # the uploader: a second admin approves what waits
        with self.db.session() as s:
            for c in countries:
                report.outcome(f"country:{c['code']}", importing.country_outcome(s, c))
                if importing.apply_country(s, c, author):
                    report.pending.append(f"country:{c['code']}")
            for record in services:
                existing = s.get(Service, record["id"])
                report.outcome(record["id"], importing.service_outcome(existing, record))
                if importing.apply_service(s, existing, record, author):
                    report.pending.append(record["id"])
            n = len(countries) + len(services)
            s.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id)
                .values(
                    written=ImportJob.written + n,
                    done=ImportJob.done + n,
                    created=len(report.created),
                    updated=len(report.updated),
                    unchanged=len(report.unchanged),
                    updated_at=utcnow(),
                )
            )

    # --- the job's row ---

    def _cancelled(self, job_id: str) -> bool:
        with self.db.session() as s:
            return bool(s.scalar(select(ImportJob.cancel_requested).where(ImportJob.id == job_id)))

    def _stopped(self, job_id: str) -> None:
        phase = self.get(job_id)
        job = self._finish(job_id, "cancelled", reason=phase.state if phase else None)
        if job is not None:
            self.audit(job.staff_id, "directory.import_cancelled", job=job_id, written=job.written)

    def _update(self, job_id: str, **values: Any) -> None:
        with self.db.session() as s:
            s.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id)
                .values(updated_at=utcnow(), **values)
            )

    def _finish(self, job_id: str, state: str, **values: Any) -> ImportJob | None:
        self._update(job_id, state=state, finished_at=utcnow(), **values)
        return self.get(job_id)


def _read(path: Path, max_rows: int) -> Parsed:
    """The file, read (in the child process)."""
    items, where = importing.read(path, max_rows)
    return Parsed(items, where, importing.read_countries(path) or [])


def _check_chunk(
    items: list[dict[str, Any]], where: dict[str, str], start: int, seen: set[str]
) -> tuple[list[dict[str, Any]], list[importing.RowError], dict[str, str]]:
    """One batch checked (in the child process): its records, its errors and its names, returned
    rather than added to the job's report, which lives in the server's process."""
    report = importing.ImportReport()
    records = importing.check_items(items, where, start, report, set(seen))
    return records, report.errors, report.names


def _report_json(report: importing.ImportReport) -> dict[str, Any]:
    """What the page lists, cut at REPORT_MAX each (the job's counts are whole)."""
    shown = [*report.created[:REPORT_MAX], *report.updated[:REPORT_MAX]]
    return {
        "errors": [
            {"where": e.where, "reason": e.reason, "code": e.code, "params": e.params}
            for e in report.errors[:REPORT_MAX]
        ],
        "created": report.created[:REPORT_MAX],
        "updated": report.updated[:REPORT_MAX],
        "names": {key: report.names[key] for key in shown if key in report.names},
        "pending": report.pending[:REPORT_MAX],
        "pending_count": len(report.pending),
    }
