# The two commands a newcomer needs: `make run` and `make test`. Both start with `make setup`.
# While working on the bot, `make test-fast` is the quick loop (no Rasa needed).
.PHONY: setup setup-bot run test test-fast security eval bench chaos messages lint typecheck check clean

PY := .venv/bin/python
export RASA_TELEMETRY_ENABLED := false

setup:
	@scripts/setup.sh

# The bot's environment alone: what `make test-fast` needs (no Python 3.10, no Rasa, no model).
setup-bot:
	@scripts/setup.sh --bot-only

run: setup
	.venv/bin/bot run

# Everything: unit, integration, and end to end with the real Rasa process and Chromium.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# Unit and integration tests: SQLite and PostgreSQL, the fake Rasa (tests/fakes/rasa.py); two
# processes at once, one per core (scripts/test-fast.sh). Needs neither .venv-rasa nor a model.
test-fast: setup-bot
	@scripts/test-fast.sh $(PYTEST_ARGS)

# The attacks of docs/security.md as tests (the `security` marker): each finding of the security
# review, on SQLite and PostgreSQL, plus Rasa's exposure on this machine (needs the model).
security: setup
	$(PY) -m pytest -m security $(PYTEST_ARGS)

# Held-out intent accuracy, per-intent F1, crisis recall and false-crisis rate, per language.
eval: setup
	.venv/bin/bot report

# Faults under load (several processes, SIGKILL of a bot or of Rasa), counted. Not a test.
chaos: setup
	$(PY) -m bench.chaos

# Speed, memory and accuracy, side by side with stock Rasa (docs/benchmarks.md). Not a test.
bench: setup
	$(PY) -m bench

# Translation catalogs: extract the source texts, merge them into every language, refresh English.
messages:
	.venv/bin/pybabel extract -F babel.cfg -k N_:1c,2 --no-default-keywords --sort-by-file \
	  --project=safe-harbour-assistant -o locales/messages.pot .
	.venv/bin/pybabel update -D messages -i locales/messages.pot -d locales --no-fuzzy-matching
	$(PY) -m bot.nlg.catalog_tools en
	.venv/bin/pybabel compile -D messages -d locales --statistics
	# The staff console's own strings: a separate domain, "console" (bot/console/i18n.py).
	.venv/bin/pybabel extract -F babel_console.cfg -k _ --no-default-keywords --sort-by-file \
	  --project=safe-harbour-assistant -o locales/console.pot .
	.venv/bin/pybabel update -D console -i locales/console.pot -d locales --no-fuzzy-matching
	$(PY) -m bot.console.i18n en
	.venv/bin/pybabel compile -D console -d locales --statistics

lint:
	.venv/bin/ruff check bot actions addons tests bench
	.venv/bin/ruff format --check bot actions addons tests bench

typecheck:
	.venv/bin/mypy

check: lint typecheck

clean:
	rm -rf .venv .venv-rasa models .rasa var .pytest_cache .mypy_cache .ruff_cache
