# Chatlab: `make run` serves the site, `make test` runs the suite. Both build .venv from the lock files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lock migrate clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

# The stamp files make a second `make run` skip the install unless a lock file changed.
$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_bots
	@# Last on the screen: where to open the site, and the first admin's password (once).
	@# Daphne starts quietly (its start-up lines are info; warnings and the access log stay).
	@$(BIN)/python manage.py ensure_admin --host $(HOST) --port $(PORT)
	@$(BIN)/python -m chatlab_site.serve -b $(HOST) -p $(PORT) -v 0 --access-log -

# With DATABASE_URL set (CI: PostgreSQL) the permission and quota tests and the backup round
# trip run on SQLite too.
# Two workers (pytest-xdist): the suite's stacks, databases and Redis databases are per worker.
test: install-dev
	$(BIN)/python -m pytest -n 2
	@if [ -n "$$DATABASE_URL" ]; then \
	  echo "== permission matrix, roles and quotas, backup round trip again on SQLite"; \
	  DATABASE_URL= $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider tests/test_permission_matrix.py \
	    tests/test_roles_and_quotas.py tests/test_guests.py tests/test_api.py \
	    tests/test_backup_roundtrip.py; \
	fi

# Regenerates both lock files from pyproject.toml (needs the network to PyPI).
lock: install-dev
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --all-build-deps -o requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --all-build-deps --extra dev -o requirements-dev.lock pyproject.toml

# Interface languages besides English (locale/<code>/LC_MESSAGES): `make messages` gathers every
# marked string into their .po files (python and templates: django; static/chat: djangojs), then
# compiles the .mo files the site reads. Translate the new entries in between and run it again.
LOCALES := ru de es fr zh_Hans
MESSAGES_IGNORE := --ignore=bench --ignore=tests --ignore=docs --ignore=var --ignore=chatlab_cli \
  --ignore=staticfiles --ignore='static/vendor/*'
messages: install-dev
	$(BIN)/python manage.py makemessages --no-obsolete --add-location=file $(MESSAGES_IGNORE) $(LOCALES:%=-l %)
	$(BIN)/python manage.py makemessages -d djangojs --no-obsolete --add-location=file $(MESSAGES_IGNORE) $(LOCALES:%=-l %)
	$(BIN)/python manage.py compilemessages --ignore=.venv --ignore=staticfiles $(LOCALES:%=-l %)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
