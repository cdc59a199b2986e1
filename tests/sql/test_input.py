"""Hostile and unusual input: a clear SqlInputError or a correct answer, never a crash or hang.

Pure: no database. Per dialect where the dialects disagree (quotes, comments, routine bodies).
"""

from __future__ import annotations

import time

import pytest

from schema_manager.exceptions import SchemaManagerError
from schema_manager.sql import check_sql, generate_rollback, parse_statements, pg_syntax
from schema_manager.sql.statements import MAX_SCRIPT_CHARS, SqlInputError


def _texts(sql: str | bytes, dialect: str | None = None) -> list[str]:
    return [statement.text for statement in parse_statements(sql, dialect)]


# --- Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("sql", ["", "  \n", "-- only\n/* comments */", b"", b"-- c\n"])
def test_empty_and_comment_only_scripts_have_no_statements(sql: str | bytes) -> None:
    assert parse_statements(sql) == []
    assert generate_rollback(sql if isinstance(sql, str) else sql.decode(), "sqlite").text == ""


def test_an_empty_or_comment_only_script_is_a_warning() -> None:
    # Prisma applies both, recording them as applied.
    assert [(f.code, f.severity) for f in check_sql("")] == [("no-statements", "warning")]
    comments = check_sql("-- only a comment\n")
    assert [(f.code, f.severity) for f in comments] == [("no-statements", "warning")]


def test_utf8_bytes_are_decoded() -> None:
    assert _texts("SELECT 'é';".encode()) == ["SELECT 'é';"]


def test_invalid_utf8_is_a_clear_error() -> None:
    with pytest.raises(SqlInputError, match=r"not valid UTF-8 \(byte 0xff at offset 10\)"):
        parse_statements(b"SELECT 1; \xff")


def test_sql_input_error_is_ours_and_a_value_error() -> None:
    assert issubclass(SqlInputError, SchemaManagerError)
    assert issubclass(SqlInputError, ValueError)


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite", "mysql"])
def test_nul_is_refused_everywhere(vendor: str) -> None:
    # pglast (C strings) would silently drop everything after a NUL: refuse before parsing.
    sql = "SELECT 1;\nSELECT '\x00'; DROP TABLE t;"
    with pytest.raises(SqlInputError, match=r"NUL character \(line 2, offset 18\)"):
        parse_statements(sql, vendor)
    with pytest.raises(SqlInputError):
        generate_rollback(sql, vendor)
    (finding,) = check_sql(sql, vendor)
    assert (finding.code, finding.severity) == ("invalid-input", "error")


def test_a_script_over_the_size_limit_is_refused_at_once() -> None:
    sql = "SELECT 1;\n" * (MAX_SCRIPT_CHARS // 10 + 1)  # just over the limit (~20 MB)
    started = time.perf_counter()

    with pytest.raises(SqlInputError, match="the limit is 20,000,000"):
        parse_statements(sql)

    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT 'never closed; DROP TABLE t;", "unterminated quoted string or identifier"),
        ('SELECT "never closed; DROP TABLE t;', "unterminated quoted string or identifier"),
        ("SELECT $x$ never closed; DROP TABLE t;", "unterminated quoted string or identifier"),
        ("SELECT 1 /* /* nested */ never closed; DROP TABLE t;", "unterminated /* comment"),
    ],
)
def test_unterminated_quotes_swallow_the_rest_and_say_so(sql: str, problem: str) -> None:
    (statement,) = parse_statements(sql, "postgresql")

    assert problem in statement.problems
    assert check_sql(sql)[0].code == "syntax"


def test_ten_thousand_nested_parentheses_are_answered() -> None:
    sql = "SELECT " + "(" * 10_000 + "1" + ")" * 10_000 + "; SELECT 2;"
    started = time.perf_counter()

    first, second = parse_statements(sql)

    assert (first.problems, second.text) == ((), "SELECT 2;")
    assert generate_rollback(sql, "postgresql").warnings  # not invertible, but answered
    assert time.perf_counter() - started < 5


def test_unbalanced_deep_parentheses_are_a_problem_not_a_crash() -> None:
    (statement,) = parse_statements("SELECT " + "(" * 10_000 + "1;")

    assert statement.problems == ("unbalanced parentheses",)


def test_a_megabyte_script_is_fast_enough() -> None:
    sql = "INSERT INTO t (a, b) VALUES ('x;y', $$z;$$); -- note; here\n" * 20_000  # ~1.2 MB
    started = time.perf_counter()

    assert len(parse_statements(sql)) == 20_000
    assert time.perf_counter() - started < 10  # ~0.5 s here; sqlparse took ~30 s


# --- Dialects --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "sql", "expected"),
    [
        # PostgreSQL: nested comments, dollar quotes, SQL-standard function bodies.
        (
            "postgresql",
            "/* a /* b; */ c; */ SELECT 1; SELECT 2;",
            ["/* a /* b; */ c; */ SELECT 1;", "SELECT 2;"],
        ),
        (
            "postgresql",
            "CREATE FUNCTION g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n"
            "  SELECT CASE WHEN true THEN 2 END;\nEND;\nSELECT 3;",
            [
                "CREATE FUNCTION g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n"
                "  SELECT CASE WHEN true THEN 2 END;\nEND;",
                "SELECT 3;",
            ],
        ),
        ("postgresql", r"SELECT E'it\'s; ok'; SELECT 2;", [r"SELECT E'it\'s; ok';", "SELECT 2;"]),
        ("postgresql", r"SELECT 'C:\'; SELECT 2;", [r"SELECT 'C:\';", "SELECT 2;"]),
        ("postgresql", "SELECT $1, a$b FROM t; SELECT 2;", ["SELECT $1, a$b FROM t;", "SELECT 2;"]),
        # A transaction's BEGIN is a statement, not a routine body.
        ("postgresql", "BEGIN; SELECT 1; COMMIT;", ["BEGIN;", "SELECT 1;", "COMMIT;"]),
        # A column named like a keyword does not open a body.
        (
            "postgresql",
            "CREATE TABLE t (function text, begin int); SELECT 1;",
            ["CREATE TABLE t (function text, begin int);", "SELECT 1;"],
        ),
        # SQLite: trigger bodies, [bracketed] and `backticked` names; comments do not nest.
        (
            "sqlite",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET a = 1;\n  "
            "SELECT CASE WHEN 1 THEN 2 END;\nEND;\nSELECT 2;",
            [
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET a = 1;\n  "
                "SELECT CASE WHEN 1 THEN 2 END;\nEND;",
                "SELECT 2;",
            ],
        ),
        (
            "sqlite",
            "SELECT [a;b], `c;d` FROM t; SELECT 2",
            ["SELECT [a;b], `c;d` FROM t;", "SELECT 2"],
        ),
        ("sqlite", "/* a /* b; */ SELECT 1; SELECT 2", ["/* a /* b; */ SELECT 1;", "SELECT 2"]),
        # MySQL: backslash escapes, # comments, "..." strings, compound statements.
        ("mysql", r"SELECT 'it\'s; ok'; SELECT 2;", [r"SELECT 'it\'s; ok';", "SELECT 2;"]),
        ("mysql", 'SELECT "a;b"; # c; d\nSELECT 2;', ['SELECT "a;b"; # c; d', "SELECT 2;"]),
        (
            "mysql",
            "CREATE PROCEDURE p() BEGIN\n  IF x THEN SELECT 1; END IF;\n"
            "  WHILE y DO SELECT 2; END WHILE;\n  CASE z WHEN 1 THEN SELECT 3; END CASE;\nEND;\n"
            "SELECT 4;",
            [
                "CREATE PROCEDURE p() BEGIN\n  IF x THEN SELECT 1; END IF;\n"
                "  WHILE y DO SELECT 2; END WHILE;\n  CASE z WHEN 1 THEN SELECT 3; END CASE;\nEND;",
                "SELECT 4;",
            ],
        ),
        (
            "mysql",
            "CREATE DEFINER=`root`@`%` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN "
            "SET NEW.a = 1; END; SELECT 2;",
            [
                "CREATE DEFINER=`root`@`%` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN "
                "SET NEW.a = 1; END;",
                "SELECT 2;",
            ],
        ),
    ],
)
def test_dialect_splitting(dialect: str, sql: str, expected: list[str]) -> None:
    statements = parse_statements(sql, dialect)

    assert [s.text for s in statements] == expected
    assert [s.problems for s in statements] == [()] * len(expected)


def test_a_body_without_end_is_reported() -> None:
    (statement,) = parse_statements("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1;", "sqlite")

    assert statement.problems == ("BEGIN without a matching END",)


def test_statement_start_is_its_offset_in_the_script() -> None:
    sql = "SELECT 1;\n  -- c\n  SELECT 2;"

    assert [sql[s.start : s.start + len(s.text)] for s in parse_statements(sql)] == [
        "SELECT 1;",
        "-- c\n  SELECT 2;",
    ]


def test_unknown_vendors_get_the_generic_reading() -> None:
    assert _texts("SELECT 1; SELECT 2", "oracle") == _texts("SELECT 1; SELECT 2")


# --- PostgreSQL's own parser (pglast) --------------------------------------------------------

needs_pglast = pytest.mark.skipif(
    not pg_syntax.available(), reason="pglast is not installed (pip install '.[pglast]')"
)


@needs_pglast
def test_postgresql_syntax_errors_come_with_line_and_column() -> None:
    sql = "CREATE TABLE t (id INT);\nSELECT 1 FROM\n  WHERE x;"

    assert [finding.message for finding in check_sql(sql, "postgresql")] == [
        'Statement 2 (SELECT 1 FROM WHERE x) does not parse: syntax error at or near "WHERE" '
        "(line 2, column 3 of the statement)."
    ]


@needs_pglast
def test_postgresql_grammar_is_only_applied_to_postgresql() -> None:
    sql = "SELEC 1;"

    assert [finding.code for finding in check_sql(sql, "postgresql")] == ["syntax"]
    assert [finding.code for finding in check_sql(sql, "sqlite")] == ["syntax"]  # lexical
    assert check_sql("CREATE TABLE t (id INT) WITHOUT ROWID;", "sqlite") == []
    assert [f.code for f in check_sql("CREATE TABLE t (id INT) WITHOUT ROWID;", "postgresql")] == [
        "syntax"
    ]


@needs_pglast
def test_postgresql_grammar_accepts_the_hard_cases() -> None:
    sql = (
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n"
        "/* a /* nested */ comment */ CREATE TABLE t (id INT, note TEXT DEFAULT $$a;b$$);\n"
    )

    assert check_sql(sql, "postgresql") == []


def test_large_scripts_pause_the_cyclic_gc_only_while_parsing() -> None:
    import gc

    sql = "SELECT 1;\n" * 20_000  # over the 100 KB threshold

    assert gc.isenabled()
    assert len(parse_statements(sql)) == 20_000
    assert check_sql(sql) == []
    assert gc.isenabled()
