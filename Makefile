# Two entry points for a fresh clone:
#   make demo   install, apply the bundled example migrations to the development database, print
#               its history, then run the integration guide's "Complete Migration Workflow".
#               The databases are on an embedded PostgreSQL server (data under var/postgres; it
#               stops when the last command using it exits): no server to install.
#   make test   install, then run the test suite (PostgreSQL tests on an embedded server when
#               SCHEMA_MANAGER_TEST_POSTGRES_URL is not set)
# and `make docs`: build the documentation site (docs/, mkdocs.yml) into site/, warnings as errors.
# Variables: PYTHON (interpreter for the venv), VENV (its directory), EXTRAS (default `test`;
# `test,mysql` adds the MariaDB/MySQL driver), DJANGO (a version pin,
# e.g. DJANGO='Django>=5.2,<6').
# Each extra is installed once per venv (again when pyproject.toml changes); remove the venv to
# start over.

PYTHON ?= python3
VENV ?= .venv
DJANGO ?=
# Extras to install; `test,mysql` adds the MariaDB/MySQL driver (needs libmariadb-dev).
EXTRAS ?= test
BIN := $(VENV)/bin

.PHONY: demo demo-stop test lint docs FORCE

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)

# An editable install of the checkout with the extras named after the dash; quiet unless it fails.
$(VENV)/.installed-%: pyproject.toml $(if $(DJANGO),FORCE) | $(BIN)/python
	@echo "Installing django-schema-manager[$*] into $(VENV) ..."
	@$(BIN)/python -m pip install -qq --upgrade pip
	@$(BIN)/python -m pip install -qq -e ".[$*]" $(if $(DJANGO),"$(DJANGO)")
	@touch $@

demo: $(VENV)/.installed-demo
	@$(BIN)/python manage.py migrate --verbosity 0
	@echo
	@echo "== prisma/migrations, applied to the development database"
	@$(BIN)/python manage.py apply_schema_migration --all
	@$(BIN)/python manage.py schema_migration_history
	@echo
	@echo "== The integration guide's Complete Migration Workflow (docs/integration-guide.md),"
	@echo "== on fresh databases of its own"
	@$(BIN)/python -m demo_project.guide_workflow
	@echo
	@echo "== Next"
	@echo "  $(BIN)/python manage.py createsuperuser"
	@echo "  $(BIN)/python manage.py runserver      # then open http://127.0.0.1:8000/admin/"
	@echo "  $(BIN)/python manage.py apply_schema_migration --all -e staging"
	@echo "  $(BIN)/python manage.py schema_migration_status --all-environments"
	@echo "PostgreSQL (var/postgres) stops when the last command exits; 'make demo-stop' stops it now."

demo-stop: $(VENV)/.installed-demo
	@$(BIN)/python -m demo_project.local_postgres stop

test: $(VENV)/.installed-$(EXTRAS)
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy

# The documentation site, built into site/; --strict makes every warning (a broken link or
# anchor, a page missing from the navigation) an error. NO_MKDOCS_2_WARNING: the theme's
# end-of-life notice, recorded in docs/dependencies.md, is not repeated on every build.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
