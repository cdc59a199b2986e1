"""Prisma identifiers for database names, and the default names Prisma gives constraints."""

from __future__ import annotations

import re

_LEADING = re.compile(r"^[^A-Za-z]+")
_INVALID = re.compile(r"[^A-Za-z0-9_]")
# PostgreSQL truncates identifiers to 63 bytes, and Prisma's default names follow it.
NAME_LIMITS = {"postgresql": 63}


# Names db pull renames to Renamed<name> (with @@map): PrismaClient and JavaScript's reserved
# words, which the generated client cannot use as type names.
RESERVED_NAMES = frozenset(
    {"PrismaClient"}
    | set(
        [
            "async",
            "await",
            "break",
            "case",
            "catch",
            "class",
            "const",
            "continue",
            "debugger",
            "default",
            "delete",
            "do",
            "else",
            "enum",
            "export",
            "extends",
            "false",
            "finally",
            "for",
            "function",
            "if",
            "implements",
            "import",
            "in",
            "instanceof",
            "interface",
            "let",
            "new",
            "null",
            "package",
            "private",
            "protected",
            "public",
            "return",
            "super",
            "switch",
            "this",
            "throw",
            "true",
            "try",
            "typeof",
            "using",
            "var",
            "void",
            "while",
            "with",
            "yield",
        ]
    )
)


def type_name(name: str) -> str:
    """A model's, enum's or view's name for a database name: renamed when reserved, else
    sanitised."""
    return f"Renamed{name}" if name in RESERVED_NAMES else identifier(name)


def identifier(name: str) -> str:
    """``db pull``'s sanitising: drop leading non-letters, then each other invalid char -> ``_``."""
    return _INVALID.sub("_", _LEADING.sub("", name))


def enum_value_name(value: str) -> str:
    """An enum value's Prisma name: sanitised, and ``EMPTY_ENUM_VALUE`` for the empty string."""
    return identifier(value) if value else "EMPTY_ENUM_VALUE"


def default_constraint_name(
    provider: str, table: str, columns: tuple[str, ...], suffix: str
) -> str:
    """Prisma's name for a constraint it would create: ``<table>_<columns>_<suffix>``."""
    name = "_".join([table, *columns, suffix]) if columns else f"{table}_{suffix}"
    limit = NAME_LIMITS.get(provider)
    if limit and len(name) > limit:
        name = f"{name[: limit - len(suffix) - 1]}_{suffix}"
    return name


def quoted(text: str) -> str:
    """A Prisma string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
