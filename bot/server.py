"""Run the whole stack in one place: the bot server (uvicorn) and, when asked, the Rasa process."""

from __future__ import annotations

import asyncio
import os
from types import TracebackType

import uvicorn

from bot.app import create_app
from bot.logging import configure
from bot.rasa.model import admin_data, ensure_model
from bot.rasa.process import RasaProcess
from bot.rasa.retrain import write_admin_data
from bot.runtime import Runtime, build_runtime
from bot.settings import Settings, secure_data_dir


class Stack:
    """``async with Stack(settings) as runtime:`` gives a running, ready assistant."""

    def __init__(self, settings: Settings, start_rasa: bool = True, quiet: bool = False) -> None:
        self.settings = settings
        self.start_rasa = start_rasa
        self.quiet = quiet
        self.runtime: Runtime | None = None
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None
        self.rasa: RasaProcess | None = None

    async def __aenter__(self) -> Runtime:
        configure(self.settings.log_level)
        # Every file this process makes (SQLite and its WAL, logs, uploads) is for this user only.
        os.umask(0o077)
        secure_data_dir(self.settings.data_dir)
        runtime = build_runtime(self.settings)
        self.runtime = runtime
        model = None
        if self.start_rasa:
            # The admins' live example phrases are part of the model's training data.
            with runtime.db.session() as s:
                write_admin_data(s, admin_data(self.settings), include_pending=False)
            model = ensure_model(self.settings, quiet=self.quiet)
        app = create_app(runtime)
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise RuntimeError("the bot server stopped while starting")
            await asyncio.sleep(0.05)
        if model is not None:
            self.rasa = RasaProcess(
                self.settings, model, runtime.rasa_token, runtime.callback_token
            )
            self.rasa.start()
            runtime.rasa_process = self.rasa
            await self.rasa.wait_ready(runtime.rasa, self.settings.rasa_start_timeout)
        return runtime

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        current = self.runtime.rasa_process if self.runtime is not None else None
        for process in {id(p): p for p in (self.rasa, current) if p is not None}.values():
            process.stop()
        if self.server is not None:
            self.server.should_exit = True
        if self.task is not None:
            await self.task
        if self.runtime is not None:
            await self.runtime.aclose()

    def stop(self) -> None:
        """Ask the server to finish; ``serve_forever`` then returns and the stack closes."""
        if self.server is not None:
            self.server.should_exit = True

    async def serve_forever(self) -> None:
        assert self.task is not None
        await self.task
