"""`make chaos` in miniature: faults under load on real bot processes (each with its real Rasa
child) on PostgreSQL; nothing is lost, sent twice or out of order, and nobody gets an apology
for our own fault. Beside the script, fresh chats write a crisis (four languages) before, during
and after each fault: every one gets the crisis reply with the emergency numbers, once, as a
chat alone before the load did. Counts, not timings.

- the Rasa child killed with SIGKILL (messages that needed Rasa waited for its restart);
- the database black-holed for 15 s through a proxy (webhooks answered 503 meanwhile and were
  delivered again; the health check said so; turns waited);
- every database connection reset at once (replaced, work tried again);
- every update delivered twice, and each chat's first one again at the end (dropped).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import POSTGRES_URL, _require_postgres

ROOT = Path(__file__).resolve().parents[2]

NOTES = {
    "kill-rasa": ["SIGKILL of the Rasa child a third of the way through"],
    "db-blackhole": ["database black hole of 15 s a third of the way through"],
    "db-reset": ["every database connection reset a third of the way through"],
    "duplicates": [],
}


def chaos(tmp_path: Path, scenario: str) -> dict[str, Any]:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            "--chats",
            "3",
            "--scenario",
            scenario,
            "--processes",
            "1",
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
    assert isinstance(outcome, dict)
    return outcome


@pytest.mark.parametrize("scenario", list(NOTES))
def test_faults_under_load_lose_repeat_and_apologise_nothing_and_crises_are_answered(
    tmp_path: Path, scenario: str
) -> None:
    _require_postgres()
    outcome = chaos(tmp_path, scenario)
    assert outcome["settled"] is True
    assert outcome["notes"] == NOTES[scenario]
    assert outcome["received_lines"] == outcome["expected_lines"] > 0
    assert (outcome["lost"], outcome["duplicated"], outcome["out_of_order"]) == (0, 0, 0)
    assert outcome["apologies"] == 0
    # Crises, the fault's included: each answered once with the crisis wording, nothing lost.
    crises = outcome["crisis_sent"]
    assert outcome["crisis_answered"] == outcome["crisis_worded"] == crises >= 4
    assert (outcome["crisis_lost"], outcome["crisis_duplicated"]) == (0, 0)
    assert outcome["crisis_differing"] == 0
    assert outcome["during_worded"] == outcome["during_sent"] > 0
    assert outcome["outside_worded"] == outcome["outside_sent"]
    if scenario != "duplicates":  # there, the whole run is the fault
        assert outcome["outside_sent"] >= 3  # the start, halfway to the fault, after it
    if scenario == "db-blackhole":
        # The fault was real: webhooks were refused (and delivered again), and the readiness
        # check said the database was down while it was.
        assert outcome["webhook_retries"] > 0
        assert outcome["health_down"] > 0
