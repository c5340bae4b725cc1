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
from bot.settings import PROJECT_ROOT, Settings, private_dir

PR_SET_PDEATHSIG = 1
# The API token reaches Rasa in its environment (readable by this user only), never in its argv
# (readable by every user through `ps`). addons/rest_with_token.py reads the same variable.
TOKEN_VARIABLE = "BOT_RASA_TOKEN"
LAUNCH = (
    "import os, sys\n"
    "from rasa.__main__ import main\n"
    "sys.argv = ['rasa', *sys.argv[1:], '--auth-token', os.environ['BOT_RASA_TOKEN']]\n"
    "sys.exit(main())\n"
)
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
        env[TOKEN_VARIABLE] = self.api_token  # never on the command line: `ps` shows that to all
        log_dir = self.settings.data_dir / "log"
        private_dir(self.settings.data_dir)
        private_dir(log_dir)
        fd = os.open(log_dir / "rasa.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.chmod(log_dir / "rasa.log", 0o600)
        log_file = os.fdopen(fd, "ab")
        cmd = [
            str(self.settings.rasa_venv / "bin" / "python"),
            "-c",
            LAUNCH,
            "run",
            "--enable-api",
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
