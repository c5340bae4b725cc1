"""What a newcomer reads on the first `bot run`: each phase before its work, "created the database"
on a new one, no log line labelled ``uvicorn.error``, no Alembic chatter, and the first admin's
link last, in a frame. A second start says the database is up to date and prints no link.

The real command in its own process (without Rasa: `--no-rasa`, the phases up to the server are
the same); what is checked is the order and the wording, never how long a phase took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.net import free_port
from bot.progress import duration, framed
from bot.store.db import Database
from bot.store.schema_state import migrate_and_describe, where

ROOT = Path(__file__).resolve().parents[2]
FRAME = "=" * 20


def start(tmp: Path) -> tuple[str, str]:
    """Run `bot run --no-rasa` until it has printed everything it prints at start, then stop it
    the way Ctrl-C does; return (stdout, stderr)."""
    env = dict(
        os.environ,
        BOT_DATA_DIR=str(tmp),
        BOT_DATABASE_URL="",
        BOT_PORT=str(free_port()),
        BOT_SECRET_KEY="first-start-test-key",
        BOT_LOG_LEVEL="INFO",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--no-rasa"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(proc.stderr or []), daemon=True)
    drain.start()
    deadline = time.monotonic() + 120
    try:
        for line in proc.stdout:
            lines.append(line)
            text = "".join(lines)
            ready = "Stop it with Ctrl-C." in text
            # The frame closes with a second rule; a later start has no frame at all.
            rules = sum(1 for x in lines if x.startswith(FRAME) and not x.strip("=\n"))
            if ready and (rules >= 2 or "database is up to date" in text):
                break
            assert time.monotonic() < deadline, text
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        drain.join(timeout=10)
    return "".join(lines) + rest, "".join(errors)


def test_first_start_says_what_it_does_and_ends_with_the_admin_link(tmp_path: Path) -> None:
    out, err = start(tmp_path)
    database = out.index("==> Preparing the database (usually a few seconds)…")
    created = out.index(f"created the database ({tmp_path / 'bot.sqlite3'})")
    server = out.index("==> Starting the web server")
    ready = out.index("The assistant is ready on http://127.0.0.1:")
    first = out.index("\n" + FRAME) + 1
    last = out.rindex("\n" + FRAME) + 1
    assert database < created < server < ready < first < last
    block = out[first:last]
    assert block.splitlines()[0] == out[last:].strip() == "=" * len(block.splitlines()[0])
    assert "First start: an admin account was created (admin@localhost)." in block
    assert "/console/invite/" in block
    # (and nothing printed after the frame: its closing rule is the last line, checked above)
    assert out.count("done in ") == 2  # the two phases of a start without Rasa
    assert "uvicorn.error" not in err and "INFO uvicorn: Started server process" in err
    assert "alembic" not in err and "Running upgrade" not in err
    assert "Warning" not in err

    again, err = start(tmp_path)
    assert "database is up to date" in again and "created the database" not in again
    assert FRAME not in again and "/console/invite/" not in again


def test_migrate_says_created_then_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    db = Database(url)
    try:
        assert migrate_and_describe(db) == f"created the database ({tmp_path / 'x.sqlite3'})"
        assert migrate_and_describe(db) == f"database is up to date ({tmp_path / 'x.sqlite3'})"
    finally:
        db.dispose()


def test_a_postgres_password_is_never_printed() -> None:
    shown = where("postgresql+psycopg://bot:s3cret@db.internal:5432/bot")
    assert "s3cret" not in shown and "db.internal:5432/bot" in shown


def test_durations_and_frames_read_plainly() -> None:
    shown = [duration(s) for s in (0.4, 59.4, 65, 3600)]
    assert shown == ["0 s", "59 s", "1 min 05 s", "60 min 00 s"]
    link = "http://127.0.0.1:8080/console/invite/" + "x" * 120
    block = framed(["First start:", link])
    assert f"  {link}\n" in block  # a long link is one piece, never wrapped or cut
    assert block.strip().splitlines()[0] == block.strip().splitlines()[-1] == "=" * 100
