"""What another user or process on the machine can get from the Rasa process (``-m security``):
not its token (it is not on the command line), not a dialogue turn (the REST channel wants the
token), not the data directory (0700, files 0600)."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import httpx
import pytest

from bot.runtime import Runtime

pytestmark = pytest.mark.security


async def test_the_rasa_token_is_not_on_any_command_line(real_stack: Runtime) -> None:
    process = real_stack.rasa_process
    assert process is not None and process.proc is not None
    cmdline = Path(f"/proc/{process.proc.pid}/cmdline").read_bytes()
    assert b"--enable-api" in cmdline
    assert real_stack.rasa_token.encode() not in cmdline


async def test_the_rest_channel_refuses_a_turn_without_the_token(real_stack: Runtime) -> None:
    # The live process's address: a retraining test before this one switched the stack to a new
    # Rasa on another port (settings.rasa_endpoint still names the first one).
    url = f"{real_stack.rasa.base_url}/webhooks/rest/webhook"
    turn = {"sender": f"s-{uuid.uuid4().hex}", "message": "/greet"}
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(url, json=turn)).status_code == 403
        wrong = await client.post(url, json=turn, params={"token": "not-the-token"})
        assert wrong.status_code == 403
        right = await client.post(url, json=turn, params={"token": real_stack.rasa_token})
        assert right.status_code == 200 and isinstance(right.json(), list)


async def test_the_data_directory_is_private(real_stack: Runtime) -> None:
    data = real_stack.settings.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    log = data / "log" / "rasa.log"
    for path in (log, *data.glob("bot.sqlite3*"), data / "secret_key"):
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
