"""Run the whole stack in one place: the bot server (uvicorn) and, when asked, the Rasa process.

The server listens first, so webhooks are accepted (durably, into the inbox) while the model is
found or trained and Rasa loads; messages that need Rasa wait for it, the rest is answered at once.
Rasa is then kept running by a ``RasaSupervisor``. On SQLite the stack holds ``SingleProcess``: a
second bot process on the same file stops at start with a message saying why. On PostgreSQL it
announces the process in ``bot_processes`` (``Processes``): a second process whose Rasa would not
share the first one's dialogue (no ``BOT_REDIS_URL``) stops at start the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from types import TracebackType

import uvicorn

from bot.app import create_app
from bot.events import MODEL_SWITCHED, Event
from bot.logging import configure
from bot.progress import INDENT, Progress
from bot.rasa.endpoints import RedisTarget
from bot.rasa.model import admin_data, ensure_model, needs_training
from bot.rasa.process import RasaProcess, RasaSupervisor
from bot.rasa.retrain import Retrainer, write_admin_data
from bot.runtime import Runtime, build_runtime
from bot.settings import Settings, secure_data_dir
from bot.store.db import Database
from bot.store.leases import SingleProcess
from bot.store.processes import MEMORY, Processes, redis_state
from bot.store.schema_state import migrate_and_describe

log = logging.getLogger("bot.server")


class Stack:
    """``async with Stack(settings) as runtime:`` gives a running, ready assistant."""

    def __init__(
        self,
        settings: Settings,
        start_rasa: bool = True,
        quiet: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        # BOT_RASA_URL names a Rasa that runs already: this process starts none.
        self.start_rasa = start_rasa and not settings.rasa_external
        self.quiet = quiet
        # `bot run` shows each phase and how long it usually takes; tests, `bot chat` and
        # `bot eval` pass nothing and say what they do in their own words.
        self.progress = progress or Progress(None)
        self.runtime: Runtime | None = None
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None
        self.rasa: RasaProcess | None = None
        self.supervisor: RasaSupervisor | None = None
        self._supervising: asyncio.Task[None] | None = None
        self.single: SingleProcess | None = None
        self.processes: Processes | None = None
        self._announcing: asyncio.Task[None] | None = None
        self._following: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Runtime:
        configure(self.settings.log_level)
        # Every file this process makes (SQLite and its WAL, logs, uploads) is for this user only.
        os.umask(0o077)
        secure_data_dir(self.settings.data_dir)
        # RedisUrlError: said before anything runs (also under --no-rasa: the URL says whether
        # this process's dialogue is shared with the others on the database).
        state = rasa_state(self.settings)
        url = self.settings.sqlalchemy_url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            self.single = SingleProcess(Path(url.removeprefix("sqlite:///")))
            self.single.acquire()  # raises AnotherProcess, with the reason, if one runs
        try:
            with self.progress.phase("Preparing the database", "usually a few seconds"):
                runtime = self._build_runtime()
        except BaseException:
            if self.single is not None:
                self.single.release()
            raise
        if runtime.db.engine.dialect.name == "postgresql":
            self.processes = Processes(runtime.db, state, self.settings.lease_seconds)
            try:
                # Raises UnsharedRasa, with what to set, beside a process whose Rasa would not
                # share this one's dialogue.
                await asyncio.to_thread(self.processes.join)
            except BaseException:
                await runtime.aclose()
                raise
            self._announcing = asyncio.create_task(self.processes.run())
        self.runtime = runtime
        app = create_app(runtime)
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            proxy_headers=True,
            forwarded_allow_ips=self.settings.trusted_proxies,
        )
        self.server = uvicorn.Server(config)
        with self.progress.phase("Starting the web server", "usually a few seconds"):
            self.task = asyncio.create_task(self.server.serve())
            while not self.server.started:
                if self.task.done():
                    self.task.result()
                    raise RuntimeError("the bot server stopped while starting")
                await asyncio.sleep(0.05)
        if self.start_rasa:
            # The admins' live example phrases are part of the model's training data.
            with runtime.db.session() as s:
                write_admin_data(s, admin_data(self.settings), include_pending=False)
            # Training (the first time) takes minutes: the server answers meanwhile.
            if needs_training(self.settings):
                what = "Training the language model"
                usually = "usually 2–4 minutes on 2 cores; only when its training data changed"
            else:
                what, usually = "Finding the language model", "usually a moment"
            with self.progress.phase(what, usually):
                model = await asyncio.to_thread(ensure_model, self.settings, quiet=self.quiet)
            with self.progress.phase(
                "Starting Rasa", "usually 20–60 seconds: it loads the model into memory"
            ):
                self.rasa = RasaProcess(
                    self.settings, model, runtime.rasa_token, runtime.callback_token
                )
                self.rasa.start()
                runtime.rasa.instance = self.rasa.instance
                runtime.rasa_process = self.rasa
                await self.rasa.wait_ready(runtime.rasa, self.settings.rasa_start_timeout)
            self.supervise(runtime)
            runtime.events.on(MODEL_SWITCHED, self.follow_model)
        return runtime

    def _build_runtime(self) -> Runtime:
        """Migrate first and say what that did ("created the database" on a new one), then build.

        An in-memory SQLite database lives in one engine only, so there the runtime migrates it.
        """
        if self.settings.sqlalchemy_url == "sqlite:///:memory:":
            return build_runtime(self.settings)
        db = Database(self.settings.sqlalchemy_url)
        try:
            self.progress.say(INDENT + migrate_and_describe(db))
        finally:
            db.dispose()
        return build_runtime(self.settings, migrate=False)

    async def follow_model(self, event: Event) -> None:
        """Another process switched its Rasa to a new model (a retraining from the console, or
        an operator's restore): switch ours to the same file, so that every process answers with
        the same model. In the background: the switch loads a model, and other events must not
        wait for it. Our own switch then tells the others, who already run it and stop there."""
        name = str(event.data.get("model") or "")
        runtime = self.runtime
        current = runtime.rasa_process if runtime is not None else None
        if runtime is None or current is None or not name or current.model.name == name:
            return
        model = self.settings.model_dir / Path(name).name
        if not model.is_file():
            log.warning("another process switched to a model this host does not have")
            return
        if self._following is not None and not self._following.done():
            await self._following  # one switch at a time

        async def switch() -> None:
            try:
                await Retrainer(runtime).restore(model)
            except Exception as exc:
                log.error("could not follow a model switch", extra={"error": type(exc).__name__})

        self._following = asyncio.create_task(switch())

    def supervise(self, runtime: Runtime) -> RasaSupervisor:
        """Keep ``runtime.rasa_process`` running (restarted with backoff if it dies or hangs)."""

        def replace(process: RasaProcess) -> None:
            runtime.rasa_process = process

        self.supervisor = RasaSupervisor(
            runtime.rasa,
            lambda: runtime.rasa_process,
            replace,
            max_backoff=self.settings.rasa_restart_max_seconds,
            hung_seconds=self.settings.rasa_start_timeout,
        )
        self._supervising = asyncio.create_task(self.supervisor.run())
        return self.supervisor

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._following is not None:
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._following
        if self._supervising is not None:
            self._supervising.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervising
        current = self.runtime.rasa_process if self.runtime is not None else None
        for process in {id(p): p for p in (self.rasa, current) if p is not None}.values():
            process.stop()
        if self.server is not None:
            self.server.should_exit = True
        if self.task is not None:
            await self.task
        if self._announcing is not None:
            self._announcing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._announcing
        if self.processes is not None:
            await asyncio.to_thread(self.processes.leave)
        if self.runtime is not None:
            await self.runtime.aclose()
        if self.single is not None:
            self.single.release()

    def stop(self) -> None:
        """Ask the server to finish; ``serve_forever`` then returns and the stack closes."""
        if self.server is not None:
            self.server.should_exit = True

    async def serve_forever(self) -> None:
        assert self.task is not None
        await self.task


def rasa_state(settings: Settings) -> str:
    """Where this process's Rasa keeps its dialogue: in Redis (``BOT_REDIS_URL``; a Rasa run
    apart with ``bot rasa serve`` reads the same environment) or in its own memory.

    A Rasa reached at ``BOT_RASA_URL`` is not taken as shared by itself: Rasa calls back only
    the one bot it was started for, on loopback, and only the process that asked knows the turn
    under way, so one Rasa does not serve several bots (docs/deploy.md, Rasa run separately); and
    the same URL (``http://127.0.0.1:5005``) names one Rasa per host or container.
    """
    if not settings.redis_url.strip():
        return MEMORY
    target = RedisTarget.parse(settings.redis_url)  # RedisUrlError: an unreadable URL
    return redis_state(target.host, target.port, target.db, settings.redis_key_prefix)
