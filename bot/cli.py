"""The ``bot`` command: run, chat, eval, report, train, migrate, purge, staff, directory.

Each command imports what it needs inside its own function, on purpose: ``bot --help``,
``bot migrate`` or ``bot staff add`` start in a moment instead of loading spaCy's tables, the
language detector and the console first. (No import here dodges a cycle: tests/test_layers.py
counts these imports too.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

from bot.settings import PROJECT_ROOT, Settings, get_settings


def _server_up(settings: Settings) -> bool:
    try:
        r = httpx.get(f"{settings.callback_url}/healthz", timeout=2)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


# --- bot run ---


async def _run(settings: Settings) -> None:
    from bot.console.cli_staff import first_admin_invite
    from bot.progress import Progress
    from bot.rasa.process import follow_restarts
    from bot.server import Stack

    progress = Progress(sys.stdout)
    stack = Stack(settings, start_rasa=settings.start_rasa, progress=progress)
    async with stack as runtime:
        following = None
        if not settings.start_rasa:  # Rasa is its own service: notice when it restarts
            following = asyncio.create_task(follow_restarts(runtime.rasa))
        # Stop gracefully on SIGTERM as on Ctrl-C (before saying we are ready). Left to uvicorn,
        # the signal is raised again once the server has stopped, and that ends the process
        # before Rasa is stopped.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stack.stop)
        invite = first_admin_invite(runtime.db, settings)
        progress.say(
            f"\nThe assistant is ready on http://{settings.host}:{settings.port} "
            f"(health: /healthz; staff console: /console; web chat: /chat).\n"
            "To chat with it from a terminal: .venv/bin/bot chat\n"
            "Stop it with Ctrl-C."
        )
        if invite:
            # Last, framed, after everything else: the one line a newcomer must not miss.
            progress.framed(
                [
                    "First start: an admin account was created (admin@localhost).",
                    "Open this one-time link in a browser to choose its password:",
                    "",
                    invite,
                ]
            )
        try:
            await stack.serve_forever()
        finally:
            if following is not None:
                following.cancel()


def cmd_run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.no_rasa:
        settings.start_rasa = False
    if args.telegram_polling:
        settings.telegram_polling = True
    from bot.rasa.endpoints import RedisUrlError
    from bot.store.keys import KeyMismatch
    from bot.store.leases import AnotherProcess

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(settings))
    except (AnotherProcess, KeyMismatch, RedisUrlError) as exc:
        # A second process on one SQLite file, another secret key than the database's, a Redis
        # URL that cannot be read: say why, no traceback.
        print(f"Not started: {exc}", file=sys.stderr)
        return 1
    return 0


# --- bot rasa serve ---


def cmd_rasa_serve(args: argparse.Namespace) -> int:
    """Rasa alone, in the foreground, for a service manager (systemd, a container): the same
    model, command line and environment ``bot run`` uses when it starts Rasa itself."""

    from sqlalchemy.exc import SQLAlchemyError

    from bot.logging import configure
    from bot.rasa.endpoints import RedisTarget, RedisUrlError
    from bot.rasa.model import admin_data, ensure_model
    from bot.rasa.process import RasaProcess, serve
    from bot.rasa.retrain import write_admin_data
    from bot.settings import secure_data_dir
    from bot.store.crypto import Crypto
    from bot.store.db import Database

    settings = get_settings()
    configure(settings.log_level)
    try:
        if settings.redis_url.strip():
            RedisTarget.parse(settings.redis_url)
    except RedisUrlError as exc:
        print(f"Not started: {exc}", file=sys.stderr)
        return 1
    os.umask(0o077)
    secure_data_dir(settings.data_dir)
    db = Database(settings.sqlalchemy_url)
    try:  # the admins' live example phrases are part of the model, as under `bot run`
        with db.session() as s:
            write_admin_data(s, admin_data(settings), include_pending=False)
    except SQLAlchemyError:
        print(
            "The database is not ready (run `bot migrate` first): the admins' example phrases "
            "are left out of this model until the next start.",
            file=sys.stderr,
        )
    finally:
        db.dispose()
    model = ensure_model(settings, quiet=True)  # trains only when the inputs changed
    crypto = Crypto(settings.key())
    process = RasaProcess(
        settings, model, crypto.internal_token("rasa-api"), crypto.internal_token("rasa-callback")
    )
    print(
        f"Starting Rasa on {settings.rasa_local_url} with {model.name}; it calls back "
        f"{settings.callback_url}. Its log: {settings.data_dir / 'log' / 'rasa.log'}",
        flush=True,
    )
    alive = None
    if args.exit_without_bot > 0:

        def alive() -> bool:
            try:
                r = httpx.get(f"{settings.callback_url}/healthz/live", timeout=2)
            except httpx.HTTPError:
                return False
            return r.status_code == 200

    return serve(process, alive, args.exit_without_bot)


# --- bot chat ---


def _print_result(result: dict[str, Any], out: TextIO) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    for reply in result["replies"]:
        out.write("\n" + reply["text"] + "\n")
        if reply["buttons"]:
            numbered = [f"  {i}. {b['title']}" for i, b in enumerate(reply["buttons"], 1)]
            out.write("\n".join(numbered) + "\n")
            buttons = reply["buttons"]
    out.flush()
    return buttons


STAFF_MARK = "[staff] "  # a message a person on the team typed in the console
SENT_MARK = "[assistant, between turns] "  # "has joined", "has left", "nobody could answer"


def _print_out_of_turn(replies: list[dict[str, Any]], out: TextIO) -> None:
    """Messages that arrived outside a turn, each line marked with who sent it, then the prompt
    again (they can arrive while the terminal waits for a line)."""
    if not replies:
        return
    for reply in replies:
        mark = STAFF_MARK if reply["key"] == "staff_message" else SENT_MARK
        out.write("\n" + "\n".join(mark + line for line in reply["text"].splitlines()) + "\n")
        if reply["buttons"]:
            numbered = [f"  {i}. {b['title']}" for i, b in enumerate(reply["buttons"], 1)]
            out.write("\n".join(numbered) + "\n")
    out.write("\n> ")
    out.flush()


async def _chat_local(settings: Settings, user: str, lang: str | None) -> None:
    from bot.app import replies_json, result_json
    from bot.net import free_port
    from bot.progress import Progress
    from bot.server import Stack
    from bot.types import Inbound

    settings.port = free_port()
    settings.rasa_port = free_port()
    print("Starting the assistant in this terminal (no server is running)…", flush=True)
    async with Stack(settings, quiet=True, progress=Progress(sys.stdout)) as runtime:
        contact_id = runtime.crypto.pseudonym("terminal", user)

        async def listen() -> None:  # staff answering from the console of this same process
            while True:
                sent = await runtime.delivery.wait(contact_id, 60)
                _print_out_of_turn(replies_json(sent), sys.stdout)

        listener = asyncio.create_task(listen())
        print(
            f"Ready (staff console: http://{settings.host}:{settings.port}/console). Type a "
            "message; an empty line or Ctrl-D ends the chat.\n",
            flush=True,
        )
        try:
            while True:
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line or not line.strip():
                    break
                result = await runtime.conversations.handle(
                    Inbound("terminal", user, None, text=line.strip(), language_hint=lang)
                )
                _print_result(result_json(result), sys.stdout)
                sys.stdout.write("\n> ")
                sys.stdout.flush()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


def _listen_remote(url: str, token: str, user: str, lock: threading.Lock) -> None:
    """Long-poll the server for what staff send this terminal contact and print it as it
    arrives, also while the terminal waits for a line (a daemon thread: it ends with the chat)."""
    with httpx.Client(timeout=60) as client:
        while True:
            try:
                r = client.get(
                    url, params={"user": user, "wait": 25}, headers={"x-bot-token": token}
                )
                r.raise_for_status()
            except httpx.HTTPError:
                time.sleep(2)  # the server restarting: try again, quietly
                continue
            with lock:
                _print_out_of_turn(r.json()["replies"], sys.stdout)


def _chat_remote(settings: Settings, user: str, lang: str | None) -> None:
    from bot.store.crypto import Crypto

    token = Crypto(settings.key()).internal_token("terminal")
    url = f"{settings.callback_url}/dev/terminal"
    lock = threading.Lock()  # one writer at a time: an answer and a staff message never interleave
    threading.Thread(
        target=_listen_remote, args=(f"{url}/messages", token, user, lock), daemon=True
    ).start()
    with lock:
        print(
            "Connected to the running assistant; messages from staff appear marked "
            f"{STAFF_MARK.strip()}. An empty line or Ctrl-D ends the chat.\n> ",
            end="",
            flush=True,
        )
    for line in sys.stdin:
        if not line.strip():
            break
        r = httpx.post(
            url,
            json={"user": user, "text": line.strip(), "language_hint": lang},
            headers={"x-bot-token": token},
            timeout=30,
        )
        r.raise_for_status()
        with lock:
            _print_result(r.json(), sys.stdout)
            print("\n> ", end="", flush=True)


def cmd_chat(args: argparse.Namespace) -> int:
    settings = get_settings()
    if _server_up(settings):
        _chat_remote(settings, args.user, args.lang)
    else:
        asyncio.run(_chat_local(settings, args.user, args.lang))
    return 0


# --- bot eval ---


def _read_lines(source: str) -> Iterator[dict[str, Any]]:
    stream = sys.stdin if source == "-" else Path(source).open(encoding="utf-8")  # noqa: SIM115
    with stream:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except json.JSONDecodeError:
                print(f"line {number}: not JSON, skipped", file=sys.stderr)
                continue
            if not isinstance(item, dict) or "text" not in item:
                print(f'line {number}: needs at least "text", skipped', file=sys.stderr)
                continue
            item.setdefault("id", str(number))
            yield item


async def _eval(source: str, out: TextIO) -> None:
    from bot.independent import decided_by, run_lines
    from bot.progress import Progress

    # Standard output is the JSON lines; what the command is doing goes to standard error.
    progress = Progress(sys.stderr)
    progress.say("Starting Rasa and the assistant in a temporary database before the first line…")
    async for item, result in run_lines(get_settings(), _read_lines(source), progress):
        out.write(
            json.dumps(
                {
                    "id": item["id"],
                    "language": result.language,
                    "intent": result.intent,
                    "confidence": result.confidence,
                    "crisis": result.crisis,
                    "decided_by": decided_by(result),
                    "reason": result.reason,
                    "replies": [r.text for r in result.replies],
                    "mode": result.mode,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        out.flush()


def cmd_eval(args: argparse.Namespace) -> int:
    asyncio.run(_eval(args.file, sys.stdout))
    return 0


# --- maintenance ---


def cmd_train(args: argparse.Namespace) -> int:
    from bot.progress import Progress
    from bot.rasa.model import ensure_model, needs_training

    settings = get_settings()
    # Standard output is the model's path (scripts read it); progress goes to standard error.
    progress = Progress(sys.stderr)
    if needs_training(settings, args.config):
        with progress.phase(
            "Training the language model",
            "usually about a minute on 2 cores; only when its training data changed",
        ):
            path = ensure_model(settings, config=args.config, quiet=True)
    else:
        path = ensure_model(settings, config=args.config, quiet=True)
        progress.say("    the language model is up to date (its training data has not changed)")
    print(path)
    return 0


def _database() -> Any:
    from bot.directory.seed import merge_reference
    from bot.store.db import Database, DatabaseLimits

    settings = get_settings()
    db = Database(settings.sqlalchemy_url, DatabaseLimits.of(settings))
    db.migrate()
    with db.session() as s:
        merge_reference(s, settings.countries_file)  # as the server does at start
    return db


def cmd_countries(args: argparse.Namespace) -> int:
    """Every country with each number, its kind, whether it was confirmed, and its source."""
    from bot.directory.country_editing import all_countries

    db = _database()
    with db.session() as s:
        countries = [c for c in all_countries(s) if not args.code or c.code == args.code.upper()]
        if not countries:
            print(f"no country {args.code}", file=sys.stderr)
            return 1
        unconfirmed = 0
        for country in countries:
            print(f"{country.code}  languages: {', '.join(country.languages or []) or '-'}")
            if not country.numbers:
                print("    (no numbers)")
            for n in country.numbers or []:
                mark = "confirmed" if n.get("confirmed") else "UNCONFIRMED"
                unconfirmed += 0 if n.get("confirmed") else 1
                how = "" if n.get("how", "voice") == "voice" else f" [{n['how']}]"
                print(f"    {n['kind']:<11} {n['number']}{how}  {n.get('label', '')}")
                print(
                    f"    {'':<11} {mark}, verified {n.get('verified') or '-'}: "
                    f"{n.get('source') or 'no source'}"
                )
    print(f"{len(countries)} countries; {unconfirmed} numbers not confirmed from a source")
    return 0


def _audit_cli(s: Any, action: str, **detail: str | int | bool | None) -> None:
    """Changes from the command line go to the same audit log as the console's (no staff id)."""
    from bot.console.audit import record

    record(s, None, action, None, **detail)


def _propose_country(s: Any, code: str, numbers: list[dict[str, Any]]) -> int | None:
    """Hold a change of a country's numbers for an admin's approval in the console: the command
    line never changes what a crisis reply shows by itself (docs/security.md, "Two people")."""
    from bot.directory.changes import CountryChange, propose_or_apply

    outcome = propose_or_apply(s, CountryChange(code, numbers), None)
    if outcome.pending is None:
        return None
    _audit_cli(
        s,
        "approval.propose",
        change=outcome.pending.id,
        kind="country",
        country=code.lower(),
        numbers=len(numbers),
    )
    return outcome.pending.id


def _waiting(number: int | None, what: str) -> None:
    if number is None:
        print(f"unchanged: {what}")
        return
    print(
        f"proposed: {what}\n"
        f"change #{number} waits for an admin: it applies when an admin approves it in the "
        "console (Waiting for a second admin)."
    )


def cmd_countries_set(args: argparse.Namespace) -> int:
    from bot.directory.country_editing import with_number
    from bot.directory.numbers import NumberProblem
    from bot.store.models import Country

    entry = {
        "kind": args.kind,
        "number": args.number,
        "label": args.label,
        "how": args.how,
        "source": args.source,
        "verified": args.verified or (None if args.unconfirmed else time.strftime("%Y-%m-%d")),
        "confirmed": not args.unconfirmed,
    }
    code = args.code.upper()
    db = _database()
    try:
        with db.session() as s:
            country = s.get(Country, code)
            numbers, new = with_number(list(country.numbers or []) if country else [], entry)
            number = _propose_country(s, code, numbers)
    except NumberProblem as exc:
        print(f"not saved: {exc}", file=sys.stderr)
        return 1
    _waiting(number, f"{'add' if new else 'update'} {code} {args.kind} {args.number}")
    return 0


def cmd_countries_remove(args: argparse.Namespace) -> int:
    from bot.directory.country_editing import without_number
    from bot.store.models import Country

    code = args.code.upper()
    db = _database()
    with db.session() as s:
        country = s.get(Country, code)
        kept = (
            without_number(list(country.numbers or []), args.kind, args.number) if country else None
        )
        number = _propose_country(s, code, kept) if kept is not None else None
    if kept is None:
        print(f"no {args.kind} number {args.number} in {code}", file=sys.stderr)
        return 1
    _waiting(number, f"remove {code} {args.kind} {args.number}")
    return 0


def cmd_directory_import(args: argparse.Namespace) -> int:
    from bot.directory.hsds.importing import import_services, read, read_countries
    from bot.directory.hsds.schema import ImportError_

    db = _database()
    try:
        items, where = read(Path(args.file))
        countries = read_countries(Path(args.file))
    except (ImportError_, OSError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    with db.session() as s:
        report = import_services(s, items, where, dry_run=args.dry_run, countries=countries)
        if not report.ok:
            s.rollback()
    for error in report.errors:
        print(f"rejected: {error}", file=sys.stderr)
    if not report.ok:
        print(f"nothing was imported: {len(report.errors)} entries need fixing", file=sys.stderr)
        return 1
    verb = "would be" if args.dry_run else "were"
    print(
        f"{len(report.created)} {verb} created, {len(report.updated)} {verb} updated, "
        f"{len(report.unchanged)} unchanged"
    )
    for sid in report.created:
        print(f"  + {sid}")
    for sid in report.updated:
        print(f"  ~ {sid}")
    return 0


def cmd_directory_export(args: argparse.Namespace) -> int:
    from bot.directory.hsds.exporting import export_to

    db = _database()
    with db.session() as s:
        export_to(s, Path(args.file))
    print(f"written: {args.file}")
    return 0


def cmd_directory_stale(args: argparse.Namespace) -> int:
    from bot.directory.service import Directory

    settings = get_settings()
    Directory.hide_after_days = settings.directory_hide_after_days
    db = _database()
    with db.session() as s:
        rows = Directory(s).needs_checking(settings.directory_flag_after_days)
        for svc, hidden in rows:
            state = "HIDDEN from survivors" if hidden else "flagged"
            print(f"{svc.id}\t{svc.country}\tlast verified {svc.last_verified}\t{state}")
    print(f"{len(rows)} entries need checking")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.store.db import Database
    from bot.store.schema_state import migrate_and_describe

    settings = get_settings()
    db = Database(settings.sqlalchemy_url)
    try:
        print(migrate_and_describe(db))
    finally:
        db.dispose()
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from bot.app import purge_once
    from bot.runtime import build_runtime

    n = purge_once(build_runtime(get_settings()))
    print(f"purged {n} transcript messages")
    return 0


def cmd_telegram_set_webhook(args: argparse.Namespace) -> int:
    """Point Telegram at ``URL`` (e.g. https://help.example.org/webhooks/telegram)."""
    from bot.channels.telegram.api import set_webhook
    from bot.store.crypto import Crypto

    settings = get_settings()
    if not settings.telegram_token:
        print("BOT_TELEGRAM_TOKEN is not set", file=sys.stderr)
        return 2
    if not args.url.startswith("https://"):
        print("Telegram only delivers webhooks over HTTPS", file=sys.stderr)
        return 2
    ok = asyncio.run(set_webhook(settings, Crypto(settings.key()), args.url))
    print("webhook registered" if ok else "Telegram refused the webhook")
    return 0 if ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    from bot.evaluation import main as report_main

    if args.only != "independent":
        report_main(args)
    if args.only != "heldout":
        asyncio.run(_report_independent(args.independent_json, Path(args.set)))
    return 0


async def _report_independent(json_path: str | None, directory: Path) -> None:
    from bot.independent import evaluate, render

    started = time.monotonic()
    figures, lines = await evaluate(get_settings(), directory)
    print("\n" + render(figures, f"{directory.name} set ({directory}/)"))
    verdict = "met" if all(f.meets_bar() for f in figures) else "NOT met"
    print(f"\n{directory.name} set: bar {verdict} ({time.monotonic() - started:.0f} s)")
    if json_path:
        Path(json_path).write_text(
            json.dumps(
                {"figures": [f.__dict__ for f in figures], "lines": lines},
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="start Rasa and the bot server")
    p.add_argument(
        "--no-rasa", action="store_true", help="Rasa runs elsewhere (BOT_RASA_URL, BOT_RASA_PORT)"
    )
    p.add_argument(
        "--telegram-polling",
        action="store_true",
        help="development: fetch Telegram updates (getUpdates) instead of the webhook",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("rasa", help="Rasa as its own service (systemd, containers)")
    rsub = p.add_subparsers(dest="rasa_command", required=True)
    r = rsub.add_parser(
        "serve", help="run Rasa in the foreground as `bot run` would (then: bot run --no-rasa)"
    )
    r.add_argument(
        "--exit-without-bot",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="end Rasa when the bot it calls back has not answered for this long (containers "
        "sharing the bot's network: the restart joins the bot's new one); 0: never",
    )
    r.set_defaults(func=cmd_rasa_serve)

    p = sub.add_parser("chat", help="talk with the assistant from this terminal")
    p.add_argument(
        "--user", default="terminal-user", help="who you are (a new name = a new contact)"
    )
    p.add_argument("--lang", default=None, help="a language hint (en, es, pt, fr)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("eval", help="run JSON lines through the whole pipeline (docs/eval.md)")
    p.add_argument("file", help="a JSON-lines file, or - for standard input")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("report", help="held-out, safety and independent figures (make eval)")
    p.add_argument("--config", default="config.yml")
    p.add_argument("--json", default=None, help="also write the held-out figures to this file")
    p.add_argument(
        "--independent-json",
        default=None,
        help="also write the independent set's figures and lines",
    )
    p.add_argument(
        "--only", choices=("heldout", "independent"), default=None, help="one of the two reports"
    )
    p.add_argument(
        "--set",
        default=str(PROJECT_ROOT / "eval" / "independent"),
        help="the folder of JSON-lines files scored as the independent set (eval/dev: the "
        "development set, which may be tuned on)",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("train", help="train the Rasa model if its inputs changed")
    p.add_argument("--config", default="config.yml")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("telegram", help="Telegram set-up")
    telegram = p.add_subparsers(dest="telegram_command", required=True)
    p = telegram.add_parser("set-webhook", help="register the webhook with its secret")
    p.add_argument("url", help="the public HTTPS address of /webhooks/telegram")
    p.set_defaults(func=cmd_telegram_set_webhook)

    p = sub.add_parser("directory", help="import or export the service directory (HSDS 3.0)")
    dsub = p.add_subparsers(dest="directory_command", required=True)
    d = dsub.add_parser("import", help="validate every entry, then write all or nothing")
    d.add_argument("file", help="a .json file, a .zip of CSV files, or a folder of CSV files")
    d.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    d.set_defaults(func=cmd_directory_import)
    d = dsub.add_parser(
        "export", help="write the directory as HSDS JSON, a .zip or a folder of CSV"
    )
    d.add_argument("file")
    d.set_defaults(func=cmd_directory_export)
    d = dsub.add_parser("stale", help="list entries due for verification")
    d.set_defaults(func=cmd_directory_stale)

    from bot.directory.numbers import HOW, KINDS

    p = sub.add_parser("countries", help="every country's emergency and support numbers")
    p.add_argument("--code", default="", help="one country (ISO code)")
    p.set_defaults(func=cmd_countries)
    csub = p.add_subparsers(dest="countries_command")
    c = csub.add_parser("set", help="add a number, or update the same kind and number")
    c.add_argument("code", help="ISO country code, e.g. MX")
    c.add_argument("kind", choices=KINDS)
    c.add_argument("number")
    c.add_argument("--label", default="", help="the service's name, as people know it")
    c.add_argument("--how", choices=HOW, default="voice")
    c.add_argument("--source", default="", help="the address where you confirmed it")
    c.add_argument("--verified", default=None, help="when (YYYY-MM-DD); default today")
    c.add_argument(
        "--unconfirmed", action="store_true", help="not confirmed yet: not shown as a crisis line"
    )
    c.set_defaults(func=cmd_countries_set)
    c = csub.add_parser("remove", help="remove one number")
    c.add_argument("code")
    c.add_argument("kind", choices=KINDS)
    c.add_argument("number")
    c.set_defaults(func=cmd_countries_remove)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("purge", help="delete expired transcripts now").set_defaults(func=cmd_purge)

    from bot.console.cli_staff import add_parser as add_staff_parser

    add_staff_parser(sub)  # bot staff add EMAIL --role ROLE
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
