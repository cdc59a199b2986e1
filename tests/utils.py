"""Helpers shared by the tests: migrations to apply."""

from __future__ import annotations

from schema_manager import Migration

CREATE_USERS = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email VARCHAR(255) NOT NULL
);
CREATE INDEX idx_users_email ON users(email);
"""


def users_migration(**overrides) -> Migration:
    fields = {"id": "001_add_users_table", "name": "add_users_table", "sql": CREATE_USERS}
    return Migration(**{**fields, **overrides})
