"""``make bench``: how fast, how lean and how accurate, side by side with stock Rasa.

    python -m bench            # the full run (about 10 minutes once both models are trained)
    python -m bench --quick    # a short smoke run (the test suite runs this)
    python -m bench security   # only crisis replies while sign-in is hammered and an import runs
    python -m bench load       # only the load ladder (crisis and ordinary latency per rate)

Prints a table, writes ``bench/results/<timestamp>.json`` (with the machine's description) and
``bench/results/latest.png`` (latency against load, and accuracy across past runs). Nothing here is
a pass/fail test: the numbers are for people to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.costs import cpu_seconds, database_work
from bench.measure import LoadStep, machine, measure_safety, offered_load, percentile, rss_mb
from bench.report import plot, render, render_load, render_security
from bench.security import (
    ConsoleAdmin,
    Hammer,
    ImportRun,
    console_env,
    create_admin,
    directory_zip,
)
from bench.telegram_sink import TelegramSink, text_update
from bot.evaluation import evaluate_language
from bot.net import free_port
from bot.nlg.catalog import Catalog
from bot.rasa.client import RasaClient
from bot.rasa.model import ensure_model, training_info
from bot.rasa.process import RasaProcess
from bot.safety.lexicon import Lexicons
from bot.settings import get_settings
from bot.store.crypto import Crypto

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CONFIGS = {"ours": "config.yml", "stock": "bench/stock_config.yml"}
LANGS = ["en", "es", "pt", "fr"]

WEBHOOK_SECRET = "bench-webhook-secret"
SECRET_KEY = "bench-secret-key"
GREETING = {"en": "hello", "es": "hola", "pt": "olá", "fr": "bonjour"}
COLD_START = ["hola", "necesito un abogado"]  # the second one needs Rasa
# What the simulated survivors send, in turn: (kind, language, text). Crisis messages are answered
# by the safety layer without waiting for Rasa; ordinary ones go through the model.
SCRIPT = [
    ("ordinary", "es", "necesito un abogado"),
    ("ordinary", "en", "i need a place to sleep"),
    ("crisis", "es", "me tienen encerrada y no me dejan salir"),
    ("ordinary", "pt", "quero falar com uma pessoa"),
    ("ordinary", "fr", "qui peut lire mes messages"),
    ("crisis", "en", "they locked me in the room"),
    ("ordinary", "en", "is this free"),
    ("crisis", "pt", "socorro eles me trancaram"),
    ("ordinary", "es", "dónde puedo dormir esta noche"),
    ("crisis", "fr", "ils m'ont enfermée aidez-moi"),
]
ORDINARY = [text for kind, _, text in SCRIPT if kind == "ordinary"]
CRISIS = [(language, text) for kind, language, text in SCRIPT if kind == "crisis"]


async def understanding(config: str, quick: bool) -> dict[str, Any]:
    settings = get_settings().model_copy(update={"rasa_port": free_port()})
    started = time.monotonic()
    # Rasa's own output (DIET's epochs) is shown while the stock baseline trains: half an hour
    # with no sign of progress looks like a hang.
    model = ensure_model(settings, config=config, quiet=config == CONFIGS["ours"])
    trained_now = time.monotonic() - started
    info = training_info(model)
    token = Crypto(settings.key()).internal_token("rasa-api")
    client = RasaClient(settings.rasa_local_url, token, timeout=60)
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


QUIET = 1.0  # seconds without a delivery before a survivor's previous turn counts as over


@dataclass
class Survivor:
    chat_id: int
    language: str
    in_flight: bool = False


class BotProcess:
    """The real `bot run` in its own process (so its memory is its own), on Telegram, whose API
    is the stand-in on 127.0.0.1."""

    def __init__(self, tmp: Path, sink: TelegramSink, extra: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.sink = sink
        self.env = dict(
            os.environ,
            BOT_DATA_DIR=str(tmp),
            BOT_PORT=str(self.port),
            BOT_RASA_PORT=str(free_port()),
            BOT_SECRET_KEY=SECRET_KEY,
            BOT_LOG_LEVEL="WARNING",
            BOT_TELEGRAM_TOKEN=sink.token,
            BOT_TELEGRAM_SECRET=WEBHOOK_SECRET,
            BOT_TELEGRAM_API_URL=f"http://127.0.0.1:{sink.port}",
            # The simulated people write far faster than a person can (that is the load being
            # measured); the per-contact rate limit would answer them with silence.
            BOT_CONTACT_RATE_MESSAGES="0",
        )
        self.env.update(extra or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.webhook = f"http://127.0.0.1:{self.port}/webhooks/telegram"
        self._updates = itertools.count(1)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def post(self, client: httpx.AsyncClient, survivor: Survivor, text: str) -> bool:
        update = text_update(next(self._updates), survivor.chat_id, text, survivor.language)
        try:
            r = await client.post(
                self.webhook,
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            )
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    async def first_answer(self, apology: str, timeout: float = 300) -> float:
        """Seconds from start until a message that needs Rasa gets a real answer (until Rasa is
        ready the bot answers such messages with its apology and the emergency numbers)."""
        start = time.monotonic()
        chats = itertools.count(9_000_000)
        async with httpx.AsyncClient(timeout=30) as client:
            while time.monotonic() - start < timeout:
                person = Survivor(next(chats), "es")
                replies = [await self.turn(client, person, text) for text in COLD_START]
                if all(replies) and not any(line.startswith(apology) for line in replies[-1]):
                    return time.monotonic() - start
                await asyncio.sleep(0.5)
        raise TimeoutError("the bot did not answer")

    async def first_crisis_answer(self, timeout: float = 300) -> float:
        """Seconds from start until a crisis message (a new person's first) is answered: the
        crisis path needs neither Rasa nor the safety screen's warm-up to be finished."""
        start = time.monotonic()
        language, text = CRISIS[0]
        person = Survivor(8_999_999, language)
        async with httpx.AsyncClient(timeout=30) as client:
            while time.monotonic() - start < timeout:
                if await self.post(client, person, text):
                    while time.monotonic() - start < timeout:
                        if self.sink.first_after(person.chat_id, start) is not None:
                            return time.monotonic() - start
                        await asyncio.sleep(0.01)
                await asyncio.sleep(0.1)  # the port is not open yet
        raise TimeoutError("the bot did not answer the crisis message")

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the bot process and by Rasa (its child)."""
        assert self.proc is not None
        return {
            "bot": cpu_seconds(self.proc.pid),
            "rasa": cpu_seconds(self.proc.pid, children=True),
        }

    async def turn(self, client: httpx.AsyncClient, person: Survivor, text: str) -> list[str]:
        """Send one message and return the first lines of what came back (after a quiet pause)."""
        before = len(self.sink.texts(person.chat_id))
        sent = time.monotonic()
        if not await self.post(client, person, text):
            return []
        while time.monotonic() - sent < 30:
            last = self.sink.last(person.chat_id)
            if last is not None and last >= sent and time.monotonic() - last > QUIET:
                break
            await asyncio.sleep(0.05)
        return self.sink.texts(person.chat_id)[before:]

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


class Survivors:
    """A pool of people who already had their first contact; each has one message in flight at a
    time, so the next delivery to their chat is the answer to that message."""

    def __init__(self, bot: BotProcess, sink: TelegramSink) -> None:
        self.bot, self.sink = bot, sink
        self.people: list[Survivor] = []
        self._chats = itertools.count(7_000_000)

    async def grow(self, client: httpx.AsyncClient, n: int) -> None:
        new = [Survivor(next(self._chats), LANGS[i % len(LANGS)]) for i in range(n)]
        for person in new:
            await self.bot.post(client, person, GREETING[person.language])
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(self._quiet(p) and self.sink.last(p.chat_id) for p in new):
                break
            await asyncio.sleep(0.2)
        self.people += new

    def _quiet(self, person: Survivor) -> bool:
        last = self.sink.last(person.chat_id)
        return not person.in_flight and (last is None or time.monotonic() - last > QUIET)

    def free(self, language: str) -> Survivor | None:
        return next((p for p in self.people if p.language == language and self._quiet(p)), None)


# Offered msg/s: the full ladder reaches twice the rate that saturates one bot process on 2 cores
# (about 50 msg/s answered), where the issue still wants a crisis answered within a second.
RATES = [2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 100.0]
QUICK_RATES = [2.0, 8.0]


async def end_to_end(
    quick: bool, apology: str, rates: list[float] | None = None, seconds: float | None = None
) -> dict[str, Any]:
    sink = TelegramSink("4242:BENCH", free_port())
    sink.start()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        bot = BotProcess(Path(tmp), sink)
        t0 = time.monotonic()
        bot.start()
        try:
            crisis_task = asyncio.create_task(bot.first_crisis_answer())
            await bot.first_answer(apology)
            cold = time.monotonic() - t0
            cold_crisis = await crisis_task
            await asyncio.sleep(2)
            idle = bot.rss()
            rates = rates or (QUICK_RATES if quick else RATES)
            seconds = seconds or (3.0 if quick else 15.0)
            steps: list[LoadStep] = []
            skipped = 0
            peak = dict(idle)
            async with httpx.AsyncClient(timeout=60) as client:
                survivors = Survivors(bot, sink)
                await survivors.grow(client, int(2 * max(rates)))  # enough for the top rate

                async def send(n: int, item: tuple[str, str, str]) -> float | None:
                    nonlocal skipped
                    _, language, text = item
                    person = survivors.free(language)
                    if person is None:  # everyone in this language is mid-turn
                        skipped += 1
                        return None
                    person.in_flight = True
                    try:
                        sent = time.monotonic()
                        if not await bot.post(client, person, text):
                            return None
                        while time.monotonic() - sent < 60:
                            arrived = sink.first_after(person.chat_id, sent)
                            if arrived is not None:
                                return (arrived - sent) * 1000
                            await asyncio.sleep(0.005)
                        return None
                    finally:
                        person.in_flight = False

                cpu: list[dict[str, float]] = []
                for rate in rates:
                    used = bot.cpu()
                    step = await offered_load(send, SCRIPT, rate, seconds, int(rate * seconds))
                    steps.append(step)
                    after = bot.cpu()
                    cpu.append(
                        {
                            f"{k}_ms_per_turn": round(
                                (after[k] - used[k]) * 1000 / max(step.answered, 1), 1
                            )
                            for k in after
                        }
                    )
                    now = bot.rss()
                    peak = {k: max(peak[k], now[k]) for k in peak}
        finally:
            bot.stop()
            sink.stop()
    return {
        "driver": "Telegram webhook -> conversation -> Rasa -> NLG -> outbox -> Bot API stand-in",
        "cold_start_seconds": round(cold, 1),
        "cold_start_crisis_seconds": round(cold_crisis, 1),
        "rss_idle": idle,
        "rss_under_load": peak,
        "not_sent_everyone_busy": skipped,
        "steps": [
            {
                "rate": s.rate,
                "sent": s.sent,
                "answered": s.answered,
                "achieved_per_second": round(s.achieved, 2),
                "crisis": s.summary("crisis"),
                "ordinary": s.summary("ordinary"),
                "cpu": used,
            }
            for s, used in zip(steps, cpu, strict=True)
        ],
    }


async def crisis_probe(
    bot: BotProcess,
    sink: TelegramSink,
    client: httpx.AsyncClient,
    survivors: Survivors,
    count: int,
    until: asyncio.Task[None] | None = None,
    most: int = 600,
    gap: float = 0.25,
) -> tuple[list[float], int]:
    """Crisis messages from Telegram contacts, one at a time (``gap`` apart): at least ``count``,
    and on until ``until`` is done. Returns the latencies (webhook POST to the first
    ``sendMessage``, ms) and how many got no answer within a minute."""
    latencies: list[float] = []
    unanswered = 0
    n = 0
    while n < most and (n < count or (until is not None and not until.done())):
        language, text = CRISIS[n % len(CRISIS)]
        person = survivors.free(language)
        if person is None:  # both people of this language are still being answered
            await asyncio.sleep(0.05)
            continue
        person.in_flight = True
        try:
            sent = time.monotonic()
            answered = False
            if await bot.post(client, person, text):
                while time.monotonic() - sent < 60:
                    arrived = sink.first_after(person.chat_id, sent)
                    if arrived is not None:
                        latencies.append((arrived - sent) * 1000)
                        answered = True
                        break
                    await asyncio.sleep(0.005)
            unanswered += not answered
        finally:
            person.in_flight = False
        n += 1
        await asyncio.sleep(gap)
    return latencies, unanswered


def _summary(latencies: list[float], unanswered: int) -> dict[str, float]:
    return {
        "n": float(len(latencies)),
        "p50": round(percentile(latencies, 50), 1),
        "p99": round(percentile(latencies, 99), 1),
        "max": round(max(latencies), 1) if latencies else float("nan"),
        "unanswered": float(unanswered),
    }


async def security(quick: bool, apology: str, services: int = 0) -> dict[str, Any]:
    """Crisis replies idle, then while clients hammer the sign-in form and an admin imports a
    large HSDS file (checked, then applied), in the same bot process."""
    services = services or (300 if quick else 2000)
    idle_count = 12 if quick else 60
    hammer_clients = 8
    sink = TelegramSink("4242:BENCH", free_port())
    sink.start()
    body, csv_bytes, rows = directory_zip(services)
    run = ImportRun(services, len(body), csv_bytes, rows)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        bot = BotProcess(Path(tmp), sink, extra=console_env())
        bot.start()
        try:
            await bot.first_answer(apology)
            create_admin(Path(tmp), SECRET_KEY)
            base = f"http://127.0.0.1:{bot.port}"
            async with httpx.AsyncClient(timeout=60) as client:
                survivors = Survivors(bot, sink)
                await survivors.grow(client, 12)
                await asyncio.sleep(2)
                rss_before = bot.rss()
                idle = await crisis_probe(bot, sink, client, survivors, idle_count)
                admin = ConsoleAdmin(base)
                await admin.sign_in()
                hammer = Hammer(base, hammer_clients)
                hammer.start()
                signin = await crisis_probe(bot, sink, client, survivors, idle_count)
                importing = asyncio.create_task(admin.run_import(body, run))
                try:
                    loaded = await crisis_probe(
                        bot, sink, client, survivors, idle_count, until=importing
                    )
                    await importing
                finally:
                    await hammer.stop()
                    await admin.aclose()
                rss_after = bot.rss()
        finally:
            bot.stop()
            sink.stop()
    return {
        "driver": "Telegram webhook -> crisis route -> outbox -> Bot API stand-in, while "
        f"{hammer_clients} clients post wrong passwords to /console/signin (rate limits lifted) "
        "and an admin checks and applies an HSDS zip of CSV tables",
        "idle": _summary(*idle),
        "signin_only": _summary(*signin),
        "under_load": _summary(*loaded),
        "signin": {
            "clients": hammer_clients,
            "attempts": hammer.attempts,
            "statuses": {str(k): v for k, v in sorted(hammer.statuses.items())},
            "errors": hammer.errors,
        },
        "import": run.json(),
        "rss_before": rss_before,
        "rss_after": rss_after,
    }


async def run(quick: bool, skip_stock: bool = False) -> dict[str, Any]:
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
    if stock_cached or (not quick and not skip_stock):
        if not stock_cached:
            print(
                "Training Rasa's stock pipeline on our data, once: about 30 minutes on 2 cores "
                "(kept in the model cache afterwards; --skip-stock leaves it out).",
                file=sys.stderr,
            )
        with progress("training or loading the stock baseline"):
            result["understanding"]["stock"] = await understanding(CONFIGS["stock"], quick)
    # The opening words of the apology sent while Rasa is not ready (before any placeholder).
    apology = Catalog(["es"]).text("utter_service_unavailable", "es").split("{", 1)[0]
    result["end_to_end"] = await end_to_end(quick, apology.splitlines()[0])
    result["database_work"] = await database_work(SCRIPT, GREETING, 1 if quick else 3)
    if not quick:
        result["security"] = await security(quick, apology.splitlines()[0])
    return result


async def run_load(quick: bool, rates: list[float] | None, seconds: float | None) -> dict[str, Any]:
    """The load ladder alone: to compare two versions of the bot side by side in minutes."""
    apology = Catalog(["es"]).text("utter_service_unavailable", "es").split("{", 1)[0]
    return {
        "timestamp": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
        "quick": quick,
        "machine": machine(),
        "end_to_end": await end_to_end(quick, apology.splitlines()[0], rates, seconds),
    }


async def run_security(quick: bool, services: int = 0) -> dict[str, Any]:
    apology = Catalog(["es"]).text("utter_service_unavailable", "es").split("{", 1)[0]
    return {
        "timestamp": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
        "quick": quick,
        "machine": machine(),
        "security": await security(quick, apology.splitlines()[0], services),
    }


@contextlib.contextmanager
def progress(what: str, every: float = 60.0) -> Iterator[None]:
    """A line on stderr every ``every`` seconds while ``what`` runs (the stock baseline trains
    for half an hour or more on two cores, with long silences between Rasa's own lines)."""
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(every):
            minutes = (time.monotonic() - started) / 60
            print(f"[bench] still {what}: {minutes:.0f} min", file=sys.stderr, flush=True)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        print(
            f"[bench] {what}: done in {(time.monotonic() - started) / 60:.1f} min",
            file=sys.stderr,
            flush=True,
        )


def _stock_available() -> bool:
    from bot.rasa.model import model_path

    settings = get_settings()
    path = model_path(settings, CONFIGS["stock"])
    return path.exists() or (settings.model_cache_dir / path.name).exists()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument(
        "scenario",
        nargs="?",
        choices=("all", "security", "load"),
        default="all",
        help="security: only crisis replies while sign-in is hammered and an import runs; "
        "load: only the load ladder",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--services",
        type=int,
        default=0,
        help="security: services in the imported file (default 2000; 300 with --quick)",
    )
    parser.add_argument(
        "--skip-stock", action="store_true", help="leave out the stock baseline if not cached"
    )
    parser.add_argument(
        "--rates", default="", help="load: offered msg/s, comma-separated (default: the ladder)"
    )
    parser.add_argument("--seconds", type=float, default=0.0, help="load: seconds per rate")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.scenario == "security":
        result = asyncio.run(run_security(args.quick, args.services))
        path = out / f"{result['timestamp']}-security{'-quick' if args.quick else ''}.json"
        path.write_text(json.dumps(result, indent=2))
        print(render_security(result))
        print(f"\nresults: {path}")
        return 0
    if args.scenario == "load":
        rates = [float(r) for r in args.rates.split(",") if r.strip()] or None
        result = asyncio.run(run_load(args.quick, rates, args.seconds or None))
        path = out / f"{result['timestamp']}-load{'-quick' if args.quick else ''}.json"
        path.write_text(json.dumps(result, indent=2))
        print(render_load(result))
        print(f"\nresults: {path}")
        return 0
    result = asyncio.run(run(args.quick, args.skip_stock))
    path = out / f"{result['timestamp']}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(result, indent=2))
    print(render(result))
    png = plot(result, out)
    print(f"\nresults: {path}\nplot: {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
