"""Measurements used by ``make bench``: each returns plain numbers, printing is elsewhere."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.safety.lexicon import Lexicons

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (Rasa's CLI forks nothing, but be safe)."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def safety_messages() -> list[str]:
    texts: list[str] = []
    for lang in ("en", "es", "pt", "fr"):
        data = yaml.safe_load((ROOT / "eval" / "safety" / f"{lang}.yml").read_text())
        texts += [str(t) for t in data["crisis"] + data["not_crisis"]]
    return texts


@dataclass
class SafetyResult:
    messages: int
    per_second: float
    p50_ms: float
    p99_ms: float
    load_seconds: float


def measure_safety(repeat: int = 3) -> SafetyResult:
    started = time.perf_counter()
    lexicons = Lexicons(["en", "es", "pt", "fr"])
    _ = lexicons.by_language
    load = time.perf_counter() - started
    texts = safety_messages()
    latencies = []
    t0 = time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            s = time.perf_counter()
            lexicons.scan(text)
            latencies.append((time.perf_counter() - s) * 1000)
    total = time.perf_counter() - t0
    return SafetyResult(
        len(latencies),
        len(latencies) / total,
        percentile(latencies, 50),
        percentile(latencies, 99),
        load,
    )


@dataclass
class LoadStep:
    rate: float  # offered messages per second
    sent: int
    answered: int
    achieved: float  # answered per second
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)

    def summary(self, kind: str) -> dict[str, float]:
        values = self.latencies_ms.get(kind, [])
        return {
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "p99": percentile(values, 99),
            "n": float(len(values)),
        }


async def offered_load(
    send: Callable[[int, tuple[str, str, str]], Awaitable[float | None]],
    messages: list[tuple[str, str, str]],
    rate: float,
    seconds: float,
    max_messages: int,
) -> LoadStep:
    """Send at a fixed rate (open loop), bounded in count and time. ``messages`` hold (kind,
    language, text); ``send`` returns a latency in ms, or None when it was not answered."""
    step = LoadStep(rate, 0, 0, 0.0, {"crisis": [], "ordinary": []})
    interval = 1.0 / rate
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(n: int, item: tuple[str, str, str]) -> None:
        latency = await send(n, item)
        if latency is not None:
            step.answered += 1
            step.latencies_ms[item[0]].append(latency)

    n = 0
    while loop.time() - start < seconds and n < max_messages:
        tasks.append(asyncio.create_task(one(n, messages[n % len(messages)])))
        n += 1
        await asyncio.sleep(max(0.0, start + n * interval - loop.time()))
    step.sent = n
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    step.achieved = step.answered / max(loop.time() - start, 1e-9)
    return step


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info["uname"] = " ".join(os.uname())
    return info
