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
- ``kill-rasa``: one process (two when Redis answers), the first one's Rasa child killed with
  SIGKILL a third of the way through (the supervisor restarts it; messages that need Rasa wait
  meanwhile);
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
process's trackers in memory. ``kill-rasa`` and ``duplicates`` run two processes when the local
Redis answers (and ``--redis`` and ``--processes`` are not given), one when it does not (the
output says so).

Crisis traffic runs beside the script: fresh chats whose first message is a crisis in one of the
four languages (``CRISIS``, each flagged by the safety screen alone:
tests/unit/test_bench_chaos.py), one at the start of the load, one halfway to the fault, one at
the fault, then one every ``CRISIS_EVERY`` second until the fault is over (``/healthz`` says "ok"
on every living process, and at least the black hole, the killed process's lease or 3 s have
passed: ``fault_seconds``), and two after it. Each is compared with a reference chat of the same
message run alone before the load, whole messages this time: ``crisis_answered`` chats received
anything, ``crisis_worded`` received the reference's first message (the crisis reply with the
emergency numbers; a reference without a digit is noted), ``crisis_lost``,
``crisis_duplicated`` and ``crisis_differing`` messages against the reference, and the latency
from the sender's accepted post to the Telegram stand-in receiving the crisis reply (p50, p99,
max), over all of them and split by whether the message was first posted while the fault lasted
(``during``; the whole run for ``duplicates``, never for ``two-processes``) or not
(``outside``). A crisis posted into a database black hole is accepted only once the database is
back (webhooks answer 503 meanwhile): its latency counts from then, and ``during_accept_max``
says how long the slowest one waited for that. Meanwhile the webhook sends the numbers itself
(the crisis lifeline, bot/channels/lifeline.py), as it does for a stored crisis whose reply has
not gone out a few seconds later. A lifeline is one more copy of the reference's first message:
a chat that received that message once more than the reference counts one ``crisis_lifelines``,
not a duplicate, as long as the processes' logs say that many lifelines were sent (any copy
beyond what they logged counts as duplicated). ``during_numbers`` is, for each crisis posted
during the fault, the time from its first post to the first message with a number the person
received (lifeline or reply). A reply can reach the Telegram stand-in before the sender hears
its 200 (a busy process answers the webhook late): such a latency counts as 0.

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
import contextlib
import datetime as dt
import difflib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
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
# A first message in crisis, per language: each one the safety screen flags by itself (no model).
CRISIS = {
    "en": "they locked me in and I can't get out",
    "es": "me tienen encerrada y no me dejan salir",
    "pt": "estão me ameaçando agora, socorro",
    "fr": "on m'a enfermée, aidez-moi",
}
CRISIS_EVERY = 1.0  # seconds between crisis messages while a fault lasts
CRISIS_DURING_MAX = 60  # crisis messages a fault gets at most
APOLOGY = "algo salió mal de nuestro lado"  # the Spanish utter_service_unavailable's first line
SCENARIOS = ("two-processes", "kill-bot", "kill-rasa", "db-blackhole", "db-reset", "duplicates")
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
PROCESSES = {"kill-rasa": 1, "duplicates": 1}  # without Redis; the others always two
TWO_WITH_REDIS = ("kill-rasa", "duplicates")  # two processes when the local Redis answers
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
    crisis_sent: int = 0
    crisis_answered: int = 0
    crisis_worded: int = 0
    crisis_lost: int = 0
    crisis_duplicated: int = 0
    crisis_differing: int = 0  # a message in place of the reference's (other words)
    crisis_p50: float | None = None
    crisis_p99: float | None = None
    crisis_max: float | None = None
    during_sent: int = 0
    during_worded: int = 0
    during_p50: float | None = None
    during_p99: float | None = None
    during_max: float | None = None
    during_accept_max: float | None = None  # first post to a process's 200, the slowest
    outside_sent: int = 0
    outside_worded: int = 0
    outside_p50: float | None = None
    outside_p99: float | None = None
    outside_max: float | None = None
    crisis_lifelines: int = 0  # crises given the numbers twice: a lifeline, then the reply
    lifelines_logged: int = 0  # "crisis lifeline sent" in the processes' logs
    # Crises posted during the fault: first post to the first message with a number (lifeline
    # or turn), what the person waited for; max and p50 in the table.
    during_numbers: list[float] = field(default_factory=list)
    fault_seconds: float | None = None  # from the fault to every process saying "ok" again
    crisis_reference: dict[str, list[str]] = field(default_factory=dict)
    # Each crisis: seconds into the load it was first posted, its language, whether the fault
    # lasted, how long until a process accepted it, and its latency (None: no crisis reply).
    crisis_detail: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Crisis:
    """One crisis message of the run: its chat, when it was first posted and accepted, and
    whether the fault lasted at its first post."""

    chat_id: int
    language: str
    posted: float
    accepted: float = 0.0
    during: bool = False
    at: float = 0.0  # seconds into the load


def percentile(values: list[float], share: float) -> float | None:
    """Nearest rank: the smallest value at least ``share`` of the values do not exceed."""
    if not values:
        return None
    ranked = sorted(values)
    return round(ranked[max(0, math.ceil(share * len(ranked)) - 1)], 3)


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

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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
    """Inbox rows and unsent outbox rows: work the processes have not finished. A refused
    connection (the server's ``max_connections`` reached by other work on the machine) is
    asked again a little later, not a failed run."""
    for delay in (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0):
        try:
            with psycopg.connect(database) as conn:
                row = conn.execute(
                    "SELECT (SELECT count(*) FROM inbox_messages)"
                    " + (SELECT count(*) FROM outbox_messages WHERE status = 'pending')"
                ).fetchone()
            return int(row[0]) if row else 0
        except psycopg.OperationalError:
            time.sleep(delay)
    raise RuntimeError("the database refused the bench's connection for two minutes")


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
    # CHAOS_KEEP=1 keeps the processes' folders (their logs) to read after the run.
    keep = bool(os.environ.get("CHAOS_KEEP"))
    folder = contextlib.nullcontext(tempfile.mkdtemp()) if keep else tempfile.TemporaryDirectory()
    with folder as tmp:
        if keep:
            print(f"the processes' logs are kept in {tmp}", flush=True)
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
            # The crisis references: each message alone in a fresh chat, before any load.
            for n, (language, text) in enumerate(CRISIS.items()):
                chat_id = reference_chat + 1 + n
                await sender.post(text_update(next(update_ids), chat_id, text, language))
                while waiting(database) or not sink.texts(chat_id):
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.0)  # a reply of several messages: let the rest arrive
                while waiting(database):
                    await asyncio.sleep(0.2)
                outcome.crisis_reference[language] = sink.messages(chat_id)
                if not any(c.isdigit() for c in outcome.crisis_reference[language][0]):
                    outcome.notes.append(f"the {language} crisis reference gives no number")
            fault_at = chats * len(SCRIPT) // 3
            sent = 0
            started = time.monotonic()
            crises: list[Crisis] = []
            crisis_posts: list[asyncio.Task[None]] = []
            crisis_ids = iter(range(3 * 10**9, 4 * 10**9))
            window: list[float] = []  # [fault start, fault end] once known
            if name == "duplicates":  # the fault is every delivery: the whole run
                window.append(started)
            fault_seen = asyncio.Event()

            async def post_crisis(crisis: Crisis) -> None:
                text = CRISIS[crisis.language]
                update = text_update(next(update_ids), crisis.chat_id, text, crisis.language)

                async def post() -> None:  # accepted: the first delivery that was
                    await sender.post(update)
                    crisis.accepted = crisis.accepted or time.monotonic()

                if name == "duplicates":
                    await asyncio.gather(post(), post())
                else:
                    await post()
                if name == "duplicates":
                    await asyncio.sleep(1.0)
                    await sender.post(update)  # a stale redelivery

            def crisis() -> None:
                language = list(CRISIS)[len(crises) % len(CRISIS)]
                now = time.monotonic()
                during = len(window) == 1 and now >= window[0]
                item = Crisis(next(crisis_ids), language, now, during=during, at=now - started)
                crises.append(item)
                crisis_posts.append(asyncio.create_task(post_crisis(item)))

            async def crisis_driver() -> None:
                """At the fault, then while it lasts, then twice after it."""
                await fault_seen.wait()
                crisis()
                # At least the black hole, the lease of the killed process's claims, or 3 s
                # (a reset is instantaneous; reconnecting is not).
                at = time.monotonic()
                minimum = {"kill-bot": 6.0, "db-blackhole": blackhole}.get(name, 3.0)
                ends = await fault_over(bots, at + minimum, crisis)
                if name not in ("duplicates", "two-processes"):
                    window.append(ends)
                    outcome.fault_seconds = round(ends - window[0], 1)
                for _ in range(2):
                    await asyncio.sleep(CRISIS_EVERY)
                    crisis()

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
                    if sent == max(1, fault_at // 2):
                        crisis()  # before the fault
                    if sent == fault_at:
                        if name not in ("duplicates", "two-processes"):
                            window.append(time.monotonic())
                        fault(name, bots, outcome, proxy, blackhole)
                        fault_seen.set()
                if name == "duplicates" and first is not None:
                    await sender.post(first)  # a stale redelivery, after newer update_ids

            ids = [2 * 10**9 + i for i in range(chats)]
            with Health(bots, outcome):
                crisis()  # at the start of the load
                await asyncio.gather(*(chat(i) for i in ids), crisis_driver())
                await asyncio.gather(*crisis_posts)
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
            received = {
                c.chat_id: list(
                    zip(sink.arrivals(c.chat_id), sink.messages(c.chat_id), strict=True)
                )
                for c in crises
            }
            count_crises(outcome, crises, received)
            await sender.client.aclose()
        finally:
            for bot in bots:
                bot.stop()
                log = bot.dir / "bot.log"
                if log.exists():
                    text = log.read_text(errors="replace")
                    outcome.commit_retries += text.count("outbox commit retried")
                    outcome.lifelines_logged += text.count("crisis lifeline sent")
            reconcile_lifelines(outcome)
            sink.stop()
            if proxy is not None:
                await proxy.stop()
    return outcome


async def fault_over(
    bots: list[Bot], not_before: float, tick: Callable[[], None], limit: float = 300.0
) -> float:
    """When every living process's ``/healthz`` says "ok" (database and Rasa) and ``not_before``
    has passed; ``tick`` (a crisis message) every ``CRISIS_EVERY`` seconds meanwhile."""
    deadline = time.monotonic() + limit
    count = 1
    async with httpx.AsyncClient(timeout=CRISIS_EVERY) as client:
        while time.monotonic() < deadline:
            await asyncio.sleep(CRISIS_EVERY)
            if count < CRISIS_DURING_MAX:
                tick()
                count += 1
            if time.monotonic() < not_before:
                continue
            if all([await healthy(client, bot) for bot in bots if bot.alive()]):
                return time.monotonic()
    return time.monotonic()


async def healthy(client: httpx.AsyncClient, bot: Bot) -> bool:
    """The process says "ok": its database and its Rasa answer."""
    try:
        response = await client.get(f"http://127.0.0.1:{bot.port}/healthz")
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


def reconcile_lifelines(outcome: Outcome) -> None:
    """A copy of the numbers no process logged as a lifeline is a duplicate."""
    unlogged = max(0, outcome.crisis_lifelines - outcome.lifelines_logged)
    outcome.crisis_duplicated += unlogged
    outcome.crisis_lifelines -= unlogged


def count_crises(
    outcome: Outcome, crises: list[Crisis], received: dict[int, list[tuple[float, str]]]
) -> None:
    """Each crisis chat's messages against its language's reference (whole texts), and when its
    crisis wording (the reference's first message, with the emergency numbers) reached the
    Telegram stand-in after the accepted post."""
    latencies: dict[bool, list[float]] = {True: [], False: []}
    worded = {True: 0, False: 0}
    for crisis in crises:
        reference = outcome.crisis_reference[crisis.language]
        arrivals = received.get(crisis.chat_id, [])
        numbers = [arrived for arrived, text in arrivals if any(c.isdigit() for c in text)]
        first_numbers = numbers[0] - crisis.posted if numbers else None
        if first_numbers is not None and crisis.during:
            outcome.during_numbers.append(round(first_numbers, 3))
        times = [arrived for arrived, _ in arrivals]
        got = [text for _, text in arrivals]
        outcome.crisis_sent += 1
        outcome.crisis_answered += bool(got)
        lost, duplicated, disorder = compare(reference, got)
        lifeline = False
        if reference and got.count(reference[0]) > reference.count(reference[0]):
            # One copy of the numbers more than the reference: the lifeline's, wherever it came.
            tries = [got[:i] + got[i + 1 :] for i, text in enumerate(got) if text == reference[0]]
            fewest = min(tries, key=lambda rest: sum(compare(reference, rest)))
            lost, duplicated, disorder = compare(reference, fewest)
            lifeline = True
        outcome.crisis_lifelines += lifeline
        outcome.crisis_lost += lost
        outcome.crisis_duplicated += duplicated
        outcome.crisis_differing += disorder
        outcome.apologies += sum(APOLOGY in text for text in got)
        latency = None
        if reference and reference[0] in got:
            outcome.crisis_worded += 1
            worded[crisis.during] += 1
            latency = max(0.0, times[got.index(reference[0])] - crisis.accepted)
            latencies[crisis.during].append(latency)
        outcome.crisis_detail.append(
            {
                "at": round(crisis.at, 2),
                "language": crisis.language,
                "during": crisis.during,
                "accepted_after": round(crisis.accepted - crisis.posted, 3),
                "latency": None if latency is None else round(latency, 3),
                "lifeline": lifeline,
                "first_numbers": None if first_numbers is None else round(first_numbers, 3),
            }
        )
    every = latencies[True] + latencies[False]
    outcome.crisis_p50, outcome.crisis_p99 = percentile(every, 0.5), percentile(every, 0.99)
    outcome.crisis_max = percentile(every, 1.0)
    outcome.during_sent = sum(c.during for c in crises)
    outcome.outside_sent = len(crises) - outcome.during_sent
    outcome.during_worded, outcome.outside_worded = worded[True], worded[False]
    outcome.during_p50 = percentile(latencies[True], 0.5)
    outcome.during_p99 = percentile(latencies[True], 0.99)
    outcome.during_max = percentile(latencies[True], 1.0)
    outcome.during_accept_max = percentile([c.accepted - c.posted for c in crises if c.during], 1)
    outcome.outside_p50 = percentile(latencies[False], 0.5)
    outcome.outside_p99 = percentile(latencies[False], 0.99)
    outcome.outside_max = percentile(latencies[False], 1.0)


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


def _latency(o: Outcome, prefix: str) -> str:
    values = [getattr(o, f"{prefix}_{p}") for p in ("p50", "p99", "max")]
    return "-" if values[0] is None else "/".join(f"{v:.2f}" for v in values)


def _numbers(o: Outcome) -> str:
    p50, most = percentile(o.during_numbers, 0.5), percentile(o.during_numbers, 1.0)
    return "-" if p50 is None or most is None else f"{p50:.2f}/{most:.2f}"


COLUMNS: tuple[tuple[str, Callable[[Outcome], object]], ...] = (
    ("scenario", lambda o: o.scenario), ("procs", lambda o: o.processes),
    ("chats", lambda o: o.chats), ("msgs", lambda o: o.messages),
    ("lines", lambda o: o.expected_lines), ("got", lambda o: o.received_lines),
    ("lost", lambda o: o.lost), ("dup", lambda o: o.duplicated),
    ("order", lambda o: o.out_of_order), ("apologies", lambda o: o.apologies),
    ("retries", lambda o: o.webhook_retries), ("live_max", lambda o: o.live_max),
    ("down", lambda o: o.health_down), ("commit_retry", lambda o: o.commit_retries),
    ("seconds", lambda o: o.seconds),
    ("crisis sent/ans/worded", lambda o: f"{o.crisis_sent}/{o.crisis_answered}/{o.crisis_worded}"),
    ("c.lost/dup/diff", lambda o: f"{o.crisis_lost}/{o.crisis_duplicated}/{o.crisis_differing}"),
    ("crisis p50/p99/max s", lambda o: _latency(o, "crisis")),
    ("during n/worded", lambda o: f"{o.during_sent}/{o.during_worded}"),
    ("during p50/p99/max s", lambda o: _latency(o, "during")),
    ("d.accept max s", lambda o: "-" if o.during_accept_max is None else o.during_accept_max),
    ("lifelines", lambda o: o.crisis_lifelines),
    ("d.numbers p50/max s", lambda o: _numbers(o)),
    ("outside n/worded", lambda o: f"{o.outside_sent}/{o.outside_worded}"),
    ("outside p50/p99/max s", lambda o: _latency(o, "outside")),
    ("fault s", lambda o: "-" if o.fault_seconds is None else o.fault_seconds),
)  # fmt: skip


def table(outcomes: list[Outcome]) -> str:
    rows = [[title for title, _ in COLUMNS]]
    rows += [[str(value(o)) for _, value in COLUMNS] for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def redis_answers(url: str = LOCAL_REDIS, timeout: float = 2.0) -> bool:
    """Whether a Redis answers PING at ``url``'s host and port (a password-protected one
    answers with an error, and counts as not there)."""
    parsed = make_url(url)
    try:
        with socket.create_connection(
            (parsed.host or "127.0.0.1", parsed.port or 6379), timeout=timeout
        ) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def drop_redis_keys(url: str, prefix: str) -> None:
    """Delete the run's Redis keys."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + ":*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


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
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out / f"chaos-{stamp}.json"
    names = args.scenario or SCENARIOS
    redis_up = args.redis is None and args.processes is None and redis_answers()
    if args.redis is None and args.processes is None and set(names) & set(TWO_WITH_REDIS):
        said = "two processes (Redis answers at" if redis_up else "one process (no Redis at"
        print(f"kill-rasa and duplicates: {said} {LOCAL_REDIS})", flush=True)
    for name in names:
        database = create_database(server)
        processes = args.processes or PROCESSES.get(name, 2)
        if redis_up and name in TWO_WITH_REDIS:
            processes = 2
        several = processes > 1
        url = args.redis if args.redis is not None else (LOCAL_REDIS if several else "")
        redis = (url, "chaos" + uuid.uuid4().hex[:10]) if url else None
        try:
            outcomes.append(
                await scenario(
                    name, args.chats, database, args.settle, processes, args.blackhole, redis
                )
            )
        finally:
            drop_database(server, database)
            if redis is not None:
                drop_redis_keys(*redis)
        print(table(outcomes), flush=True)
        # After every scenario: a run cut short keeps what it measured.
        out.write_text(
            json.dumps({"machine": machine(), "outcomes": [asdict(o) for o in outcomes]}, indent=2)
        )
    print(f"\n{out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
