"""The two processes of deploy/compose.yaml, with their own command lines, on the real model:
`bot run --no-rasa` and `bot rasa serve` (the same Rasa command `bot run` uses). Together they
answer a message through Rasa and its callbacks on loopback; Rasa stops cleanly on SIGTERM and the
bot goes on with the next one; and with ``--exit-without-bot`` Rasa ends (code 75, "start me
again") once the bot is gone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fakes import free_port

from bot.cli import build_parser
from bot.rasa.model import model_path
from bot.settings import Settings
from bot.store.crypto import Crypto

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SECRET = "deploy-e2e-secret-key-not-for-production"


def services() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return dict(data["services"])


def entrypoint() -> list[str]:
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("ENTRYPOINT "):
            entry = json.loads(line.removeprefix("ENTRYPOINT "))
            return [sys.executable, *entry[1:]]
    raise AssertionError("no ENTRYPOINT")


def environment(service: dict[str, Any], tmp: Path, port: int, rasa_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({k: str(v) for k, v in service["environment"].items()})
    if "BOT_RASA_URL" in env:
        env["BOT_RASA_URL"] = f"http://127.0.0.1:{rasa_port}"
    env.update(
        BOT_HOST="127.0.0.1",
        BOT_PORT=str(port),
        BOT_RASA_PORT=str(rasa_port),
        # The compose file's service names, on this machine's loopback (Redis with a prefix of
        # this test's own).
        BOT_REDIS_URL="redis://127.0.0.1:6379/0",
        BOT_REDIS_KEY_PREFIX=f"deploytest{port}",
        BOT_DATA_DIR=str(tmp),
        BOT_DATABASE_URL=f"sqlite:///{tmp.parent / 'bot.sqlite3'}",
        BOT_SECRET_KEY=SECRET,
        BOT_TEAM_HOURS="mon-sun 00:00-23:59",
    )
    return env


async def wait_for(url: str, check: Any, seconds: float, *procs: asyncio.subprocess.Process) -> Any:
    async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(seconds):
        while True:
            for proc in procs:
                assert proc.returncode is None, "a process stopped while starting"
            try:
                r = await client.get(url)
                if check(r):
                    return r
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)


async def start(argv: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def test_bot_and_rasa_as_two_services_answer_and_stop(tmp_path: Path) -> None:
    if not model_path(Settings(data_dir=tmp_path / "rasa")).exists():
        pytest.skip("no trained model for the current inputs (make setup trains it)")
    compose = services()
    rasa_argv = list(compose["rasa"]["command"])
    assert build_parser().parse_args(rasa_argv).exit_without_bot == 60
    rasa_argv[rasa_argv.index("--exit-without-bot") + 1] = "15"  # the same, shorter
    port, rasa_port = free_port(), free_port()
    bot_env = environment(compose["bot"], tmp_path / "bot", port, rasa_port)
    rasa_env = environment(compose["rasa"], tmp_path / "rasa", port, rasa_port)
    bot = await start([*entrypoint(), *compose["bot"]["command"]], bot_env)
    rasa = await start([*entrypoint(), *rasa_argv], rasa_env)
    try:
        base = f"http://127.0.0.1:{port}"
        ok = await wait_for(
            f"{base}/healthz", lambda r: r.json().get("status") == "ok", 300, bot, rasa
        )
        assert ok.json()["rasa"] == "ready"
        # Rasa answers on loopback only, and its API wants the token derived from the secret.
        async with httpx.AsyncClient(timeout=30) as client:
            status = await client.get(f"http://127.0.0.1:{rasa_port}/status")
            assert status.status_code == 401
            token = Crypto(SECRET).internal_token("terminal")
            turn = await client.post(
                f"{base}/dev/terminal",
                json={"user": "deploy-e2e", "text": "i need a lawyer", "language_hint": "en"},
                headers={"x-bot-token": token},
            )
            assert turn.status_code == 200
            result = turn.json()
            assert result["intent"] and result["replies"], result  # Rasa and its callbacks
            metrics = await client.get(f"{base}/metrics")
            assert "safe_harbour_rasa_up 1" in metrics.text
            # The Rasa service restarts (docker restart, a crash): the bot waits, then goes on
            # with the new one, sending each conversation's slots again.
            rasa.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(rasa.wait(), 60) == 0
            degraded = await client.get(f"{base}/healthz")
            assert degraded.json()["status"] == "degraded"
            rasa = await start([*entrypoint(), *rasa_argv], rasa_env)
            await wait_for(
                f"{base}/healthz", lambda r: r.json().get("status") == "ok", 300, bot, rasa
            )
            again = await client.post(
                f"{base}/dev/terminal",
                json={"user": "deploy-e2e", "text": "i need a place to sleep"},
                headers={"x-bot-token": token},
            )
            assert again.status_code == 200 and again.json()["replies"], again.text
        # The bot goes away: Rasa follows (so a container restart re-joins the bot's network).
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), 60) == 0
        assert await asyncio.wait_for(rasa.wait(), 60) == 75
        output = (await rasa.stdout.read()).decode() if rasa.stdout else ""
        assert "Traceback" not in output
        said = (await bot.stdout.read()).decode() if bot.stdout else ""
        assert "rasa answers again" in said and "Traceback" not in said
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{rasa_port}/", timeout=2)
    finally:
        await stop(bot)
        await stop(rasa)


async def test_the_systemd_rasa_unit_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    if not model_path(Settings(data_dir=tmp_path)).exists():
        pytest.skip("no trained model for the current inputs (make setup trains it)")
    (line,) = [
        x.split("=", 1)[1]
        for x in (DEPLOY / "systemd" / "safe-harbour-rasa.service").read_text().splitlines()
        if x.startswith("ExecStart=")
    ]
    argv = [sys.executable, *line.split()[1:]]
    port, rasa_port = free_port(), free_port()
    env = environment({"environment": {}}, tmp_path, port, rasa_port)
    rasa = await start(argv, env)
    try:
        hello = await wait_for(
            f"http://127.0.0.1:{rasa_port}/", lambda r: r.status_code == 200, 300, rasa
        )
        assert "Rasa" in hello.text
        # Without --exit-without-bot, no bot is needed: it keeps running until told to stop.
        await asyncio.sleep(3)
        assert rasa.returncode is None
        rasa.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(rasa.wait(), 60) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{rasa_port}/", timeout=2)
        log = (tmp_path / "log" / "rasa.log").stat()
        assert log.st_mode & 0o077 == 0  # Rasa's log is the service's own, as under `bot run`
    finally:
        await stop(rasa)
