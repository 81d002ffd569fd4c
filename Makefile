# Memodesk: `make run` to start it, `make test` to test it. Both set up .venv on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
SECRET_KEY_FILE := $(CURDIR)/.secret_key
# `make run` serves as production would (debug off, collected static files, a real secret key),
# over plain HTTP on 127.0.0.1, so the HTTPS-only settings are off. DJANGO_DEBUG=1 make run is the
# development mode.
RUN_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-0} DJANGO_HTTPS=$${DJANGO_HTTPS:-0} \
	DJANGO_SECRET_KEY_FILE=$${DJANGO_SECRET_KEY_FILE:-$(SECRET_KEY_FILE)}

.PHONY: run test lint format install clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Generated once, kept out of git (.gitignore), readable only by its owner.
$(SECRET_KEY_FILE):
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	@echo "Generated a secret key into $@"

# Migrate, collect the static files, load the demo data (and the demo users) into an empty
# database only, pick up bill runs a stopped worker left under way, then run the task worker and
# the web server together; Ctrl-C stops both.
run: $(STAMP) $(SECRET_KEY_FILE)
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(RUN_ENV) $(BIN)/python manage.py seed_demo --if-empty --demo-users
	$(RUN_ENV) $(BIN)/python manage.py resume_bill_runs
	$(RUN_ENV) $(BIN)/python manage.py resume_payment_runs
	@echo "Memodesk on http://127.0.0.1:$(PORT)/ (Ctrl-C stops the server and the worker)"
	@trap 'kill 0' INT TERM EXIT; \
	$(RUN_ENV) $(BIN)/python manage.py db_worker --interval 1 & \
	$(RUN_ENV) $(BIN)/gunicorn billing.wsgi --bind 127.0.0.1:$(PORT) --workers 2 --threads 4 \
		--access-logfile - --graceful-timeout 5 & \
	wait

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
