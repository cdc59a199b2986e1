"""Live capture (PostgreSQL): what a migration drops is read from the catalog before it runs,
so the stored rollback recreates it; applying then rolling back restores the schema."""

from __future__ import annotations

import pytest

from schema_manager import Migration, SchemaManager
from schema_manager.capture import capture
from schema_manager.rollback_choice import why_unusable
from schema_manager.sql import generate_rollback
from tests.utils import count_queries

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

SETUP = """
CREATE TABLE users (id INT PRIMARY KEY, email TEXT NOT NULL DEFAULT 'none', age INT,
    team INT, "Nick Name" VARCHAR(40) DEFAULT 'x');
CREATE TABLE teams (id INT PRIMARY KEY);
ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team) REFERENCES teams (id);
ALTER TABLE users ADD CONSTRAINT "Age Positive" CHECK (age > 0) NOT VALID;
CREATE INDEX users_email ON users (lower(email)) WHERE age IS NOT NULL;
CREATE INDEX users_age ON users (age);
CREATE VIEW adults AS SELECT id, email FROM users WHERE age >= 18;
CREATE MATERIALIZED VIEW user_count AS SELECT count(*) AS n FROM users;
"""

MIGRATION = """
DROP INDEX users_email;
DROP VIEW adults;
DROP MATERIALIZED VIEW user_count;
ALTER TABLE users DROP CONSTRAINT users_team_fk, DROP CONSTRAINT IF EXISTS "Age Positive";
ALTER TABLE users ALTER COLUMN email DROP DEFAULT, ALTER COLUMN age TYPE bigint;
ALTER TABLE users DROP COLUMN "Nick Name", DROP COLUMN age;
"""

SNAPSHOT = [
    "SELECT c.relname, c.relkind::text, a.attname, format_type(a.atttypid, a.atttypmod), "
    "a.attnotnull, pg_get_expr(d.adbin, d.adrelid) FROM pg_class c "
    "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
    "WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1, 3",
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace = current_schema()::regnamespace ORDER BY 1",
    "SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema() "
    "UNION ALL SELECT matviewname, definition FROM pg_matviews "
    "WHERE schemaname = current_schema() ORDER BY 1",
]


def _snapshot(targets) -> list[list[tuple]]:
    """The schema's objects, leaving out the ledger table the first apply creates."""
    return [
        [row for row in targets.fetch("development", query) if "_prisma_migrations" not in row[0]]
        for query in SNAPSHOT
    ]


def _generated_round_trip(targets, migration: str):
    """The rollback generated from the SQL and the capture, after running the migration and
    it checked to give the schema back as it was."""
    before = _snapshot(targets)
    captured = capture(migration, targets.alias("development"))
    rollback = generate_rollback(migration, "postgresql", captured)
    targets.execute("development", migration)
    targets.execute("development", rollback.text)
    assert _snapshot(targets) == before
    return rollback


def test_apply_then_rollback_recreates_what_was_dropped(postgres_targets):
    targets = postgres_targets
    targets.execute("development", SETUP)
    before = _snapshot(targets)
    manager = SchemaManager()

    applied = manager.apply_migration_sync(
        Migration(id="002_drop_things", name="drop_things", sql=MIGRATION), "development"
    )

    assert applied.success, applied.error
    script = applied.rollback_script
    assert "-- WARNING" not in script
    assert why_unusable("002_drop_things", script) is None
    # What held data says that the data does not come back: the materialized view and
    # the two columns (an index, a view, a default or a type is exact: said nothing); and
    # "age" was not the table's last column: the column after it is made again after it.
    assert script.count("-- NOTE:") == 4
    assert "-- CAUTION:" not in script
    assert "the data it removed does not come back" in script
    assert _snapshot(targets) != before

    rolled_back = manager.rollback_migration_sync("002_drop_things", "development")

    assert rolled_back.success, rolled_back.error
    assert _snapshot(targets) == before
    assert targets.columns("users") == ["id", "email", "age", "team", "Nick Name"]


def test_capture_reads_exact_definitions(postgres_targets):
    targets = postgres_targets
    targets.execute("development", SETUP)

    captured = capture(MIGRATION, targets.alias("development"))

    assert captured[0] == [
        "CREATE INDEX users_email ON "
        f"{targets.fetch('development', 'SELECT current_schema()')[0][0]}.users "
        "USING btree (lower(email)) WHERE (age IS NOT NULL);"
    ]
    assert captured[3] == [  # the last action is undone first
        'ALTER TABLE users ADD CONSTRAINT "Age Positive" CHECK ((age > 0)) NOT VALID;',
        "ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team) REFERENCES teams(id);",
    ]
    assert captured[4] == [
        "ALTER TABLE users ALTER COLUMN age TYPE integer USING age::integer;",
        "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'none'::text;",
    ]


def test_what_is_not_in_the_catalog_keeps_its_warning(postgres_targets):
    sql = "DROP INDEX no_such_index;\nALTER TABLE no_such_table DROP COLUMN x;"

    assert capture(sql, postgres_targets.alias("development")) == {}


def test_capture_is_postgresql_only():
    assert capture("DROP INDEX t_id;", "sqlite_development") == {}


def test_validation_counts_captured_definitions_as_rollback(postgres_targets):
    postgres_targets.execute("development", SETUP)
    manager = SchemaManager()

    captured = manager.validate_migration_sync(
        Migration(id="003_drop_index", name="drop_index", sql="DROP INDEX users_age;")
    )
    missing = manager.validate_migration_sync(
        Migration(id="004_drop_index", name="drop_index", sql="DROP INDEX no_such_index;")
    )

    assert not [w for w in captured.warnings if "No rollback_sql given" in w]
    assert [w for w in missing.warnings if "No rollback_sql given" in w]


def _many_tables(count: int) -> tuple[str, str]:
    """``count`` tables, and a migration changing each of them as Prisma's do: a key dropped,
    a default changed, a column dropped, and a value added to an enum of each."""
    setup, migration = [], []
    for i in range(count):
        setup += [
            f"CREATE TYPE kind{i} AS ENUM ('a', 'b');",
            f"CREATE TABLE parent{i} (id INT PRIMARY KEY);",
            # The column dropped is the last (no others to move back behind it).
            f"CREATE TABLE \"Child{i}\" (id INT PRIMARY KEY, note TEXT DEFAULT 'x', "
            f"kind kind{i}, parent INT, "
            f'CONSTRAINT "Child{i}_parent_fkey" FOREIGN KEY (parent) REFERENCES parent{i} (id));',
        ]
        migration += [
            f'ALTER TABLE "Child{i}" DROP CONSTRAINT "Child{i}_parent_fkey";',
            f"ALTER TABLE \"Child{i}\" ALTER COLUMN note SET DEFAULT 'y';",
            f'ALTER TABLE "Child{i}" DROP COLUMN parent;',
            f"ALTER TYPE kind{i} ADD VALUE 'c';",
        ]
    return "\n".join(setup), "\n".join(migration)


def test_capture_looks_the_names_of_a_migration_up_in_one_round_trip(postgres_targets):
    """The tables, types, columns and keys a migration names are read in bulk, not one round
    trip per statement (what depends on a dropped column or an enum is read per statement)."""
    targets = postgres_targets
    alias = targets.alias("development")
    setup, _ = _many_tables(8)
    targets.execute("development", setup)

    def queries(count: int) -> tuple[int, dict]:
        _, migration = _many_tables(count)
        with count_queries(alias) as counts:
            captured = capture(migration, alias)
        return counts[alias], captured

    few, small = queries(2)
    many, large = queries(8)
    # Per table: the dropped column's keys and indexes (one query string of two), the enum's
    # rebuild (one of four); for the migration, the tables and types named, the columns and
    # keys read (one of four). Before: one lookup per statement and a column read twice, 15
    # queries per table; then 6 per table and 4 for the migration.
    assert many - few == (8 - 2) * 2
    assert few == 2 * 2 + 1
    assert large[0] == [
        'ALTER TABLE "Child0" ADD CONSTRAINT "Child0_parent_fkey" '
        "FOREIGN KEY (parent) REFERENCES parent0(id);"
    ]
    assert large[1] == ["ALTER TABLE \"Child0\" ALTER COLUMN note SET DEFAULT 'x'::text;"]
    assert small[0] == large[0]
    assert small[1] == large[1]


def test_a_lookup_repeated_by_several_statements_is_asked_once(postgres_targets):
    """Statements of one migration that look up the same table (several ALTER TABLEs of it)
    ask the server once: the catalog does not change while the capture reads it."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    alias = postgres_targets.alias("development")
    postgres_targets.execute("development", "CREATE TABLE docs (id INT PRIMARY KEY, a INT, b INT)")
    migration = (
        "ALTER TABLE docs ALTER COLUMN a SET DEFAULT 1;\n"
        "ALTER TABLE docs ALTER COLUMN b SET DEFAULT 2;\n"
        "ALTER TABLE docs ALTER COLUMN a DROP DEFAULT;\n"
    )
    with CaptureQueriesContext(connections[alias]) as queries:
        captured = capture(migration, alias)
    # One query names the table: the bulk read of what the statements look up.
    lookups = [q for q in queries.captured_queries if "docs" in q["sql"]]
    assert len(lookups) == 1
    assert captured == capture(migration, alias)  # the same answers as asked afresh


def test_every_catalog_read_of_a_capture_goes_through_an_index(postgres_targets):
    """A production schema has thousands of columns, indexes and constraints: no capture
    query may scan a whole catalog table (each lookup by what an index keys: a dependency by
    what it references, a table's constraints by the table)."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    targets = postgres_targets
    alias = targets.alias("development")
    setup, migration = _many_tables(2)
    targets.execute("development", setup)
    targets.execute("development", SETUP)
    migration += "\nDROP TABLE users CASCADE;\nDROP TYPE kind1;"
    with CaptureQueriesContext(connections[alias]) as queries:
        capture(migration, alias)
    reads = [q["sql"] for q in queries.captured_queries if "pg_" in q["sql"]]
    assert len(reads) > 10
    scans = []
    with connections[alias].cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a scan left is one no index can avoid
        try:
            for sql in reads:
                cursor.execute(f"EXPLAIN {sql}")
                plan = "\n".join(line for (line,) in cursor.fetchall())
                scans += [(table, sql) for table in _CATALOGS if f"Seq Scan on {table} " in plan]
        finally:
            cursor.execute("RESET enable_seqscan")
    assert scans == []


_CATALOGS = ("pg_attribute", "pg_index", "pg_constraint", "pg_depend", "pg_class", "pg_type")


def test_capture_with_server_side_binding_reads_one_query_at_a_time(postgres_targets):
    """With OPTIONS ``server_side_binding`` a query takes one statement and the cursor has no
    ``mogrify``: the reads that belong together go one after the other, with the same
    answers."""
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    targets = postgres_targets
    alias = targets.alias("development")
    setup, migration = _many_tables(2)
    targets.execute("development", setup)
    expected = capture(migration, alias)
    original = connections[alias]
    settings = dict(original.settings_dict)
    settings["OPTIONS"] = {**settings["OPTIONS"], "server_side_binding": True}
    bound = DatabaseWrapper(settings, alias)
    connections[alias] = bound
    try:
        assert capture(migration, alias) == expected
        with bound.cursor() as cursor:
            assert not hasattr(cursor, "mogrify")  # the case this test is about
    finally:
        bound.close()
        connections[alias] = original
    assert expected[0]  # what was captured is not nothing


# Prisma's commonest ALTER TABLEs: what they add or rename, the SQL alone takes away again.
SQL_ALONE = """
ALTER TABLE docs ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE docs ADD CONSTRAINT "docs_owner_fkey" FOREIGN KEY (owner) REFERENCES owners (id);
ALTER TABLE docs ADD CONSTRAINT docs_note_key UNIQUE (note), ADD COLUMN extra INT;
ALTER TABLE docs RENAME COLUMN title TO heading;
ALTER TABLE docs RENAME CONSTRAINT docs_pkey TO "docs_primary";
"""


def test_what_the_sql_alone_undoes_exactly_reads_nothing_from_the_catalog(postgres_targets):
    """A migration whose ALTER TABLEs add columns, add named constraints and rename: their
    inverse from the SQL alone is exact, so the capture costs the target no round trip, and
    the rollback generated restores the schema as it was."""
    targets = postgres_targets
    alias = targets.alias("development")
    targets.execute(
        "development",
        "CREATE TABLE owners (id INT PRIMARY KEY);"
        "CREATE TABLE docs (id INT PRIMARY KEY, owner INT, title TEXT);",
    )
    before = _snapshot(targets)
    with count_queries(alias) as counts:
        captured = capture(SQL_ALONE, alias)
    assert counts[alias] == 0
    assert captured == {}
    rollback = generate_rollback(SQL_ALONE, "postgresql", captured)
    assert rollback.warnings == []
    targets.execute("development", SQL_ALONE)
    targets.execute("development", rollback.text)
    assert _snapshot(targets) == before


def test_only_the_statements_that_need_the_catalog_read_it(postgres_targets):
    """Beside one that needs the catalog (a default changed), a statement the SQL alone undoes
    is not looked up: its table is named in no read."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    targets = postgres_targets
    alias = targets.alias("development")
    targets.execute(
        "development",
        "CREATE TABLE docs (id INT PRIMARY KEY);"
        "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT DEFAULT 'x');",
    )
    migration = (
        "ALTER TABLE docs ADD COLUMN extra INT;\n"
        "ALTER TABLE notes ALTER COLUMN body SET DEFAULT 'y';\n"
    )
    with CaptureQueriesContext(connections[alias]) as queries:
        captured = capture(migration, alias)
    assert [q["sql"] for q in queries.captured_queries if "docs" in q["sql"]] == []
    assert captured == {1: ["ALTER TABLE notes ALTER COLUMN body SET DEFAULT 'x'::text;"]}


# Prisma-era scripts that may run twice guard what they make inside DO blocks.
GUARDED = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.table_constraints
                   WHERE table_name = 'docs' AND constraint_name = 'docs_owner_fkey') THEN
        ALTER TABLE docs ADD CONSTRAINT docs_owner_fkey FOREIGN KEY (owner) REFERENCES owners (id);
    END IF;
END $$;
DO $$ BEGIN
    CREATE TYPE kind AS ENUM ('a', 'b');
EXCEPTION WHEN duplicate_object THEN null;
END $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'docs_owner_idx') THEN
        CREATE INDEX docs_owner_idx ON docs (owner);
        ALTER TABLE docs ADD COLUMN IF NOT EXISTS note TEXT;
    END IF;
END $$;
"""
_TABLES = (
    "CREATE TABLE owners (id INT PRIMARY KEY);CREATE TABLE docs (id INT PRIMARY KEY, owner INT);"
)
_KIND = "SELECT to_regtype('kind') IS NOT NULL"


@pytest.mark.parametrize("there_before", [False, True], ids=["new", "there-before"])
def test_a_do_block_that_makes_what_was_not_there_is_undone_exactly(postgres_targets, there_before):
    """What a guarded DO block makes is dropped by the rollback if the catalog did not have it
    before the migration, and left alone if it did (the block then made nothing)."""
    targets = postgres_targets
    alias = targets.alias("development")
    targets.execute("development", _TABLES)
    if there_before:
        targets.execute("development", GUARDED)
    before = (_snapshot(targets), targets.fetch("development", _KIND))

    captured = capture(GUARDED, alias)
    rollback = generate_rollback(GUARDED, "postgresql", captured)

    assert rollback.warnings == []
    if there_before:
        assert sorted(captured) == [0, 1, 2]
        assert all(len(lines) == 1 for lines in captured.values())
        assert all("made nothing" in lines[0] for lines in captured.values())
        assert rollback.is_complete
        assert not why_unusable("003_guarded", rollback.text, "postgresql", migration_sql=GUARDED)
    else:
        assert captured == {
            0: ["ALTER TABLE docs DROP CONSTRAINT IF EXISTS docs_owner_fkey;"],
            1: ["DROP TYPE IF EXISTS kind;"],
            2: [
                "ALTER TABLE docs DROP COLUMN IF EXISTS note;",
                "DROP INDEX IF EXISTS docs_owner_idx;",
            ],
        }
    targets.execute("development", GUARDED)
    if rollback.text.strip():
        targets.execute("development", rollback.text)
    assert (_snapshot(targets), targets.fetch("development", _KIND)) == before


@pytest.mark.parametrize(
    "migration",
    [
        # SQL built at run time: no reading knows what it makes.
        "DO $$ BEGIN EXECUTE 'ALTER TABLE docs ADD COLUMN x INT'; END $$;",
        # It drops too.
        "DO $$ BEGIN ALTER TABLE docs ADD COLUMN x INT; DROP INDEX docs_pkey; END $$;",
        # An earlier statement drops what the block may make again.
        "ALTER TABLE docs DROP COLUMN owner;\n"
        "DO $$ BEGIN ALTER TABLE docs ADD COLUMN owner INT; END $$;",
    ],
    ids=["execute", "drops", "dropped-before"],
)
def test_a_do_block_that_does_more_keeps_its_warning(postgres_targets, migration):
    targets = postgres_targets
    targets.execute("development", _TABLES)
    captured = capture(migration, targets.alias("development"))
    do_index = migration.count(";\n")  # the DO block is the last statement

    assert do_index not in captured
    assert generate_rollback(migration, "postgresql", captured).warnings != []


def test_a_do_block_that_also_changes_rows_says_the_rows_stay(postgres_targets):
    """As at the top level: the block's new column goes, the rows it filled stay as they are
    (a ``-- NOTE:``), and the schema is the one before."""
    postgres_targets.execute("development", _TABLES)
    migration = (
        "DO $$ BEGIN ALTER TABLE docs ADD COLUMN code TEXT; UPDATE docs SET code = 'x';\n"
        "CREATE UNIQUE INDEX docs_code_key ON docs (code); END $$;"
    )

    rollback = _generated_round_trip(postgres_targets, migration)

    assert rollback.warnings == []
    assert rollback.lines[0].startswith("-- NOTE: statement 1 (DO")
    assert "also changes rows in its DO block" in rollback.lines[0]
    assert rollback.lines[1:] == [
        "DROP INDEX IF EXISTS docs_code_key;",
        "ALTER TABLE docs DROP COLUMN IF EXISTS code;",
    ]


def test_a_do_block_guarded_on_a_table_that_is_not_there_rolls_back_cleanly(postgres_targets):
    """The guard found no table, so the block made nothing: the rollback must not fail on it."""
    postgres_targets.execute("development", _TABLES)
    migration = (
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'ghost') THEN\n"
        "ALTER TABLE ghost ADD COLUMN x INT; END IF; END $$;"
    )

    rollback = _generated_round_trip(postgres_targets, migration)

    assert rollback.lines == ["ALTER TABLE IF EXISTS ghost DROP COLUMN IF EXISTS x;"]
