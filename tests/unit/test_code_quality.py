"""The code stays typed and linted: `mypy` strict on bot/, bench/, actions/ and tests/ (the files
listed in pyproject.toml), `ruff check` and `ruff format` on everything Python, addons/ included
(it runs inside the Rasa process, on Python 3.10: pyproject.toml sets its target version)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CODE = ["bot", "actions", "addons", "tests", "bench"]


def test_ruff() -> None:
    run = subprocess.run([BIN / "ruff", "check", *CODE], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_format() -> None:
    run = subprocess.run(
        [BIN / "ruff", "format", "--check", *CODE], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy() -> None:
    run = subprocess.run([BIN / "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
