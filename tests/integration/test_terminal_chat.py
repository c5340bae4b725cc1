"""`bot chat` in a terminal, against the running server on loopback: what staff send from the
console between the person's turns reaches the terminal as it arrives, marked, while the chat
waits for a line; the person's own lines still go through one at a time (issue #14, item 2)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest
from kit import Account, Survivor, clean_presence, staff
from sqlalchemy import select

from bot.cli import SENT_MARK, STAFF_MARK
from bot.runtime import Runtime
from bot.store.models import HandoffMessage, Mode
from bot.types import Reply

__all__ = ["clean_presence", "staff"]  # fixtures used by name

ROOT = Path(__file__).resolve().parents[2]


class Terminal:
    """A real `bot chat` process; ``until`` reads its output (prompts have no newline)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output = ""

    async def until(self, text: str, timeout: float = 30.0) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while text not in self.output:
                chunk = await self.process.stdout.read(4096)
                if not chunk:
                    raise AssertionError(f"bot chat ended before {text!r}: {self.output!r}")
                self.output += chunk.decode()
        return self.output

    async def until_more(self, seen: int, timeout: float = 30.0) -> str:
        """The answer to a line: more output, ending with the prompt again."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while len(self.output) <= seen or not self.output.endswith("\n> "):
                chunk = await self.process.stdout.read(4096)
                if not chunk:
                    raise AssertionError(f"bot chat ended: {self.output!r}")
                self.output += chunk.decode()
        return self.output[seen:]

    async def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()


async def start_chat(stack: Runtime, user: str, tmp: Path) -> Terminal:
    env = dict(
        os.environ,
        BOT_DATA_DIR=str(tmp),
        BOT_HOST="127.0.0.1",
        BOT_PORT=str(stack.settings.port),
        BOT_SECRET_KEY=stack.settings.key(),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "chat",
        "--user",
        user,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    return Terminal(process)


@pytest.mark.usefixtures("clean_presence")
async def test_bot_chat_prints_what_staff_send_while_it_waits_for_a_line(
    stack: Runtime, staff: dict[str, Account], tmp_path: Path
) -> None:
    survivor = Survivor(stack, "es", "MX", channel="terminal")
    await survivor.ask_for_person()
    assert (await survivor.tap("/handoff_yes")).mode == Mode.QUEUED
    req = survivor.request()
    assert req is not None
    terminal = await start_chat(stack, survivor.user, tmp_path)
    try:
        await terminal.until("An empty line or Ctrl-D ends the chat.\n> ")
        lucia = staff["lucia"]
        joined = await stack.live.accept(req.id, lucia.id, lucia.name)
        await stack.live.reply(req.id, lucia.id, "Hola, soy Lucía.\n¿Cómo estás hoy?")
        out = await terminal.until(f"{STAFF_MARK}¿Cómo estás hoy?\n\n> ")
        assert not joined.held
        (line,) = [r for r in joined.now if r.key == "utter_staff_joined"]
        marked = "\n".join(SENT_MARK + x for x in line.text.splitlines())  # each line marked
        assert f"\n{marked}\n" in out and line.text.count("\n") == 1
        assert out.endswith(
            f"\n{STAFF_MARK}Hola, soy Lucía.\n{STAFF_MARK}¿Cómo estás hoy?\n\n> "
        ), out
        assert survivor.delivered() == []  # the terminal took them: nothing left in memory
        # The person answers from the same terminal: a line goes to Lucía, as before.
        before = len(terminal.output)
        await terminal.type("bien, gracias")
        await terminal.until_more(before)
        await terminal.type("")
        assert await asyncio.wait_for(terminal.process.wait(), 30) == 0
        with stack.db.session() as s:
            kept = list(
                s.scalars(
                    select(HandoffMessage.direction)
                    .where(HandoffMessage.handoff_id == req.id)
                    .order_by(HandoffMessage.id)
                )
            )
        assert kept[-2:] == ["out", "in"]
    finally:
        if terminal.process.returncode is None:
            terminal.process.kill()
            await terminal.process.wait()


async def test_terminal_messages_are_for_the_local_terminal_only(stack: Runtime) -> None:
    contact = stack.crypto.pseudonym("terminal", "someone-else")
    await stack.delivery.send(contact, [Reply(text="kept for the terminal", key="staff_message")])
    url = f"http://127.0.0.1:{stack.settings.port}/dev/terminal/messages"
    async with httpx.AsyncClient() as client:
        refused = await client.get(url, params={"user": "someone-else"})
        assert refused.status_code == 403
        wrong = await client.get(
            url, params={"user": "someone-else"}, headers={"x-bot-token": "not the token"}
        )
        assert wrong.status_code == 403
        token = stack.crypto.internal_token("terminal")
        given = await client.get(
            url, params={"user": "someone-else", "wait": "nan"}, headers={"x-bot-token": token}
        )
        assert given.json() == {
            "replies": [{"text": "kept for the terminal", "key": "staff_message", "buttons": []}]
        }
        again = await client.get(
            url, params={"user": "someone-else", "wait": "0"}, headers={"x-bot-token": token}
        )
        assert again.json() == {"replies": []}  # taken once
    assert stack.delivery.sent.get(contact) is None
