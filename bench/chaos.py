"""``make chaos``: faults under load, counted. A benchmark, not a timed test.

    python -m bench.chaos                 # every scenario (real Rasa, PostgreSQL; minutes each)
    python -m bench.chaos --chats 6 --scenario kill-rasa   # a small run of one scenario

Each scenario starts real ``bot run`` processes (each with its own real Rasa child) on one fresh
PostgreSQL database (``BOT_TEST_POSTGRES_URL``), a Telegram stand-in (bench/telegram_sink.py)
and a retrying sender: every chat writes its messages one after another, each posted to the
processes in turn (a load balancer) and posted again to the next one after a refused connection
or a 5xx, until it is accepted. Scenarios:

- ``two-processes``: two bot processes share the load, no fault;
- ``kill-bot``: two processes, one killed with SIGKILL a third of the way through (never
  restarted; the other takes its claimed rows over once their lease lapses);
- ``kill-rasa``: one process, its Rasa child killed with SIGKILL a third of the way through (the
  supervisor restarts it; messages that need Rasa wait meanwhile);
- ``db-blackhole``: the processes reach PostgreSQL through a proxy (bench/dbproxy.py) that stops
  forwarding for 15 s a third of the way through, sockets left open (webhooks answer 503 until
  the database is back, the sender retries);
- ``db-reset``: the same proxy cuts every database connection at once, a third of the way
  through (a restart or failover of the database);
- ``duplicates``: every update is delivered twice at once (to two processes when there are
  two), and each chat's first update is delivered again after its last one (a stale
  redelivery, out of update_id order): each must be answered once.

``--redis redis://127.0.0.1:6379/0`` gives every process's Rasa the same Redis tracker and lock
stores (``BOT_REDIS_URL``, keys of a prefix of the run's own, deleted afterwards). It is the
default for scenarios of several processes: without it, the second process is refused at start
(its Rasa would keep a dialogue of its own, bot/store/processes.py). ``--redis ""`` keeps one
process's trackers in memory.

Every chat runs the same script, so every chat should receive the same lines in the same order
as a reference chat run alone before the load. Compared line by line (first lines, difflib):
``lost`` lines expected but never received, ``duplicated`` lines received more often than
expected, ``out_of_order`` lines received in place of others, and ``apologies`` ("something went
wrong on our side"). During the run every process's ``/healthz/live`` and ``/healthz`` are asked
every half second: ``live_max`` is the slowest liveness answer in seconds (how long an event loop
stood still), ``health_down`` how many readiness answers said the database was down. The outbox's
"sent, commit retried" count is read from the logs (``commit_retries``). Prints a table and writes
``bench/results/chaos-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import difflib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.dbproxy import DatabaseProxy
from bench.measure import _children, machine
from bench.telegram_sink import TelegramSink, text_update
from bot.net import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TOKEN = "4242:CHAOS-bench"
SECRET = "chaos-webhook-secret"
SCRIPT = ["hola", "sí", "necesito un abogado", "México", "gracias", "necesito un médico", "gracias"]
APOLOGY = "algo salió mal de nuestro lado"  # the Spanish utter_service_unavailable's first line
SCENARIOS = ("two-processes", "kill-bot", "kill-rasa", "db-blackhole", "db-reset", "duplicates")
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
PROCESSES = {"kill-rasa": 1, "duplicates": 1}  # the others: two
BLACKHOLE_SECONDS = 15.0


@dataclass
class Outcome:
    scenario: str
    processes: int
    chats: int
    messages: int
    expected_lines: int = 0
    received_lines: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    apologies: int = 0
    webhook_retries: int = 0
    live_max: float = 0.0
    health_down: int = 0
    commit_retries: int = 0
    seconds: float = 0.0
    settled: bool = False
    notes: list[str] = field(default_factory=list)


class Bot:
    """One ``bot run`` process with its own data directory, port and Rasa port."""

    def __init__(
        self, tmp: Path, database: str, api: str, index: int, extra: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.dir = tmp / f"bot-{index}"
        self.dir.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        self.env.update(
            PYTHONPATH=str(ROOT),
            BOT_DATA_DIR=str(self.dir),
            BOT_DATABASE_URL=database,
            BOT_SECRET_KEY="chaos-bench-secret-key",
            BOT_PORT=str(self.port),
            BOT_RASA_PORT=str(free_port()),
            BOT_TELEGRAM_TOKEN=TOKEN,
            BOT_TELEGRAM_SECRET=SECRET,
            BOT_TELEGRAM_API_URL=api,
            BOT_OUTBOX_POLL_SECONDS="0.5",
            BOT_LEASE_SECONDS="6",
            BOT_CONSOLE_ENABLED="false",
        )
        self.env.update(extra or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.dir / "bot.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"bot exited; see {self.dir / 'bot.log'}")
                try:
                    health = (await client.get(f"http://127.0.0.1:{self.port}/healthz")).json()
                    if health.get("status") == "ok":
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                await asyncio.sleep(0.5)
        raise TimeoutError(f"bot not ready; see {self.dir / 'bot.log'}")

    def rasa_pid(self) -> int | None:
        assert self.proc is not None
        children = _children(self.proc.pid)
        return children[0] if children else None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Sender:
    """Posts each update until a process accepts it, trying the processes in turn."""

    def __init__(self, bots: list[Bot]) -> None:
        self.bots = bots
        self.turn = 0
        self.retries = 0
        self.client = httpx.AsyncClient(timeout=30)

    async def post(self, update: dict[str, Any]) -> None:
        """Until a process answers 200: a refused connection, a 5xx or a timeout is retried,
        with backoff, at the next process (what Telegram does, faster)."""
        delay = 0.2
        while True:
            bot = self.bots[self.turn % len(self.bots)]
            self.turn += 1
            try:
                response = await self.client.post(
                    f"http://127.0.0.1:{bot.port}/webhooks/telegram",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                )
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            self.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def waiting(database: str) -> int:
    """Inbox rows and unsent outbox rows: work the processes have not finished."""
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM inbox_messages)"
            " + (SELECT count(*) FROM outbox_messages WHERE status = 'pending')"
        ).fetchone()
    return int(row[0]) if row else 0


def create_database(server: str) -> str:
    name = f"bot_chaos_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server.rsplit('/', 1)[0]}/{name}"


def drop_database(server: str, url: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def compare(expected: list[str], got: list[str]) -> tuple[int, int, int]:
    """(lost, duplicated, out of order) lines of one chat against the reference."""
    lost = duplicated = disorder = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=expected, b=got).get_opcodes():
        if tag == "delete":
            lost += i2 - i1
        elif tag == "insert":
            duplicated += j2 - j1
        elif tag == "replace":
            disorder += min(i2 - i1, j2 - j1)
            lost += max(0, (i2 - i1) - (j2 - j1))
            duplicated += max(0, (j2 - j1) - (i2 - i1))
    return lost, duplicated, disorder


class Health:
    """Asks every process's ``/healthz/live`` and ``/healthz`` every half second."""

    def __init__(self, bots: list[Bot], outcome: Outcome) -> None:
        self.bots = bots
        self.outcome = outcome
        self.task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            while True:
                for bot in self.bots:
                    if bot.proc is None or bot.proc.poll() is not None:
                        continue
                    base = f"http://127.0.0.1:{bot.port}"
                    started = time.monotonic()
                    try:
                        await client.get(f"{base}/healthz/live")
                        took = time.monotonic() - started
                        self.outcome.live_max = max(self.outcome.live_max, round(took, 2))
                        if (await client.get(f"{base}/healthz")).status_code == 503:
                            self.outcome.health_down += 1
                    except httpx.HTTPError:
                        pass
                await asyncio.sleep(0.5)

    def __enter__(self) -> Health:
        self.task = asyncio.create_task(self._watch())
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.task is not None:
            self.task.cancel()


async def scenario(
    name: str,
    chats: int,
    database: str,
    settle: float,
    processes: int | None = None,
    blackhole: float = BLACKHOLE_SECONDS,
    redis: tuple[str, str] | None = None,
) -> Outcome:
    processes = processes or PROCESSES.get(name, 2)
    outcome = Outcome(name, processes, chats, chats * len(SCRIPT))
    sink_port = free_port()
    sink = TelegramSink(TOKEN, sink_port)
    sink.start()
    proxy: DatabaseProxy | None = None
    bot_database = database
    extra: dict[str, str] = {}
    if name.startswith("db-"):
        url = make_url(database)
        proxy = DatabaseProxy(url.host or "127.0.0.1", url.port or 5432)
        port = await proxy.start()
        bot_database = url.set(port=port).render_as_string(hide_password=False)
        # The production lease: a database away for less than it keeps every claim in place.
        extra["BOT_LEASE_SECONDS"] = "30"
    if redis is not None:
        extra.update(BOT_REDIS_URL=redis[0], BOT_REDIS_KEY_PREFIX=redis[1])
    with tempfile.TemporaryDirectory() as tmp:
        bots = [
            Bot(Path(tmp), bot_database, f"http://127.0.0.1:{sink_port}", i, extra)
            for i in range(processes)
        ]
        try:
            for bot in bots:  # one after the other: the first puts the model in place
                bot.start()
                await bot.ready()
            sender = Sender(bots)
            update_ids = iter(range(10**6, 10**7))
            # The reference: one chat alone, before any load or fault.
            reference_chat = 10**9
            for text in SCRIPT:
                before = len(sink.texts(reference_chat))
                await sender.post(text_update(next(update_ids), reference_chat, text, "es"))
                while waiting(database) or len(sink.texts(reference_chat)) == before:
                    await asyncio.sleep(0.2)
            expected = sink.texts(reference_chat)
            outcome.expected_lines = len(expected) * chats
            fault_at = chats * len(SCRIPT) // 3
            sent = 0
            started = time.monotonic()

            async def chat(chat_id: int) -> None:
                nonlocal sent
                first: dict[str, Any] | None = None
                for text in SCRIPT:
                    update = text_update(next(update_ids), chat_id, text, "es")
                    first = first or update
                    if name == "duplicates":  # twice at once, to two processes when there are
                        await asyncio.gather(sender.post(update), sender.post(update))
                    else:
                        await sender.post(update)
                    sent += 1
                    if sent == fault_at:
                        fault(name, bots, outcome, proxy, blackhole)
                if name == "duplicates" and first is not None:
                    await sender.post(first)  # a stale redelivery, after newer update_ids

            ids = [2 * 10**9 + i for i in range(chats)]
            with Health(bots, outcome):
                await asyncio.gather(*(chat(i) for i in ids))
            outcome.webhook_retries = sender.retries
            # Settled: nothing left in the inbox or the outbox, and no new line for a while.
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                if waiting(database) == 0:
                    await asyncio.sleep(settle)
                    if waiting(database) == 0:
                        outcome.settled = True
                        break
                await asyncio.sleep(1.0)
            outcome.seconds = round(time.monotonic() - started, 1)
            for i in ids:
                got = sink.texts(i)
                outcome.received_lines += len(got)
                lost, duplicated, disorder = compare(expected, got)
                outcome.lost += lost
                outcome.duplicated += duplicated
                outcome.out_of_order += disorder
                outcome.apologies += sum(APOLOGY in line for line in got)
            await sender.client.aclose()
        finally:
            for bot in bots:
                bot.stop()
                log = bot.dir / "bot.log"
                if log.exists():
                    outcome.commit_retries += log.read_text(errors="replace").count(
                        "outbox commit retried"
                    )
            sink.stop()
            if proxy is not None:
                await proxy.stop()
    return outcome


def fault(
    name: str,
    bots: list[Bot],
    outcome: Outcome,
    proxy: DatabaseProxy | None = None,
    blackhole: float = BLACKHOLE_SECONDS,
) -> None:
    if name == "kill-bot":
        bots[-1].kill()
        outcome.notes.append("SIGKILL of bot process 2 a third of the way through")
    elif name == "kill-rasa":
        pid = bots[0].rasa_pid()
        if pid is None:
            outcome.notes.append("no Rasa child found")
            return
        os.killpg(pid, signal.SIGKILL)  # Rasa runs in a process group of its own
        outcome.notes.append("SIGKILL of the Rasa child a third of the way through")
    elif name == "db-blackhole" and proxy is not None:
        proxy.blackhole(blackhole)
        outcome.notes.append(f"database black hole of {blackhole:g} s a third of the way through")
    elif name == "db-reset" and proxy is not None:
        proxy.reset()
        outcome.notes.append("every database connection reset a third of the way through")


COLUMNS = (
    ("scenario", "scenario"), ("procs", "processes"), ("chats", "chats"), ("msgs", "messages"),
    ("lines", "expected_lines"), ("got", "received_lines"), ("lost", "lost"),
    ("dup", "duplicated"), ("order", "out_of_order"), ("apologies", "apologies"),
    ("retries", "webhook_retries"), ("live_max", "live_max"), ("down", "health_down"),
    ("commit_retry", "commit_retries"), ("seconds", "seconds"),
)  # fmt: skip


def table(outcomes: list[Outcome]) -> str:
    rows = [[title for title, _ in COLUMNS]]
    rows += [[str(getattr(o, name)) for _, name in COLUMNS] for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def drop_redis_keys(url: str, prefix: str) -> None:
    """Delete the run's Redis keys, with Rasa's own client (the bot's environment has none)."""
    code = (
        "import os, sys, redis\n"
        "r = redis.Redis.from_url(os.environ['CHAOS_REDIS_URL'])\n"
        "keys = r.keys(sys.argv[1] + ':*')\n"
        "r.delete(*keys) if keys else None\n"
    )
    subprocess.run(  # the URL (it may hold a password) in the environment, not on argv
        [str(ROOT / ".venv-rasa" / "bin" / "python"), "-c", code, prefix],
        env={**os.environ, "CHAOS_REDIS_URL": url},
        check=False,
        timeout=60,
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos")
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--scenario", choices=SCENARIOS, action="append")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds to wait after the queues emptied"
    )
    parser.add_argument(
        "--redis",
        default=None,
        help="BOT_REDIS_URL for every process's Rasa (empty: in memory, one process only); "
        f"default: {LOCAL_REDIS} when a scenario runs several processes",
    )
    parser.add_argument("--processes", type=int, help="bot processes (default: per scenario)")
    parser.add_argument("--blackhole", type=float, default=BLACKHOLE_SECONDS, help="seconds")
    args = parser.parse_args(argv)
    server = os.environ.get("BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    outcomes = []
    for name in args.scenario or SCENARIOS:
        database = create_database(server)
        several = (args.processes or PROCESSES.get(name, 2)) > 1
        url = args.redis if args.redis is not None else (LOCAL_REDIS if several else "")
        redis = (url, "chaos" + uuid.uuid4().hex[:10]) if url else None
        try:
            outcomes.append(
                await scenario(
                    name, args.chats, database, args.settle, args.processes, args.blackhole, redis
                )
            )
        finally:
            drop_database(server, database)
            if redis is not None:
                drop_redis_keys(*redis)
        print(table(outcomes), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out / f"chaos-{stamp}.json"
    out.write_text(
        json.dumps({"machine": machine(), "outcomes": [asdict(o) for o in outcomes]}, indent=2)
    )
    print(f"\n{out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
