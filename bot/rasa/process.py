"""Start, stop and supervise the Rasa process: loopback only, token auth, telemetry off, callbacks
to us. ``RasaSupervisor`` restarts a Rasa that died or hung, with backoff; each start is a new
``instance`` (its trackers are empty), so the conversation sends its slots again."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bot.rasa.client import RasaClient
from bot.rasa.endpoints import (
    CALLBACK_TOKEN_VARIABLE,
    CALLBACK_URL_VARIABLE,
    redis_environment,
    write_endpoints,
)
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
log = logging.getLogger("bot.rasa")
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
        self.instance = uuid.uuid4().hex[:12]  # this start's trackers; a restart is a new one
        self.stopped = False  # stopped on purpose (shutdown, a model switch): not restarted
        self.endpoints = settings.data_dir / "rasa" / "endpoints.yml"  # written by start()

    def successor(self) -> RasaProcess:
        """The same Rasa (settings, model, port, tokens), to start in place of a dead one."""
        return type(self)(self.settings, self.model, self.api_token, self.callback_token)

    def command(self) -> list[str]:
        return [
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
            str(self.endpoints),
            "--credentials",
            "credentials.yml",
            "--quiet",
        ]

    def exit_code(self) -> int | None:
        """None while it runs; its exit code once it ended (and reaped: no zombie stays)."""
        return None if self.proc is None else self.proc.poll()

    def kill(self) -> None:
        """End a hung Rasa at once (its supervisor starts the next)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def environment(self) -> dict[str, str]:
        """Rasa's environment: telemetry off, where to call back, the Redis password if any, and
        the tokens (never in argv: `ps` shows that to every user). None of the bot's own secrets:
        only what its endpoints file names."""
        env = rasa_env()
        for name in ("BOT_SECRET_KEY", "BOT_REDIS_URL", "BOT_DATABASE_URL"):
            env.pop(name, None)
        env[CALLBACK_URL_VARIABLE] = self.settings.callback_url
        env[CALLBACK_TOKEN_VARIABLE] = self.callback_token
        env.update(redis_environment(self.settings))  # the Redis password, if the URL has one
        env[TOKEN_VARIABLE] = self.api_token
        return env

    def start(self) -> None:
        self.endpoints = write_endpoints(self.settings)
        env = self.environment()
        log_dir = self.settings.data_dir / "log"
        private_dir(self.settings.data_dir)
        private_dir(log_dir)
        fd = os.open(log_dir / "rasa.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.chmod(log_dir / "rasa.log", 0o600)
        log_file = os.fdopen(fd, "ab")
        cmd = self.command()
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
        self.stopped = True
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


class RasaSupervisor:
    """Keeps the current Rasa process running while the bot runs.

    Every ``check_seconds``: a Rasa that exited (a crash, the OOM killer, SIGKILL) is reaped and
    started again after 1 s, 2 s, 4 s … up to ``BOT_RASA_RESTART_MAX_SECONDS`` (a model that
    cannot load must not spin); one that has not answered ``/status`` for ``hung_seconds`` is
    killed and started again the same way. The backoff starts over once a Rasa is ready. A
    process stopped on purpose (shutdown, a model switch) is left alone. Meanwhile the inbox
    keeps the messages that need Rasa, and answers them once it is back.
    """

    def __init__(
        self,
        client: RasaClient,
        get_process: Callable[[], RasaProcess | None],
        replace: Callable[[RasaProcess], None],
        max_backoff: float,
        hung_seconds: float,
        check_seconds: float = 1.0,
    ) -> None:
        self.client = client
        self.get_process = get_process
        self.replace = replace
        self.max_backoff = max_backoff
        self.hung_seconds = hung_seconds
        self.check_seconds = check_seconds
        self.restarts = 0
        self.ready = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 1.0
        answered = loop.time()  # when Rasa last answered, or was (re)started
        while True:
            process = self.get_process()
            if process is None or process.stopped:
                await asyncio.sleep(self.check_seconds)
                continue
            code = process.exit_code()
            if code is None and loop.time() - answered > self.hung_seconds:
                log.error("rasa hung; killing it", extra={"seconds": round(self.hung_seconds)})
                process.kill()
                code = process.exit_code()
            if code is not None:
                self.ready = False
                log.error("rasa exited", extra={"code": code, "seconds": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                if self.get_process() is not process:
                    continue  # a model switch replaced it meanwhile
                self.restart(process)
                answered = loop.time()
                continue
            self.ready = await self.client.ready()
            if self.ready:
                answered = loop.time()
                backoff = 1.0
            await asyncio.sleep(self.check_seconds)

    def restart(self, dead: RasaProcess) -> RasaProcess:
        fresh = dead.successor()
        fresh.start()
        self.client.instance = fresh.instance
        self.replace(fresh)
        self.restarts += 1
        log.warning("rasa restarted", extra={"attempts": self.restarts})
        return fresh


def serve(
    process: RasaProcess,
    bot_alive: Callable[[], bool] | None = None,
    gone_seconds: float = 0.0,
    check_seconds: float = 2.0,
) -> int:
    """Run ``process`` in the foreground until it ends or this process gets SIGTERM/SIGINT
    (``bot rasa serve``: a service manager, not the bot, keeps Rasa running). Returns Rasa's own
    exit code, so a Rasa that died is restarted by the manager; 0 when asked to stop.

    With ``bot_alive`` and ``gone_seconds``: once the bot has answered, a bot that stops
    answering for that long ends Rasa too, with code 75. For containers sharing the bot's
    network namespace: after the bot's container restarts, this one must restart to join it."""
    stopping = threading.Event()

    def ask_to_stop(signum: int, frame: object) -> None:
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, ask_to_stop)
    process.start()
    log.info("rasa started")
    seen_bot, last_seen = False, time.monotonic()
    while not stopping.wait(check_seconds):
        code = process.exit_code()
        if code is not None:
            log.error("rasa exited", extra={"status": code})
            return code if code != 0 else 1  # it was not asked to stop: never "success"
        if bot_alive is None or gone_seconds <= 0:
            continue
        if bot_alive():
            seen_bot, last_seen = True, time.monotonic()
        elif seen_bot and time.monotonic() - last_seen > gone_seconds:
            log.error("bot gone; stopping rasa", extra={"seconds": round(gone_seconds)})
            process.stop()
            return 75  # EX_TEMPFAIL: start again
    process.stop()
    return 0


async def follow_restarts(client: RasaClient, check_seconds: float = 2.0) -> None:
    """For a Rasa this process does not start (``bot run --no-rasa`` beside ``bot rasa serve``):
    ask it how it is every ``check_seconds``, so a restart is seen even when no turn or health
    check comes. The client itself notices one (a request found nobody listening, a later one
    got an answer): Rasa becomes a new ``instance``, and each conversation sends its routing
    slots again at its next turn (harmless when the trackers were kept elsewhere). Loading a
    model takes far longer than ``check_seconds``, so no restart goes unseen."""
    client.notices_restarts = True
    while True:
        await client.ready()
        await asyncio.sleep(check_seconds)
