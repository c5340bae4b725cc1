"""`make chaos` in miniature: the real Rasa child of a bot process on PostgreSQL is killed with
SIGKILL under load; nothing is lost, sent twice or out of order, and nobody gets an apology (the
messages that needed Rasa waited for its restart). Counts, not timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import POSTGRES_URL, _require_postgres

ROOT = Path(__file__).resolve().parents[2]


def test_killed_rasa_under_load_loses_repeats_and_apologises_nothing(tmp_path: Path) -> None:
    _require_postgres()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            "--chats",
            "3",
            "--scenario",
            "kill-rasa",
            "--settle",
            "3",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        env={**os.environ, "BOT_TEST_POSTGRES_URL": POSTGRES_URL},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (result,) = tmp_path.glob("chaos-*.json")
    (outcome,) = json.loads(result.read_text())["outcomes"]
    assert outcome["settled"] is True
    assert outcome["notes"] == ["SIGKILL of the Rasa child a third of the way through"]
    assert outcome["received_lines"] == outcome["expected_lines"] > 0
    assert (outcome["lost"], outcome["duplicated"], outcome["out_of_order"]) == (0, 0, 0)
    assert outcome["apologies"] == 0
