#!/usr/bin/env bash
# `make test-fast`: the unit and integration layers (no Rasa: the fake one), in two pytest
# processes at once, one per core:
#   1. the integration tests on SQLite and those with no database variant (shown as they run);
#   2. the unit tests, then the integration tests' PostgreSQL variants (shown when done).
# Arguments are passed to both (e.g. -x, -k, -q). One process alone: `.venv/bin/python -m pytest
# tests/unit tests/integration`.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
log=$(mktemp)
trap 'rm -f "$log"' EXIT

( "$PY" -m pytest tests/unit "$@" && "$PY" -m pytest tests/integration --databases=postgres "$@" ) \
  >"$log" 2>&1 &
second=$!
"$PY" -m pytest tests/integration --databases=sqlite "$@"
first_rc=$?
wait "$second"
second_rc=$?
printf '\n==> unit tests, then the PostgreSQL variants of the integration tests\n'
cat "$log"
[ "$first_rc" -eq 0 ] && [ "$second_rc" -eq 0 ]
