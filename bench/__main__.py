"""``make bench``: how fast, how lean and how accurate, side by side with stock Rasa.

    python -m bench            # the full run (about 10 minutes once both models are trained)
    python -m bench --quick    # a short smoke run (the test suite runs this)

Prints a table, writes ``bench/results/<timestamp>.json`` (with the machine's description) and
``bench/results/latest.png`` (latency against load, and accuracy across past runs). Nothing here is
a pass/fail test: the numbers are for people to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.measure import LoadStep, machine, measure_safety, offered_load, rss_mb
from bench.report import plot, render
from bot.evaluation import evaluate_language
from bot.rasa.client import RasaClient
from bot.rasa.model import ensure_model, training_info
from bot.rasa.process import RasaProcess
from bot.safety.lexicon import Lexicons
from bot.server import free_port
from bot.settings import get_settings
from bot.store.crypto import Crypto

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CONFIGS = {"ours": "config.yml", "stock": "bench/stock_config.yml"}
LANGS = ["en", "es", "pt", "fr"]

CRISIS = ["me van a matar", "they locked me in", "socorro eles me trancaram", "je veux mourir"]
ORDINARY = [
    "hola",
    "necesito un abogado",
    "i need a place to sleep",
    "quero falar com uma pessoa",
    "qui lit mes messages",
    "1",
]


async def understanding(config: str, quick: bool) -> dict[str, Any]:
    settings = get_settings().model_copy(update={"rasa_port": free_port()})
    started = time.monotonic()
    model = ensure_model(settings, config=config, quiet=True)
    trained_now = time.monotonic() - started
    info = training_info(model)
    token = Crypto(settings.key()).internal_token("rasa-api")
    client = RasaClient(settings.rasa_url, token, timeout=60)
    process = RasaProcess(settings, model, token, "unused")
    t0 = time.monotonic()
    process.start()
    try:
        await process.wait_ready(client, settings.rasa_start_timeout)
        ready = time.monotonic() - t0
        assert process.proc is not None
        idle_rss = rss_mb(process.proc.pid)
        lexicons = Lexicons(LANGS)
        per_lang = {}
        parse_ms: list[float] = []
        for lang in LANGS:
            report = await evaluate_language(lang, client, lexicons, settings.nlu_threshold)
            per_lang[lang] = {
                "accuracy": report.accuracy,
                "macro_f1": report.macro_f1,
                "crisis_recall": report.crisis_recall,
                "false_crisis_rate": report.false_crisis_rate,
                "model_crisis_recall": report.model_crisis_recall,
                "model_false_crisis_rate": report.model_false_crisis_rate,
            }
        for text in ORDINARY * (5 if quick else 40):
            s = time.perf_counter()
            await client.parse(text)
            parse_ms.append((time.perf_counter() - s) * 1000)
        parse_ms.sort()
        return {
            "config": config,
            "training_seconds": info.get("training_seconds"),
            "trained_in_this_run": trained_now > 5,
            "rasa_ready_seconds": round(ready, 1),
            "rasa_rss_mb": round(idle_rss),
            "parse_p50_ms": parse_ms[len(parse_ms) // 2],
            "languages": per_lang,
        }
    finally:
        process.stop()
        await client.aclose()


class BotProcess:
    """The real `bot run` in its own process, so its memory is its own."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.rasa_port = free_port()
        self.env = dict(
            os.environ,
            BOT_DATA_DIR=str(tmp),
            BOT_PORT=str(self.port),
            BOT_RASA_PORT=str(self.rasa_port),
            BOT_SECRET_KEY="bench-secret-key",
            BOT_LOG_LEVEL="WARNING",
            BOT_TEAM_HOURS="mon-sun 00:00-23:59",
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = Crypto("bench-secret-key").internal_token("terminal")
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def first_answer(self, timeout: float = 300) -> float:
        start = time.monotonic()
        async with httpx.AsyncClient(timeout=30) as client:
            while time.monotonic() - start < timeout:
                try:
                    r = await client.post(
                        f"{self.url}/dev/terminal",
                        json={"user": "cold-start", "text": "hola"},
                        headers={"x-bot-token": self.token},
                    )
                    body = r.json() if r.status_code == 200 else {}
                    if body.get("replies") and body.get("intent") != "unavailable":
                        return time.monotonic() - start
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        raise TimeoutError("the bot did not answer")

    def rss(self) -> dict[str, float]:
        assert self.proc is not None
        bot = rss_mb_self_only(self.proc.pid)
        total = rss_mb(self.proc.pid)
        return {"bot_mb": round(bot), "rasa_mb": round(total - bot)}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def rss_mb_self_only(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def end_to_end(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        bot = BotProcess(Path(tmp))
        t0 = time.monotonic()
        bot.start()
        try:
            await bot.first_answer()
            cold = time.monotonic() - t0
            await asyncio.sleep(2)
            idle = bot.rss()
            messages = [("crisis", t) for t in CRISIS] + [("ordinary", t) for t in ORDINARY]
            steps: list[LoadStep] = []
            peak = dict(idle)
            async with httpx.AsyncClient(timeout=60) as client:

                async def send(n: int, text: str) -> float | None:
                    s = time.perf_counter()
                    r = await client.post(
                        f"{bot.url}/dev/terminal",
                        json={"user": f"survivor-{n % 25}", "text": text},
                        headers={"x-bot-token": bot.token},
                    )
                    ok = r.status_code == 200 and bool(r.json()["replies"])
                    return (time.perf_counter() - s) * 1000 if ok else None

                rates = [2.0, 8.0] if quick else [2.0, 5.0, 10.0, 20.0, 40.0]
                for rate in rates:
                    seconds = 3.0 if quick else 15.0
                    step = await offered_load(send, messages, rate, seconds, int(rate * seconds))
                    steps.append(step)
                    now = bot.rss()
                    peak = {k: max(peak[k], now[k]) for k in peak}
        finally:
            bot.stop()
    return {
        "driver": "terminal channel over HTTP (webhook in → gateway → Rasa → NLG → reply)",
        "cold_start_seconds": round(cold, 1),
        "rss_idle": idle,
        "rss_under_load": peak,
        "steps": [
            {
                "rate": s.rate,
                "sent": s.sent,
                "answered": s.answered,
                "achieved_per_second": round(s.achieved, 2),
                "crisis": s.summary("crisis"),
                "ordinary": s.summary("ordinary"),
            }
            for s in steps
        ],
    }


async def run(quick: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "timestamp": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
        "quick": quick,
        "machine": machine(),
    }
    s = measure_safety(repeat=1 if quick else 5)
    result["safety"] = {
        "messages": s.messages,
        "per_second": round(s.per_second, 1),
        "p50_ms": round(s.p50_ms, 3),
        "p99_ms": round(s.p99_ms, 3),
        "load_seconds": round(s.load_seconds, 2),
    }
    result["understanding"] = {"ours": await understanding(CONFIGS["ours"], quick)}
    stock_cached = _stock_available()
    if not quick or stock_cached:
        result["understanding"]["stock"] = await understanding(CONFIGS["stock"], quick)
    result["end_to_end"] = await end_to_end(quick)
    return result


def _stock_available() -> bool:
    from bot.rasa.model import model_path

    settings = get_settings()
    path = model_path(settings, CONFIGS["stock"])
    return path.exists() or (settings.model_cache_dir / path.name).exists()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.quick))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result['timestamp']}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(result, indent=2))
    print(render(result))
    png = plot(result, out)
    print(f"\nresults: {path}\nplot: {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
