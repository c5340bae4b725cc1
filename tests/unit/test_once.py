"""This process's memory of what was done once (bot/store/once.py): a key is first once, forgotten
after its day or when ``forget`` says it failed, and the memory stays bounded."""

from __future__ import annotations

import pytest

import bot.store.once as once_module
from bot.store.once import ONCE_SECONDS, STAMP_SECONDS, MemoryOnce


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_is_first_once_until_its_day_is_over() -> None:
    clock = Clock()
    once = MemoryOnce(clock)
    assert await once.first("a")
    assert not await once.first("a")
    assert await once.first("b")  # another key is its own
    clock.now += ONCE_SECONDS + 1
    assert await once.first("a")


async def test_forget_lets_the_next_try_through() -> None:
    once = MemoryOnce()
    assert await once.first("a")
    await once.forget("a")
    assert await once.first("a")


async def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(once_module, "MEMORY_KEYS", 3)
    clock = Clock()
    once = MemoryOnce(clock)
    for key in "abcd":
        assert await once.first(key)
    assert len(once._seen) <= 3
    assert not await once.first("d")  # the newest are kept, the oldest go first


async def test_a_stamp_says_when_and_expires() -> None:
    clock, wall = Clock(), Clock()
    once = MemoryOnce(clock, wall)
    assert await once.stamped("s") is None
    assert once.stamp("s") == 1000.0
    wall.now += 5
    assert await once.stamped("s") == 1000.0
    assert once.stamp("s") == 1005.0  # the latest
    assert await once.stamped("s") == 1005.0
    wall.now += STAMP_SECONDS + 1
    assert await once.stamped("s") is None


async def test_stamps_are_bounded_newest_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(once_module, "MEMORY_KEYS", 3)
    wall = Clock()
    once = MemoryOnce(Clock(), wall)
    for key in "abcd":
        wall.now += 1
        once.stamp(key)
    assert len(once._stamps) <= 3
    assert await once.stamped("d") == wall.now
    assert await once.stamped("a") is None  # the oldest went first
