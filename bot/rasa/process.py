"""Start and stop the Rasa process: loopback only, token auth, telemetry off, callbacks to us."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
from pathlib import Path

from bot.rasa.client import RasaClient
from bot.rasa.model import rasa_env
from bot.settings import PROJECT_ROOT, Settings

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _die_with_parent() -> None:
    """In the child before exec: Linux sends SIGTERM to Rasa when the bot's thread that started it
    goes away, even after SIGKILL, so no orphaned Rasa keeps its port and memory. (Start it from
    the event-loop thread, never from a short-lived worker thread.)"""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class RasaProcess:
    def __init__(
        self, settings: Settings, model: Path, api_token: str, callback_token: str
    ) -> None:
        self.settings = settings
        self.model = model
        self.api_token = api_token
        self.callback_token = callback_token
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = rasa_env()
        env["BOT_CALLBACK_URL"] = self.settings.callback_url
        env["BOT_CALLBACK_TOKEN"] = self.callback_token
        log_dir = self.settings.data_dir / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = (log_dir / "rasa.log").open("ab")
        cmd = [
            str(self.settings.rasa_venv / "bin" / "rasa"),
            "run",
            "--enable-api",
            "--auth-token",
            self.api_token,
            "--interface",
            self.settings.rasa_host,
            "--port",
            str(self.settings.rasa_port),
            "--model",
            str(self.model),
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
            "--quiet",
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # one prctl call between fork and exec
        )
        log_file.close()

    async def wait_ready(self, client: RasaClient, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"Rasa exited with code {self.proc.returncode}; see var/log/rasa.log"
                )
            if await client.ready():
                return
            await asyncio.sleep(0.5)
        raise TimeoutError("Rasa did not become ready in time; see var/log/rasa.log")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None
