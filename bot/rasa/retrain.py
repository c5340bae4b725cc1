"""Teach the assistant new phrasings from the console, safely.

An admin adds example phrases to an intent; retraining then (1) validates the training data with
``rasa data validate``, (2) trains a candidate model, (3) measures it and the live model on the
held-out split, and (4) puts it live only if crisis recall did not drop in any language and
intent accuracy did not drop by more than the configured margin. The switch loses no message:
requests to Rasa wait while the new process takes over, and live conversations' trackers are
copied to it.

Every outcome carries a short code (``ExampleRefused.code``, ``RetrainResult.code``) besides its
English reason, so the console can say it in the admin's language.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.evaluation import HELDOUT_DIR, evaluate_language, load_examples
from bot.events import MODEL_SWITCHED, Event, Publisher
from bot.net import free_port
from bot.rasa.client import RasaClient
from bot.rasa.model import admin_data, ensure_model, validate
from bot.rasa.process import RasaProcess
from bot.safety.screen import SafetyScreen
from bot.safety.text import fold_command
from bot.settings import Settings
from bot.store.content_models import TrainingExample
from bot.store.db import Database
from bot.store.models import Conversation, Mode

log = logging.getLogger("bot.rasa.retrain")
PROJECT_NLU = Path(__file__).resolve().parents[2] / "data" / "nlu"


# What a progress callback is told, in order (the last one only when the candidate may go live).
STAGES = ("checking", "training", "measuring", "switching")


class ExampleRefused(Exception):
    """The phrase cannot be added; the message says why.

    ``code`` is one of unknown_intent, length, command, held_out, duplicate; for a duplicate,
    ``intent`` names the intent the phrase already belongs to.
    """

    def __init__(self, message: str, code: str, intent: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.intent = intent


@dataclass
class Figures:
    accuracy: dict[str, float] = field(default_factory=dict)
    crisis_recall: dict[str, float] = field(default_factory=dict)
    false_crisis_rate: dict[str, float] = field(default_factory=dict)


@dataclass
class RetrainResult:
    status: str  # live / rejected / failed
    reason: str
    before: Figures
    after: Figures
    model: str = ""
    # Why, for the console: crisis_recall / accuracy (rejected), validate / error (failed).
    code: str = ""
    language: str = ""  # the language whose figure dropped, for a rejection
    examples: int = 0  # pending phrases this retraining was about


Progress = Callable[[str], None]


def _quiet(stage: str) -> None:
    """The default progress callback: nobody is watching."""


@functools.lru_cache(maxsize=64)
def _file_examples(path: Path, mtime_ns: int) -> dict[str, str]:
    """One NLU file's folded text → intent; cached until the file changes."""
    out: dict[str, str] = {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for block in data.get("nlu", []):
        for line in str(block.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- "):
                out[fold_command(line[2:])] = str(block.get("intent"))
    return out


def _folded_examples(paths: list[Path]) -> dict[str, str]:
    """folded text → intent, over Rasa NLU files."""
    out: dict[str, str] = {}
    for path in paths:
        out.update(_file_examples(path, path.stat().st_mtime_ns))
    return out


def add_example(
    session: Session, intents: set[str], intent: str, language: str, text: str, author: str
) -> TrainingExample:
    text = " ".join(text.split())
    if intent not in intents:
        raise ExampleRefused(f"there is no intent called {intent}", "unknown_intent")
    if text.startswith("/"):
        raise ExampleRefused("write the phrase as a person would send it, not a command", "command")
    if not text or len(text) > 300:
        raise ExampleRefused(
            "write the phrase as a person would send it (1 to 300 characters)", "length"
        )
    key = fold_command(text)
    if key in _folded_examples(sorted(HELDOUT_DIR.glob("*.yml"))):
        raise ExampleRefused(
            "this phrase is in the held-out test set; training on it would hide real errors",
            "held_out",
        )
    known = _folded_examples(sorted(PROJECT_NLU.rglob("*.yml")))
    existing = {
        fold_command(e.text): e.intent
        for e in session.scalars(
            select(TrainingExample).where(TrainingExample.status != "rejected")
        )
    }
    other = known.get(key) or existing.get(key)
    if other:
        raise ExampleRefused(f"this phrase is already an example of {other}", "duplicate", other)
    example = TrainingExample(intent=intent, language=language, text=text, author=author)
    session.add(example)
    session.flush()
    return example


def write_admin_data(session: Session, folder: Path, include_pending: bool) -> int:
    """The admins' examples as Rasa NLU files, one per language; returns how many."""
    statuses = ("live", "pending") if include_pending else ("live",)
    rows = list(
        session.scalars(select(TrainingExample).where(TrainingExample.status.in_(statuses)))
    )
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yml"):
        old.unlink()
    by_lang: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        by_lang.setdefault(row.language, {}).setdefault(row.intent, []).append(row.text)
    for lang, intents in by_lang.items():
        nlu = [
            {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
            for intent, texts in sorted(intents.items())
        ]
        (folder / f"{lang}.yml").write_text(
            yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
    return len(rows)


async def measure(client: RasaClient, runtime: RetrainParts) -> Figures:
    lexicons = runtime.screen.lexicons
    figures = Figures()
    for lang in runtime.settings.languages:
        if not (HELDOUT_DIR / f"{lang}.yml").exists() or not load_examples(
            HELDOUT_DIR / f"{lang}.yml"
        ):
            continue
        report = await evaluate_language(lang, client, lexicons, runtime.settings.nlu_threshold)
        figures.accuracy[lang] = round(report.accuracy, 4)
        figures.crisis_recall[lang] = round(report.crisis_recall, 4)
        figures.false_crisis_rate[lang] = round(report.false_crisis_rate, 4)
    return figures


def blocker(before: Figures, after: Figures, margin: float) -> tuple[str, str] | None:
    """(what, language) that keeps the candidate from going live, or None when it may."""
    for lang, recall in before.crisis_recall.items():
        if after.crisis_recall.get(lang, 0.0) < recall:
            return "crisis_recall", lang
    for lang, accuracy in before.accuracy.items():
        if after.accuracy.get(lang, 0.0) < accuracy - margin:
            return "accuracy", lang
    return None


def verdict(before: Figures, after: Figures, margin: float) -> str | None:
    """Why the candidate must not go live, or None when it may."""
    found = blocker(before, after, margin)
    if found is None:
        return None
    what, lang = found
    if what == "crisis_recall":
        recall, dropped = before.crisis_recall[lang], after.crisis_recall.get(lang, 0.0)
        return f"crisis recall would drop in {lang} ({recall:.3f} → {dropped:.3f})"
    accuracy = before.accuracy[lang]
    return (
        f"intent accuracy would drop in {lang} by more than {margin:.2%} "
        f"({accuracy:.3f} → {after.accuracy.get(lang, 0.0):.3f})"
    )


class RetrainParts(Protocol):
    """What a retraining needs of the running application (bot/runtime.py has them all): it
    trains beside the live model, measures, and switches ``rasa`` to the new process."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def screen(self) -> SafetyScreen: ...

    @property
    def rasa(self) -> RasaClient: ...

    @property
    def rasa_token(self) -> str: ...

    @property
    def callback_token(self) -> str: ...

    @property
    def events(self) -> Publisher: ...

    rasa_process: RasaProcess | None


class Retrainer:
    def __init__(self, runtime: RetrainParts) -> None:
        self.runtime = runtime
        self._lock = asyncio.Lock()
        self.last: RetrainResult | None = None

    @property
    def busy(self) -> bool:
        """A retraining is under way (only one at a time: two switches must never interleave)."""
        return self._lock.locked()

    async def retrain(self, margin: float = 0.01, progress: Progress = _quiet) -> RetrainResult:
        """Train, measure and maybe switch; ``progress`` is told each stage as it starts.

        An unexpected error (training crashed, the candidate never became ready) is a "failed"
        result, not an exception: the live model keeps answering and the phrases stay pending.
        """
        async with self._lock:
            try:
                self.last = await self._retrain(margin, progress)
            except Exception as exc:
                # The type only: an HTTP error's text carries the loopback URL with its token.
                log.warning("retraining failed: %s", type(exc).__name__)
                with self.runtime.db.session() as s:
                    write_admin_data(s, admin_data(self.runtime.settings), include_pending=False)
                self.last = RetrainResult(
                    "failed", type(exc).__name__, Figures(), Figures(), code="error"
                )
            return self.last

    async def _retrain(self, margin: float, progress: Progress) -> RetrainResult:
        rt = self.runtime
        settings = rt.settings
        folder = admin_data(settings)
        progress("checking")
        with rt.db.session() as s:
            # Only the phrases in this training change status: one added meanwhile waits.
            ids = list(
                s.scalars(select(TrainingExample.id).where(TrainingExample.status == "pending"))
            )
            write_admin_data(s, folder, include_pending=True)
        ok, problems = await asyncio.to_thread(validate, settings)
        if not ok:
            with rt.db.session() as s:
                write_admin_data(s, folder, include_pending=False)
            return RetrainResult(
                "failed",
                "rasa data validate: " + problems,
                Figures(),
                Figures(),
                code="validate",
                examples=len(ids),
            )
        progress("training")
        model = await asyncio.to_thread(ensure_model, settings, "config.yml", True)

        candidate_settings = settings.model_copy(update={"rasa_port": free_port()})
        candidate = RasaProcess(candidate_settings, model, rt.rasa_token, rt.callback_token)
        client = RasaClient(candidate_settings.rasa_local_url, rt.rasa_token, timeout=60)
        candidate.start()
        try:
            await candidate.wait_ready(client, settings.rasa_start_timeout)
            progress("measuring")
            before = await measure(rt.rasa, rt)
            after = await measure(client, rt)
        except Exception:
            candidate.stop()
            await client.aclose()
            raise
        await client.aclose()
        reason = verdict(before, after, margin)
        found = blocker(before, after, margin)
        if reason is not None and found is not None:
            candidate.stop()
            with rt.db.session() as s:
                _set_status(s, ids, "rejected")
                write_admin_data(s, folder, include_pending=False)
            log.info("retrained model rejected", extra={"status": "rejected"})
            return RetrainResult(
                "rejected", reason, before, after, model.name, *found, examples=len(ids)
            )
        progress("switching")
        await self._switch(candidate, candidate_settings.rasa_local_url)
        with rt.db.session() as s:
            _set_status(s, ids, "live")
        log.info("retrained model is live", extra={"status": "live"})
        return RetrainResult("live", "", before, after, model.name, examples=len(ids))

    async def restore(self, model: Path) -> None:
        """Put an earlier model back live, with the same lossless switch and no gate (it was
        live before): an operator's undo, and how tests leave the shared stack as they found it.
        """

        rt = self.runtime
        async with self._lock:
            settings = rt.settings.model_copy(update={"rasa_port": free_port()})
            process = RasaProcess(settings, model, rt.rasa_token, rt.callback_token)
            client = RasaClient(settings.rasa_local_url, rt.rasa_token, timeout=60)
            process.start()
            try:
                await process.wait_ready(client, rt.settings.rasa_start_timeout)
            except Exception:
                process.stop()
                raise
            finally:
                await client.aclose()
            await self._switch(process, settings.rasa_local_url)
            log.info("an earlier model is live again", extra={"status": "restored"})

    async def _switch(self, new: RasaProcess, url: str) -> None:
        """Hold requests, copy live trackers, point the client at the new process, stop the old."""
        rt = self.runtime
        rt.rasa.hold()
        try:
            with rt.db.session() as s:
                senders = list(
                    s.scalars(
                        select(Conversation.rasa_sender).where(Conversation.mode != Mode.CLOSED)
                    )
                )
            trackers = {}
            for sender in senders:
                try:
                    trackers[sender] = await rt.rasa.tracker_events(sender)
                except Exception:
                    log.warning("tracker not copied")
            old = rt.rasa_process
            await rt.rasa.switch(url)
            for sender, events in trackers.items():
                if events:
                    await rt.rasa.replace_events(sender, events)
            # Someone who sent EXIT or DELETE during the copy: their tracker must not come back.
            with rt.db.session() as s:
                still = set(
                    s.scalars(
                        select(Conversation.rasa_sender).where(
                            Conversation.rasa_sender.in_(list(trackers))
                        )
                    )
                )
            for sender in set(trackers) - still:
                await rt.rasa.replace_events(sender, [])
            rt.rasa_process = new
            if old is not None:
                await asyncio.to_thread(old.stop)
        finally:
            rt.rasa.release()
        # The other processes on the database switch their own Rasa to the same model.
        rt.events.publish(Event(MODEL_SWITCHED, data={"model": new.model.name}))


def _set_status(session: Session, ids: list[int], status: str) -> None:
    """Mark the phrases a retraining used; ones removed meanwhile are simply gone."""
    if not ids:
        return
    for ex in session.scalars(
        select(TrainingExample).where(
            TrainingExample.id.in_(ids), TrainingExample.status == "pending"
        )
    ):
        ex.status = status
