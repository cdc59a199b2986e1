"""Safety rules through validate_migration: severities per environment from settings, and
acknowledgements, on the real targets (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from schema_manager import Migration, SchemaManager

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

DROP_COLUMN = "ALTER TABLE users DROP COLUMN email;"


def _validate(sql: str, environment: str):
    migration = Migration(id="002_change_users", name="change_users", sql=sql)
    return SchemaManager().validate_migration_sync(migration, environment)


def _rules(rules: dict) -> override_settings:
    return override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, "RULES": rules})


def test_rule_severity_per_environment_from_settings(targets):
    with _rules({"staging": {"drop-column": "error"}, "*": {"drop-column": "off"}}):
        staging = _validate(DROP_COLUMN, "staging")
        development = _validate(DROP_COLUMN, "development")

    assert not staging.is_valid
    assert [e for e in staging.errors if "drops a column and its data" in e]
    assert development.is_valid
    assert not [w for w in development.warnings if "drops a column and its data" in w]


def test_default_severities_warn_and_production_blocks_destructive(targets):
    development = _validate(DROP_COLUMN, "development")
    production = _validate(DROP_COLUMN, "production")

    assert development.is_valid
    assert [w for w in development.warnings if "drops a column and its data" in w]
    assert not production.is_valid


def test_an_acknowledged_rule_is_shown_not_warned_and_does_not_block(targets):
    sql = f"-- schema-manager: allow drop-column\n{DROP_COLUMN}"

    result = _validate(sql, "production")

    assert result.is_valid
    assert not [w for w in result.warnings + result.errors if "drops a column and its data" in w]
    assert len(result.acknowledged) == 1
    assert result.acknowledged[0].endswith(
        "Acknowledged by '-- schema-manager: allow drop-column'."
    )


def test_postgresql_lock_rules_apply_to_postgresql_targets_only(targets):
    sql = "CREATE INDEX users_email ON users (email);"

    result = _validate(sql, "development")

    lock_warnings = [w for w in result.warnings if "create-index-not-concurrently" in w]
    assert bool(lock_warnings) == (targets.engine == "postgresql")
    assert result.is_valid


def test_system_check_refuses_unknown_rules_and_severities():
    from schema_manager.checks import check_rules

    with _rules({"production": {"drop-column": "error", "drop-colum": "error"}}):
        errors = check_rules()
    with _rules({"*": {"truncate": "fatal"}}):
        errors += check_rules()
    with _rules({"*": {"truncate": "off"}}):
        assert check_rules() == []

    assert [error.id for error in errors] == ["schema_manager.E007"] * 2
    assert "'drop-colum'" in errors[0].msg
    assert "'fatal'" in errors[1].msg
