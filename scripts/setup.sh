#!/usr/bin/env bash
# Idempotent set-up: both Python environments, the database, the Rasa model.
# Each step is skipped when its inputs have not changed since it last ran.
#   --bot-only   the bot's environment alone (what `make test-fast` needs: no Python 3.10, no Rasa)
# An environment that is a symbolic link (a git worktree sharing another checkout's .venv or
# .venv-rasa) belongs to that checkout: it is used as it is, never reinstalled from here, and the
# CLI runs as `python -m bot.cli` so that this checkout's code is the one that runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BOT_ONLY=false
[ "${1:-}" = "--bot-only" ] && BOT_ONLY=true

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
# Each phase says how long it usually takes before it starts, and how long it took once done:
# a first set-up takes minutes, and a terminal silent for minutes looks broken.
phase() { PHASE_STARTED=$SECONDS; say "$*"; }
done_in() { printf '    done in %s s\n' "$((SECONDS - PHASE_STARTED))"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

version_ok() { "$1" -c "import sys; sys.exit(0 if sys.version_info[:2] $2 else 1)" 2>/dev/null; }

find_bot_python() {
  for c in "${BOT_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && version_ok "$c" ">= (3, 11)" && { command -v "$c"; return; }
  done
  return 1
}

find_rasa_python() {
  local c
  for c in "${RASA_PYTHON:-}" python3.10; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && version_ok "$c" "== (3, 10)" && { command -v "$c"; return; }
  done
  if command -v pyenv >/dev/null 2>&1; then
    for c in "$(pyenv root)"/versions/3.10*/bin/python3.10; do
      [ -x "$c" ] && version_ok "$c" "== (3, 10)" && { echo "$c"; return; }
    done
  fi
  return 1
}

shared() {  # a symlinked environment that works: another checkout's, left alone
  [ -L "$1" ] && [ -x "$1/bin/python" ] && { say "$1: shared with $(readlink -f "$1"), used as it is"; return 0; }
  return 1
}

BOT_PY=$(find_bot_python) || die "Python 3.11 or newer is needed for the bot (set BOT_PYTHON)."

# 1. The bot's environment.
BOT_STAMP=$(stamp_of pyproject.toml requirements/bot.lock)
if shared .venv; then
  :
elif [ ! -x .venv/bin/python ] || [ "$(cat .venv/.stamp 2>/dev/null)" != "$BOT_STAMP" ]; then
  phase "Bot environment (.venv, $("$BOT_PY" --version); usually about a minute the first time)…"
  [ -x .venv/bin/python ] || "$BOT_PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c requirements/bot.lock -e ".[dev]"
  .venv/bin/python -m pip check
  echo "$BOT_STAMP" > .venv/.stamp
  done_in
fi

if $BOT_ONLY; then
  say "Bot environment ready (--bot-only: no Rasa environment, database or model)"
  exit 0
fi
RASA_PY=$(find_rasa_python) || die "Python 3.10 is needed for Rasa 3.6 (install it, e.g. 'pyenv install 3.10', or set RASA_PYTHON). See README."

# 2. Rasa's environment, kept apart: its pins would break the bot's (and the other way round).
RASA_STAMP=$(stamp_of requirements/rasa.in requirements/rasa.lock)
if shared .venv-rasa; then
  :
elif [ ! -x .venv-rasa/bin/rasa ] || [ "$(cat .venv-rasa/.stamp 2>/dev/null)" != "$RASA_STAMP" ]; then
  phase "Rasa environment (.venv-rasa, $("$RASA_PY" --version); usually 1–2 minutes the first time)…"
  [ -x .venv-rasa/bin/python ] || "$RASA_PY" -m venv .venv-rasa
  .venv-rasa/bin/python -m pip install --quiet --upgrade "pip<24.1"
  .venv-rasa/bin/python -m pip install --quiet -c requirements/rasa.lock -r requirements/rasa.in
  .venv-rasa/bin/python -m pip check
  echo "$RASA_STAMP" > .venv-rasa/.stamp
  done_in
fi

# 3. Database schema and the sample directory.
phase "Database (usually a few seconds)…"
.venv/bin/python -m bot.cli migrate | sed 's/^/    /'

# 4. The Rasa model, trained only when config, domain or training data changed.
# `bot train` says whether it trains (usually about a minute on 2 cores) or the model is up to date.
say "Language model"
RASA_TELEMETRY_ENABLED=false .venv/bin/python -m bot.cli train >/dev/null
say "Set-up complete"
