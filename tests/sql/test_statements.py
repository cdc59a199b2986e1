"""Splitting scripts into statements, their words, and reading names. Pure: no database."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schema_manager.sql import check_sql, generate_rollback, parse_statements
from schema_manager.sql.names import QualifiedName, WordCursor, split_top_level
from schema_manager.sql.rollback import WARNING_PREFIX
from schema_manager.sql.statements import SqlInputError, Word, WordKind

VENDORS = ("postgresql", "sqlite", "mysql")


def _texts(sql: str) -> list[str]:
    return [statement.text for statement in parse_statements(sql)]


# --- Splitting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1; SELECT 2;", ["SELECT 1;", "SELECT 2;"]),
        ("SELECT 1;\nSELECT 2", ["SELECT 1;", "SELECT 2"]),
        ("  \n SELECT 1  \n\n", ["SELECT 1"]),
        # ; inside single quotes, with doubled quotes and across lines.
        (
            "INSERT INTO t VALUES ('a;b'); SELECT 2;",
            ["INSERT INTO t VALUES ('a;b');", "SELECT 2;"],
        ),
        (
            "INSERT INTO t VALUES ('it''s; fine'); SELECT 2;",
            ["INSERT INTO t VALUES ('it''s; fine');", "SELECT 2;"],
        ),
        (
            "INSERT INTO t VALUES ('one;\ntwo;\n'); SELECT 2;",
            ["INSERT INTO t VALUES ('one;\ntwo;\n');", "SELECT 2;"],
        ),
        ("SELECT '--'; SELECT '/*'; SELECT 2;", ["SELECT '--';", "SELECT '/*';", "SELECT 2;"]),
        # ; inside double-quoted identifiers.
        ('SELECT "a;b" FROM "t;u"; SELECT 2;', ['SELECT "a;b" FROM "t;u";', "SELECT 2;"]),
        (
            'CREATE TABLE "x"";y" (id INT); SELECT 2;',
            ['CREATE TABLE "x"";y" (id INT);', "SELECT 2;"],
        ),
        # ; inside comments.
        ("SELECT 1; -- a; b\nSELECT 2;", ["SELECT 1; -- a; b", "SELECT 2;"]),
        ("SELECT 1 -- a; b\n; SELECT 2;", ["SELECT 1 -- a; b\n;", "SELECT 2;"]),
        ("SELECT 1 /* a; b */; SELECT 2;", ["SELECT 1 /* a; b */;", "SELECT 2;"]),
        ("SELECT 1 /* a;\n b; */ + 1; SELECT 2;", ["SELECT 1 /* a;\n b; */ + 1;", "SELECT 2;"]),
        # Dollar quotes.
        ("SELECT $$a;b$$; SELECT 2;", ["SELECT $$a;b$$;", "SELECT 2;"]),
        ("SELECT $tag$ a $$ ; $tag$; SELECT 2;", ["SELECT $tag$ a $$ ; $tag$;", "SELECT 2;"]),
        (
            "DO $$ BEGIN PERFORM 1; END $$; SELECT 2;",
            ["DO $$ BEGIN PERFORM 1; END $$;", "SELECT 2;"],
        ),
    ],
)
def test_split(sql: str, expected: list[str]) -> None:
    assert _texts(sql) == expected


PLPGSQL_FUNCTION = """\
CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = now();
    INSERT INTO audit (note) VALUES ('touched; really');
    RETURN NEW;
END $$ LANGUAGE plpgsql;"""

TAGGED_FUNCTION = """\
CREATE OR REPLACE FUNCTION f() RETURNS void AS $fn$
BEGIN
    RAISE NOTICE '$$ is not the end; neither is this';
    DELETE FROM t; -- a comment; inside the body
END
$fn$ LANGUAGE plpgsql;"""


@pytest.mark.parametrize("function", [PLPGSQL_FUNCTION, TAGGED_FUNCTION])
def test_dollar_quoted_function_body_is_one_statement(function: str) -> None:
    sql = f"CREATE TABLE t (id INT);\n\n{function}\n\nCREATE TRIGGER tr BEFORE UPDATE ON t "
    sql += "FOR EACH ROW EXECUTE FUNCTION set_updated_at();\n"

    statements = parse_statements(sql)

    assert [s.text for s in statements] == [
        "CREATE TABLE t (id INT);",
        function,
        "CREATE TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION set_updated_at();",
    ]
    assert [s.problems for s in statements] == [(), (), ()]


@pytest.mark.parametrize(
    "sql",
    [
        "",
        "   \n\t",
        ";",
        ";;",
        " ; ; \n ;",
        "-- only a comment",
        "/* only a block comment */",
        "-- one\n/* two */\n-- three\n",
        "-- a ;\n;\n/* b ; */ ;",
    ],
)
def test_nothing_to_run(sql: str) -> None:
    assert parse_statements(sql) == []


def test_comment_only_chunks_and_stray_semicolons_are_dropped() -> None:
    sql = "-- header\n;\nSELECT 1;;\n/* between; */ ;\n;SELECT 2;\n-- trailer; ;\n"

    statements = parse_statements(sql)

    assert [s.index for s in statements] == [0, 1]
    assert [s.summary for s in statements] == ["SELECT 1", "SELECT 2"]


def test_index_counts_from_zero_over_kept_statements() -> None:
    sql = "-- c\nCREATE TABLE a (id INT);\n;\n-- c\nCREATE TABLE b (id INT);\nDROP TABLE c;"

    assert [(s.index, s.summary) for s in parse_statements(sql)] == [
        (0, "CREATE TABLE a ( id INT )"),
        (1, "CREATE TABLE b ( id INT )"),
        (2, "DROP TABLE c"),
    ]


def test_text_keeps_the_original_spelling_comments_and_layout() -> None:
    sql = '  create  TABLE "My T" (\n    id int -- the key\n);  \n\n/* doc */ select 1'

    assert _texts(sql) == [
        'create  TABLE "My T" (\n    id int -- the key\n);',
        "/* doc */ select 1",
    ]


# --- Words -----------------------------------------------------------------------------------


def test_words_skip_whitespace_and_comments_and_classify_tokens() -> None:
    (statement,) = parse_statements(
        "INSERT /* c */ INTO \"T\" (a) -- c\n VALUES ('x;y', 42, a * 1.5) ;"
    )

    assert [(w.text, w.kind) for w in statement.words] == [
        ("INSERT", WordKind.KEYWORD),
        ("INTO", WordKind.KEYWORD),
        ('"T"', WordKind.QUOTED_NAME),
        ("(", WordKind.PUNCTUATION),
        ("a", WordKind.NAME),
        (")", WordKind.PUNCTUATION),
        ("VALUES", WordKind.KEYWORD),
        ("(", WordKind.PUNCTUATION),
        ("'x;y'", WordKind.STRING),
        (",", WordKind.PUNCTUATION),
        ("42", WordKind.NUMBER),
        (",", WordKind.PUNCTUATION),
        ("a", WordKind.NAME),
        ("*", WordKind.OPERATOR),
        ("1.5", WordKind.NUMBER),
        (")", WordKind.PUNCTUATION),
        (";", WordKind.PUNCTUATION),
    ]


def test_word_upper_and_identifier_kinds() -> None:
    assert Word("users", WordKind.NAME).upper == "USERS"
    assert Word("users", WordKind.NAME).is_identifier
    assert Word('"My T"', WordKind.QUOTED_NAME).is_identifier
    assert Word("comment", WordKind.KEYWORD).is_identifier  # unreserved keyword as a name
    assert not Word("PRIMARY KEY", WordKind.KEYWORD).is_identifier  # merged phrase
    assert not Word("NOT\nNULL", WordKind.KEYWORD).is_identifier
    assert not Word("'x'", WordKind.STRING).is_identifier
    assert not Word("(", WordKind.PUNCTUATION).is_identifier


def test_starts_with_compares_keywords_case_insensitively() -> None:
    (statement,) = parse_statements("alter table t add column c int;")

    assert statement.starts_with("ALTER", "TABLE")
    assert statement.starts_with("ALTER")
    assert not statement.starts_with("ALTER", "INDEX")
    assert not statement.starts_with("CREATE")


def test_summary_is_one_line_without_semicolons() -> None:
    (statement,) = parse_statements("SELECT\n  'a\nb',\r\n  $$x\n\ty$$  ;")

    assert statement.summary == "SELECT 'a b' , $$x y$$"


def test_summary_is_shortened_to_80_characters() -> None:
    sql = "SELECT " + ", ".join(f"column_{n}" for n in range(20)) + " FROM t;"

    summary = parse_statements(sql)[0].summary

    assert len(summary) == 80
    assert summary == (
        "SELECT column_0 , column_1 , column_2 , column_3 , column_4 , column_5 , colu..."
    )


def test_summary_of_exactly_80_characters_is_kept_whole() -> None:
    sql = "SELECT " + "x" * 73
    assert len(sql) == 80

    assert parse_statements(sql)[0].summary == sql


# --- Lexical problems ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "problems"),
    [
        ("SELECT 'abc;", ("unterminated quoted string or identifier",)),
        ('SELECT "abc;', ("unterminated quoted string or identifier",)),
        ("SELECT $$abc;", ("unterminated quoted string or identifier",)),
        ("SELECT 1 /* no end", ("unterminated /* comment",)),
        ("SELECT (1;", ("unbalanced parentheses",)),
        ("SELECT 1);", ("unbalanced parentheses",)),
        ("SELECT )(;", ("unbalanced parentheses",)),
        ("SELECT ('x;", ("unterminated quoted string or identifier", "unbalanced parentheses")),
        ("hello world;", ("does not start with an SQL keyword (starts with 'hello')",)),
        ("'text';", ("does not start with an SQL keyword (starts with \"'text'\")",)),
        ("SELECT 1;", ()),
        ("(SELECT 1) UNION (SELECT 2);", ()),
        ("PRAGMA foreign_keys = ON;", ()),
        ("SELECT 10 / 2 * 3;", ()),
        ("SELECT ')' , '(';", ()),
    ],
)
def test_problems(sql: str, problems: tuple[str, ...]) -> None:
    (statement,) = parse_statements(sql)

    assert statement.problems == problems


def test_unterminated_comment_after_a_good_statement_is_its_own_statement() -> None:
    first, second = parse_statements("SELECT 1; /* never closed\nSELECT 2")

    assert (first.text, first.problems) == ("SELECT 1;", ())
    assert second.problems == ("unterminated /* comment",)


def test_backslash_before_closing_quote_ends_the_string() -> None:
    assert _texts(r"INSERT INTO t VALUES ('C:\'); SELECT 'x';") == [
        r"INSERT INTO t VALUES ('C:\');",
        "SELECT 'x';",
    ]


# --- Names -----------------------------------------------------------------------------------


def _words(sql: str) -> tuple[Word, ...]:
    return parse_statements(sql)[0].words


def test_qualified_name_parts() -> None:
    plain = QualifiedName(("users",))
    qualified = QualifiedName(('"S"', '"My T"'))

    assert (str(plain), plain.schema, plain.object) == ("users", None, "users")
    assert (str(qualified), qualified.schema, qualified.object) == ('"S"."My T"', '"S"', '"My T"')
    assert QualifiedName(("db", "s", "t")).schema == "s"


@pytest.mark.parametrize(
    ("sql", "parts"),
    [
        ("users (", ("users",)),
        ('"My Table" x', ('"My Table"',)),
        ("s.users", ("s", "users")),
        ('"S"."T".c', ('"S"', '"T"', "c")),
        ("comment.name", ("comment", "name")),
        ("s. (", ("s",)),  # a trailing dot without a name is left alone
    ],
)
def test_take_name(sql: str, parts: tuple[str, ...]) -> None:
    cursor = WordCursor(_words(sql))

    assert cursor.take_name() == QualifiedName(parts)


@pytest.mark.parametrize("sql", ["'str'", "(a)", "42", "PRIMARY KEY"])
def test_take_name_refuses_what_is_not_a_name(sql: str) -> None:
    cursor = WordCursor(_words(sql))

    assert cursor.take_name() is None
    assert cursor.position == 0


def test_take_keywords_matches_separate_and_merged_tokens() -> None:
    # sqlparse merges "IF NOT EXISTS" into one token here; both spellings must match.
    cursor = WordCursor(_words("CREATE TABLE IF NOT EXISTS t"))

    assert cursor.take_keywords("CREATE", "TABLE")
    assert not cursor.take_keywords("IF", "EXISTS")
    assert cursor.take_keywords("IF", "NOT", "EXISTS")
    assert cursor.take_name() == QualifiedName(("t",))
    assert cursor.done
    assert cursor.peek() is None
    assert not cursor.take_keywords("ANYTHING")


def test_take_any_returns_the_matched_spelling() -> None:
    cursor = WordCursor(_words("drop materialized view v"))
    cursor.take_keywords("DROP")

    assert cursor.take_any("TABLE", "MATERIALIZED VIEW") == "MATERIALIZED VIEW"
    assert cursor.take_any("TABLE", "VIEW") is None
    assert [w.text for w in cursor.rest()] == ["v"]


def test_cursor_ignores_semicolons() -> None:
    cursor = WordCursor(_words("SELECT 1;"))

    assert [w.text for w in cursor.words] == ["SELECT", "1"]


def test_split_top_level_keeps_nested_commas() -> None:
    words = list(_words("a INT, b NUMERIC(10, 2), c TEXT CHECK (c IN ('x', 'y')),"))

    groups = split_top_level(words)

    assert [" ".join(w.text for w in group) for group in groups] == [
        "a INT",
        "b NUMERIC ( 10 , 2 )",
        "c TEXT CHECK ( c IN ( 'x' , 'y' ) )",
    ]


# --- Properties ------------------------------------------------------------------------------

# Backslashes end standard strings only outside MySQL; NUL is refused as input (tested apart).
_ANY_TEXT = st.text(st.characters(blacklist_characters="\\\x00", blacklist_categories=("Cs",)))
_SQL_PIECES = st.lists(
    st.sampled_from([";", "'", '"', "--", "/*", "*/", "$$", "$a$", "\n", "\r\n", "(", ")", " x "])
).map("".join)
_LITERAL_TEXT = st.one_of(_ANY_TEXT, _SQL_PIECES)

_TEMPLATES = (
    "INSERT INTO t (a) VALUES ({0})",
    "SELECT {0} AS x",
    "UPDATE t SET a = {0} WHERE b = {1}",
    "COMMENT ON TABLE t IS {0}",
)
_SEPARATORS = st.sampled_from(["\n", " ", "\n\n", "\t", "\n-- note\n", " /* note */ "])


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@st.composite
def _scripts(draw: st.DrawFn) -> tuple[str, list[list[str]]]:
    """A script of simple statements, and the string literals each statement holds."""
    count = draw(st.integers(min_value=1, max_value=6))
    parts: list[str] = []
    literals: list[list[str]] = []
    for _ in range(count):
        template = draw(st.sampled_from(_TEMPLATES))
        quoted = [_quote(draw(_LITERAL_TEXT)) for _ in range(template.count("{"))]
        parts.append(template.format(*quoted))
        literals.append(quoted)
    script = ""
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        script += part + ("" if last and draw(st.booleans()) else ";") + draw(_SEPARATORS)
    return script, literals


@settings(max_examples=200, deadline=None)
@given(_scripts())
def test_literals_never_split_a_statement(generated: tuple[str, list[list[str]]]) -> None:
    script, literals = generated

    statements = parse_statements(script)

    assert len(statements) == len(literals)
    for statement, quoted in zip(statements, literals, strict=True):
        assert statement.problems == ()
        assert [w.text for w in statement.words if w.kind is WordKind.STRING] == quoted


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_statements_never_raises(sql: str) -> None:
    if "\x00" in sql:
        with pytest.raises(SqlInputError, match="NUL character"):
            parse_statements(sql)
        return
    statements = parse_statements(sql)

    assert [s.index for s in statements] == list(range(len(statements)))
    for statement in statements:
        assert statement.text
        assert statement.text in sql
        assert statement.words


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_check_sql_never_raises(sql: str) -> None:
    findings = check_sql(sql)

    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=lambda severity: severity != "error")
    assert set(severities) <= {"error", "warning"}


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), _SQL_PIECES), st.sampled_from(VENDORS))
def test_generate_rollback_never_raises_and_comments_every_warning(sql: str, vendor: str) -> None:
    if "\x00" in sql:
        with pytest.raises(SqlInputError, match="NUL character"):
            generate_rollback(sql, vendor)
        return
    script = generate_rollback(sql, vendor)

    # Every line is an inverse statement or a whole comment: nothing else would run.
    for line in script.text.splitlines():
        assert line.startswith((WARNING_PREFIX, "DROP ", "ALTER TABLE ", "COMMENT ON ")), line
    warning_lines = [line for line in script.lines if line.startswith(WARNING_PREFIX)]
    assert len(warning_lines) == len(script.warnings)
    assert script.is_complete == (not script.warnings)


def test_a_statement_is_described_once_however_many_readers_ask():
    """The rules, the archive plan, the capture, the rollback and the footprints each
    describe the (shared, cached) statements of a script: the first reading is reused, and a
    statement parsed afresh is described afresh."""
    from schema_manager.sql.reading import describe

    sql = "ALTER TABLE users ADD COLUMN age INT; DROP INDEX idx_users_email;"
    first, second = parse_statements(sql, "postgresql")
    assert describe(first) is describe(first)
    assert describe(second) is describe(second)
    again = parse_statements(sql + " ", "postgresql")[0]  # another script: new statements
    assert again is not first
    assert describe(again) == describe(first)
    assert describe(again) is not describe(first)
