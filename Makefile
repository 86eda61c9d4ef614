# `make run` serves the app with demo data on SQLite; `make test` runs the whole suite.
# The first interpreter that really runs and is 3.11 or newer (pyenv shims may exist without one).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app

.PHONY: run test lint translations messages install clean bench bench-full bench-bots

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3 on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Compiled catalogs are build products; the .po files are the source.
translations: install
	$(BIN)/pybabel compile --statistics -d consular/translations

run: translations
	CONSULAR_DEBUG=1 $(BIN)/flask db upgrade
	CONSULAR_DEBUG=1 $(BIN)/flask seed-demo --if-empty > /dev/null
	CONSULAR_DEBUG=1 $(BIN)/flask slots extend
	@echo "Demo sign-in accounts (also in instance/demo-logins.txt):"
	@cat instance/demo-logins.txt 2>/dev/null || true
	@echo "Emails appear at http://127.0.0.1:5000/dev/mailbox"
	CONSULAR_DEBUG=1 $(BIN)/flask run --host 127.0.0.1 --port 5000

test: translations
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Speed against a trivial route of the app, on PostgreSQL databases it builds and keeps
# (README, "Performance"): `make bench` takes a few minutes once the databases exist.
bench: translations
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-full: translations
	$(BIN)/python -m bench --full $(BENCH_ARGS)

# A bot against 20 people on gunicorn behind nginx (README, "Fair access"): first come, then
# a lottery release; a few minutes each. Needs PostgreSQL and Redis (nginx if installed).
# Both modes run; the target fails if either prints FAIL.
bench-bots: translations
	$(BIN)/python -m bench.bots $(BOTS_ARGS); first=$$?; \
	$(BIN)/python -m bench.bots --mode lottery $(BOTS_ARGS) && exit $$first

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis

# After changing user-facing text: extract the messages and merge them into each catalog.
# The template keeps where each message is used, for the translators' context.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2 \
		--add-comments=TRANSLATORS: --sort-by-file --project consular \
		-o consular/translations/messages.pot .
	$(BIN)/pybabel update -i consular/translations/messages.pot -d consular/translations \
		--no-fuzzy-matching --ignore-obsolete
