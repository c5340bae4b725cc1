"""The command line: `bot eval` as docs/eval.md specifies it, from a cold start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bot_eval_reads_and_writes_json_lines(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "text": "me van a matar", "lang": "es", "country": "MX"},
        {"id": "b", "text": "i need a lawyer", "lang": "en"},
        {"id": "c1", "text": "hola", "conversation": "k"},
        {"id": "c2", "text": "1", "conversation": "k"},
        {"id": "d", "text": "quero falar com uma pessoa"},
    ]
    env = dict(os.environ, BOT_DATA_DIR=str(tmp_path), BOT_SECRET_KEY="eval-test-key")
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "eval", "-"],
        input="\n".join(json.dumps(x) for x in lines) + "\nnot json\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
        check=True,
    )
    results = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["id"] for r in results] == ["a", "b", "c1", "c2", "d"]
    for r in results:
        assert set(r) == {
            "id",
            "language",
            "intent",
            "confidence",
            "crisis",
            "decided_by",
            "reason",
            "replies",
            "mode",
        }
        assert r["replies"] and all(isinstance(t, str) for t in r["replies"])
    a = results[0]
    assert a["crisis"] is True and a["language"] == "es" and "911" in a["replies"][0]
    assert results[1]["intent"] == "need_legal" and results[1]["crisis"] is False
    assert results[3]["intent"] == "affirm"  # the same conversation continued
    assert results[4]["language"] == "pt"
    assert "not JSON" in out.stderr
