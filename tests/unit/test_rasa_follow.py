"""`bot run --no-rasa`: a Rasa service that stops answering and answers again was restarted, so
the bot treats it as a new instance (the conversations send their slots again)."""

from __future__ import annotations

import asyncio

from bot.rasa.process import follow_restarts


class Answers:
    """A Rasa client's ``ready()`` following a script of answers, then staying at the last."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.instance = "initial"
        self.instances: list[str] = []

    async def ready(self) -> bool:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        self.instances.append(self.instance)
        return answer


async def run(client: Answers, checks: int) -> None:
    task = asyncio.create_task(follow_restarts(client, check_seconds=0))  # type: ignore[arg-type]
    while len(client.instances) < checks:
        await asyncio.sleep(0)
    task.cancel()


async def test_a_rasa_that_comes_back_is_a_new_instance() -> None:
    client = Answers(True, True, False, False, True, True)
    await run(client, 8)
    assert client.instances[:5] == ["initial"] * 5
    assert client.instance != "initial"
    assert set(client.instances[5:]) == {client.instance}  # once, not at every check


async def test_a_rasa_that_keeps_answering_stays_the_same() -> None:
    client = Answers(True)
    await run(client, 10)
    assert client.instance == "initial"
