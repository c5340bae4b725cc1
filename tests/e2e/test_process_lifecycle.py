"""`bot run` never leaves its Rasa process behind: not on SIGTERM (systemd, docker stop), not
even when the bot itself is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import free_port

ROOT = Path(__file__).resolve().parents[2]


def rasa_children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"--enable-api" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pid: int, timeout: float = 40) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.2)
    return False


def start_bot(tmp: Path) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        BOT_DATA_DIR=str(tmp),
        BOT_SECRET_KEY="lifecycle-test-key",
        BOT_HOST="127.0.0.1",
        BOT_PORT=str(free_port()),
        BOT_RASA_PORT=str(free_port()),
        BOT_LOG_LEVEL="WARNING",
    )
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert bot.stdout is not None
    for line in bot.stdout:  # Rasa is ready when the bot says so
        if "The assistant is ready" in line:
            break
    children = rasa_children(bot.pid)
    assert len(children) == 1, "the bot should run exactly one Rasa process"
    return bot, children[0]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_rasa_stops_with_the_bot(tmp_path: Path, how: signal.Signals) -> None:
    bot, rasa = start_bot(tmp_path)
    try:
        bot.send_signal(how)
        code = bot.wait(timeout=60)
        if how == signal.SIGTERM:
            assert code == 0  # a graceful stop, not death by the signal
        assert wait_gone(rasa), "Rasa outlived the bot"
    finally:
        for pid in (bot.pid, rasa):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
