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
# One statement, for tests where the users table is only a first migration to build on.
USERS = "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100));\n"


def users_migration(**overrides) -> Migration:
    fields = {"id": "001_add_users_table", "name": "add_users_table", "sql": CREATE_USERS}
    return Migration(**{**fields, **overrides})
