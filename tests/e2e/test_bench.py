"""`make bench` in miniature: the benchmark runs end to end and writes its report (no timing
assertions: speed is measured, not tested)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_writes_table_json_and_plot(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "End to end" in run.stdout and "Understanding" in run.stdout
    results = list(tmp_path.glob("*-quick.json"))
    assert len(results) == 1
    data = json.loads(results[0].read_text())
    assert data["machine"]["cpus"] >= 1
    assert data["end_to_end"]["steps"] and all(
        s["answered"] > 0 for s in data["end_to_end"]["steps"]
    )
    assert set(data["understanding"]["ours"]["languages"]) == {"en", "es", "pt", "fr"}
    e2e = data["end_to_end"]
    assert e2e["cold_start_crisis_seconds"] > 0
    assert all(s["cpu"]["bot_ms_per_turn"] > 0 for s in e2e["steps"])
    work = data["database_work"]
    assert work["ordinary"]["messages"] > 0 and work["ordinary"]["transactions"] > 0
    assert work["crisis"]["messages"] > 0 and work["crisis"]["statements"] > 0
    assert (tmp_path / "latest.png").stat().st_size > 1000
