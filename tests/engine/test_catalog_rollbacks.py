"""Generated rollbacks that read the catalog (PostgreSQL): each capability applied and rolled
back on a small schema, then the catalogue compared with what it was before the apply."""

from __future__ import annotations

import pytest

from schema_manager import Migration, SchemaManager
from schema_manager.rollback_choice import script_cautions, script_warnings, why_unusable

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# Everything a schema holds that a rollback could get wrong, in a stable order (column order
# included: a column re-added elsewhere is a difference).
CATALOGUE = [
    "SELECT c.relname, c.relkind::text, a.attname, "
    "format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), "
    "a.attidentity::text, a.attcollation::regcollation::text, col_description(c.oid, a.attnum) "
    "FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
    "AND NOT a.attisdropped LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind <> 'S' "
    "AND c.relname NOT LIKE '%%prisma_migrations%%' ORDER BY c.relname, a.attnum",
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
    "AND indexname NOT LIKE '%%prisma_migrations%%' ORDER BY 1",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace = current_schema()::regnamespace "
    "AND conrelid::regclass::text NOT LIKE '%%prisma_migrations%%' ORDER BY 1, 2",
    "SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema() ORDER BY 1",
    "SELECT matviewname, definition FROM pg_matviews WHERE schemaname = current_schema() "
    "ORDER BY 1",
    "SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relnamespace = "
    "current_schema()::regnamespace AND c.reloptions IS NOT NULL ORDER BY 1",
    "SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
    "WHERE t.typnamespace = current_schema()::regnamespace ORDER BY 1, e.enumsortorder",
    "SELECT sequencename, data_type::text, start_value, increment_by, max_value FROM "
    "pg_sequences WHERE schemaname = current_schema() ORDER BY 1",
    "SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
    "WHERE pronamespace = current_schema()::regnamespace ORDER BY 1, 2",
    "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
    "WHERE c.relnamespace = current_schema()::regnamespace "
    "AND obj_description(c.oid, 'pg_class') IS NOT NULL ORDER BY 1",
    "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled::text, "
    "obj_description(t.oid, 'pg_trigger') FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal ORDER BY 1, 2",
]

# The row security switches too.
ROW_SECURITY = [
    *CATALOGUE,
    "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
    "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' "
    "AND relname <> '_prisma_migrations' ORDER BY 1",
]


def _catalogue(targets, queries: list[str] = CATALOGUE) -> list[list[tuple]]:
    return [targets.fetch("development", query) for query in queries]


def _round_trip(
    targets, setup: str, sql: str, migration_id: str = "002_change", queries=CATALOGUE
) -> str:
    """Apply ``sql`` over ``setup``, roll it back, and assert the catalogue is as before;
    returns the rollback script."""
    targets.execute("development", setup)
    before = _catalogue(targets, queries)
    manager = SchemaManager()
    applied = manager.apply_migration_sync(
        Migration(id=migration_id, name="change", sql=sql), "development"
    )
    assert applied.success, applied.error
    script = applied.rollback_script
    assert script_warnings(script) == [], script
    assert why_unusable(migration_id, script) is None
    assert _catalogue(targets, queries) != before or not sql.strip()

    rolled_back = manager.rollback_migration_sync(migration_id, "development")

    assert rolled_back.success, rolled_back.error
    assert _catalogue(targets, queries) == before
    return script


def _exact(targets, setup: str, sql: str, queries=CATALOGUE) -> str:
    """``_round_trip``, and the rollback script says nothing may differ."""
    script = _round_trip(targets, setup, sql, queries=queries)
    assert script_cautions(script) == [], script
    return script


def test_set_default_is_undone_with_the_previous_default(postgres_targets):
    script = _round_trip(
        postgres_targets,
        "CREATE TABLE t (id INT, status TEXT DEFAULT 'new', n INT);",
        "ALTER TABLE t ALTER COLUMN status SET DEFAULT 'open', ALTER COLUMN n SET DEFAULT 1;",
    )

    assert "SET DEFAULT 'new'::text" in script
    assert "ALTER COLUMN n DROP DEFAULT" in script
    assert script_cautions(script) == []


def test_nullability_is_put_back_as_it_was(postgres_targets):
    _round_trip(
        postgres_targets,
        "CREATE TABLE t (id INT, a INT NOT NULL, b INT);",
        # SET NOT NULL on a column that already is: undoing it must not drop NOT NULL.
        "ALTER TABLE t ALTER COLUMN a SET NOT NULL, ALTER COLUMN b SET NOT NULL;",
    )


def test_a_dropped_last_column_comes_back_whole(postgres_targets):
    setup = """
    CREATE TABLE accounts (id INT PRIMARY KEY,
        code TEXT COLLATE "C" NOT NULL DEFAULT 'x' CHECK (code <> ''));
    CREATE UNIQUE INDEX accounts_code ON accounts (code);
    COMMENT ON COLUMN accounts.code IS 'the code';
    CREATE TABLE links (account_code TEXT REFERENCES accounts (code));
    """
    script = _round_trip(postgres_targets, setup, "ALTER TABLE accounts DROP COLUMN code CASCADE;")

    assert script_cautions(script) == []  # it was the last column: exact
    assert "does not come back" in script


def test_a_dropped_not_null_column_says_its_rollback_fails_while_rows_hold_none(
    postgres_targets,
):
    """Put back NOT NULL and empty, the column refuses the table's rows: the script says so
    before it runs, and when it runs it fails whole, leaving the migration applied."""
    setup = "CREATE TABLE org (id INT PRIMARY KEY, domain TEXT NOT NULL, name TEXT);"
    postgres_targets.execute("development", setup + " INSERT INTO org VALUES (1, 'a', 'b');")
    manager = SchemaManager()
    applied = manager.apply_migration_sync(
        Migration(id="002_change", name="change", sql="ALTER TABLE org DROP COLUMN domain;"),
        "development",
    )
    assert applied.success, applied.error
    assert "fails at its SET NOT NULL" in applied.rollback_script

    rolled_back = manager.rollback_migration_sync("002_change", "development")

    assert not rolled_back.success
    assert "contains null values" in rolled_back.error
    assert postgres_targets.columns("org") == ["id", "name"]
    assert postgres_targets.fetch("development", "SELECT * FROM org") == [(1, "b")]


def test_a_dropped_not_null_column_with_a_default_says_nothing_of_failing(postgres_targets):
    script = _round_trip(
        postgres_targets,
        "CREATE TABLE org (id INT PRIMARY KEY, domain TEXT NOT NULL DEFAULT 'x', name TEXT);",
        "ALTER TABLE org DROP COLUMN name, DROP COLUMN domain;",
    )

    assert "fails at its SET NOT NULL" not in script


MIDDLE_COLUMN = """
CREATE TABLE t (a INT, b INT NOT NULL DEFAULT 0, c TEXT COLLATE "C" NOT NULL DEFAULT 'x',
    id INT PRIMARY KEY, parent INT REFERENCES t (id), CHECK (c <> ''));
CREATE UNIQUE INDEX t_c_b ON t (c, b) WHERE c <> 'z';
CREATE INDEX t_parent ON t (parent);
COMMENT ON COLUMN t.c IS 'the c';
INSERT INTO t VALUES (1, 5, 'p', 1, NULL), (2, 6, 'q', 2, 1);
"""


def test_a_dropped_middle_column_comes_back_in_its_place(postgres_targets):
    """The columns after it are made again after it, with their values, keys, indexes and
    comments; a unique index on it and a moved column comes back once."""
    script = _round_trip(postgres_targets, MIDDLE_COLUMN, "ALTER TABLE t DROP COLUMN b;")

    assert script_cautions(script) == []
    assert postgres_targets.fetch("development", "SELECT a, c, id, parent FROM t ORDER BY id") == [
        (1, "p", 1, None),
        (2, "q", 2, 1),
    ]


def test_a_table_with_row_security_moves_its_columns_unless_forced(postgres_targets):
    """Shelf's: row security on (with a policy), not forced. Only the owner may add and drop
    columns, and row security does not hold its owner back: every row is copied. Forced, it
    would hold the owner back too: the column comes back last, and says so."""
    setup = MIDDLE_COLUMN + (
        "ALTER TABLE t ENABLE ROW LEVEL SECURITY;CREATE POLICY none_seen ON t USING (false);"
    )

    _exact(postgres_targets, setup, "ALTER TABLE t DROP COLUMN b;", queries=ROW_SECURITY)

    assert postgres_targets.fetch("development", "SELECT count(*) FROM t") == [(2,)]


def test_a_table_with_forced_row_security_keeps_its_columns_in_place(postgres_targets):
    postgres_targets.execute(
        "development",
        MIDDLE_COLUMN + "ALTER TABLE t ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;",
    )
    applied = SchemaManager().apply_migration_sync(
        Migration(id="002_drop", name="drop", sql="ALTER TABLE t DROP COLUMN b;"), "development"
    )

    assert applied.success, applied.error
    assert any("last column" in caution for caution in script_cautions(applied.rollback_script))


@pytest.mark.parametrize(
    "migration",
    [
        "ALTER TABLE t DROP COLUMN a, DROP COLUMN c;",
        "ALTER TABLE t DROP COLUMN c; ALTER TABLE t DROP COLUMN a;",
        "ALTER TABLE t ADD COLUMN fresh INT; ALTER TABLE t DROP COLUMN c, ADD COLUMN d INT;",
        # Prisma drops a column's foreign key first; a default or nullability changed before
        # is set back after the move, as it was.
        "ALTER TABLE t DROP CONSTRAINT t_parent_fkey; ALTER TABLE t ALTER COLUMN c DROP NOT NULL;"
        " ALTER TABLE t DROP COLUMN b, ALTER COLUMN parent SET DEFAULT 1;",
        # A script with its own transaction control.
        "BEGIN; ALTER TABLE t DROP COLUMN b; UPDATE t SET a = 1; COMMIT;",
        # Prisma changing a column's type with no cast: a new enum, the column dropped and
        # added again with it. A new type, sequence or schema uses no column.
        "CREATE TYPE kind AS ENUM ('p', 'q'); CREATE SEQUENCE s; CREATE SCHEMA other; "
        "ALTER TABLE t DROP COLUMN c, ADD COLUMN c kind NOT NULL DEFAULT 'p';",
        # An extension made (typebot's pg_trgm before a trigram index): it uses no column.
        "CREATE EXTENSION IF NOT EXISTS pg_trgm; ALTER TABLE t DROP COLUMN b;",
        # An index of a moved column renamed (amplication's): made again by the move under
        # its name then, its rename's inverse gives it its name.
        "ALTER INDEX t_parent RENAME TO t_parent_idx; ALTER TABLE t DROP COLUMN b;",
        # A DO block that only reads and refuses (langwatch's guard before a drop).
        "DO $$ DECLARE n INTEGER; BEGIN SELECT count(*) INTO n FROM t WHERE a < 0; "
        "IF n > 0 THEN RAISE EXCEPTION 'refusing: % rows', n; END IF; "
        "UPDATE t SET a = a WHERE false; END $$; ALTER TABLE t DROP COLUMN b;",
        # Indexes the migration makes on moved columns (langwatch's): they go with the old
        # columns as the move drops them, and their inverses find nothing left to drop.
        "CREATE INDEX t_new ON t (c, id); CREATE UNIQUE INDEX t_id_lower ON t (lower(c), id) "
        "WHERE parent IS NULL; ALTER TABLE t DROP COLUMN b;",
    ],
    ids=[
        "one-statement",
        "two-statements",
        "among-added-columns",
        "after-other-changes",
        "in-its-own-transaction",
        "after-new-types",
        "after-an-extension",
        "after-an-index-rename",
        "after-a-block-that-reads",
        "after-new-indexes",
    ],
)
def test_dropped_columns_come_back_in_their_places(postgres_targets, migration):
    script = _round_trip(postgres_targets, MIDDLE_COLUMN, migration)

    assert script_cautions(script) == []


@pytest.mark.parametrize(
    "made",
    [
        "CREATE TABLE files (version INT, CONSTRAINT files_version_fkey FOREIGN KEY (version) "
        "REFERENCES t (id));",
        "CREATE TABLE files (version INT);"
        "ALTER TABLE files ADD CONSTRAINT files_version_fkey FOREIGN KEY (version) "
        'REFERENCES "t"("id") ON DELETE CASCADE;',
        "CREATE TABLE files (id INT);ALTER TABLE files ADD COLUMN version INT REFERENCES t;",
    ],
)
def test_a_foreign_key_the_migration_made_to_a_moved_column_keeps_it_in_place(
    postgres_targets, made
):
    """civitai's: a table made with a foreign key to the table whose columns are dropped
    next. The key is not in the catalog before the migration, and is still there when the
    drop's inverse runs: the columns stay, and the rollback runs."""
    postgres_targets.execute("development", MIDDLE_COLUMN)
    manager = SchemaManager()
    applied = manager.apply_migration_sync(
        Migration(id="002_files", name="files", sql=f"{made}\nALTER TABLE t DROP COLUMN b;"),
        "development",
    )
    assert applied.success, applied.error
    [caution] = script_cautions(applied.rollback_script)
    assert "comes back as the last column of t" in caution

    rolled_back = manager.rollback_migration_sync("002_files", "development")

    assert rolled_back.success, rolled_back.error


def test_a_foreign_key_the_migration_made_to_a_column_that_stays_leaves_the_others_movable(
    postgres_targets,
):
    """inbox-zero's: a new table's foreign key to the table's first column, then columns of
    the table dropped: the key's column does not move, the columns after the dropped ones
    do."""
    migration = (
        'CREATE TABLE files (parent_a INT, CONSTRAINT files_a_fkey FOREIGN KEY ("parent_a") '
        'REFERENCES "t"("a"));\nALTER TABLE t DROP COLUMN b;'
    )

    _exact(postgres_targets, MIDDLE_COLUMN + "CREATE UNIQUE INDEX t_a ON t (a);", migration)


def test_a_column_other_tables_reference_moves_with_their_foreign_keys(postgres_targets):
    """The key that other tables' foreign keys reference comes after the dropped column (an
    id added late): their keys are dropped around the move and made again, as they were."""
    setup = """
    CREATE TABLE t (a INT, b INT, id INT PRIMARY KEY, code TEXT UNIQUE);
    CREATE TABLE child (id INT PRIMARY KEY, t_id INT REFERENCES t (id) ON DELETE CASCADE,
        t_code TEXT, FOREIGN KEY (t_code) REFERENCES t (code) DEFERRABLE NOT VALID);
    INSERT INTO t VALUES (1, 2, 10, 'x'), (3, 4, 20, 'y');
    INSERT INTO child VALUES (1, 10, 'x'), (2, 20, 'y');
    """
    script = _round_trip(postgres_targets, setup, "ALTER TABLE t DROP COLUMN b;")

    assert script_cautions(script) == []
    assert postgres_targets.fetch("development", "SELECT id, t_id FROM child ORDER BY id") == [
        (1, 10),
        (2, 20),
    ]


def test_a_larger_table_s_foreign_key_keeps_the_columns_in_place(postgres_targets, monkeypatch):
    """Making its key again would check every row of the referencing table: above the size
    the move allows, the dropped column comes back last instead."""
    from schema_manager import capture_dropped_column

    monkeypatch.setattr(capture_dropped_column, "MOVABLE_BYTES", 8192)  # one page
    setup = """
    CREATE TABLE t (a INT, b INT, id INT PRIMARY KEY);
    CREATE TABLE child (t_id INT REFERENCES t (id));
    INSERT INTO t VALUES (1, 2, 10);
    INSERT INTO child SELECT 10 FROM generate_series(1, 2000);
    """
    script = _dropping_b_says_it_comes_back_last(postgres_targets, setup)

    assert "UPDATE" not in script


SWAPPED_ENUM = """
CREATE TYPE "Role_new" AS ENUM ('A', 'B');
ALTER TABLE m ALTER COLUMN role DROP DEFAULT;
ALTER TABLE m ALTER COLUMN role TYPE "Role_new" USING (role::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE m ALTER COLUMN role SET DEFAULT 'B';
ALTER TABLE m DROP COLUMN gone;
"""


@pytest.mark.parametrize(
    ("columns", "in_place"),
    [
        ("id INT, role \"Role\" NOT NULL DEFAULT 'B', gone INT, note TEXT", True),
        ("id INT, gone INT, role \"Role\" NOT NULL DEFAULT 'B', note TEXT", False),
    ],
    ids=["type-changed-before", "type-changed-after"],
)
def test_a_column_dropped_after_prisma_s_enum_swap(postgres_targets, columns, in_place):
    """The swap changes one column's type and renames types: the columns after the dropped
    one move back unless one of them is the column whose type changed (the move makes them
    as they were before the migration; that one is not, when it runs)."""
    setup = f"""
    CREATE TYPE "Role" AS ENUM ('A', 'B', 'C');
    CREATE TABLE m ({columns});
    INSERT INTO m (id, role, note) VALUES (1, 'A', 'x');
    """
    by_name = [_OF_TABLES[0].replace("ORDER BY c.relname, a.attnum", "ORDER BY 1, 3")]
    queries = CATALOGUE if in_place else by_name + _OF_TABLES[1:]
    script = _round_trip(postgres_targets, setup, SWAPPED_ENUM, queries=queries)

    assert (script_cautions(script) == []) is in_place


def test_a_dropped_column_comes_back_in_place_after_an_enum_value_was_added(postgres_targets):
    """Prisma adds enum values at the top of a migration: a column of the enum after the
    dropped one moves back (same type, same values), then the type is rebuilt without it."""
    setup = """
    CREATE TYPE mood AS ENUM ('sad', 'ok');
    CREATE TABLE t (a INT, b INT NOT NULL DEFAULT 0, m mood NOT NULL DEFAULT 'ok', c TEXT);
    INSERT INTO t VALUES (1, 2, 'sad', 'x');
    """
    script = _round_trip(
        postgres_targets, setup, "ALTER TYPE mood ADD VALUE 'happy'; ALTER TABLE t DROP COLUMN b;"
    )

    assert script_cautions(script) == []
    assert postgres_targets.fetch("development", "SELECT a, m::text, c FROM t") == [(1, "sad", "x")]


def test_the_last_columns_dropped_together_come_back_without_moving_any(postgres_targets):
    """The second column dropped was last once the first had gone: nothing is after it when
    its inverse runs (the first one's, which runs after, puts the other back after it)."""
    script = _round_trip(
        postgres_targets,
        "CREATE TABLE meta (id INT, body TEXT, subject TEXT);",
        "ALTER TABLE meta DROP COLUMN subject, DROP COLUMN body;",
    )

    assert "UPDATE" not in script


def _dropping_b_says_it_comes_back_last(targets, setup: str) -> str:
    """Apply ``ALTER TABLE t DROP COLUMN b`` over ``setup``; its rollback, which says that b
    comes back last (and may run)."""
    targets.execute("development", setup)
    applied = SchemaManager().apply_migration_sync(
        Migration(id="002_drop_b", name="drop_b", sql="ALTER TABLE t DROP COLUMN b;"),
        "development",
    )

    assert applied.success, applied.error
    [caution] = script_cautions(applied.rollback_script)
    assert "comes back as the last column of t" in caution
    assert why_unusable("002_drop_b", applied.rollback_script) is None
    return applied.rollback_script


def test_a_large_table_s_columns_are_not_rewritten_to_restore_the_order(
    postgres_targets, monkeypatch
):
    from schema_manager import capture_dropped_column

    monkeypatch.setattr(capture_dropped_column, "MOVABLE_BYTES", 0)

    script = _dropping_b_says_it_comes_back_last(postgres_targets, MIDDLE_COLUMN)

    assert "UPDATE" not in script


def test_a_dropped_middle_column_says_where_it_comes_back(postgres_targets):
    """A view reads a column after it, and has privileges granted on it (which the rollback
    does not make again): the columns are not moved."""
    _dropping_b_says_it_comes_back_last(
        postgres_targets,
        "CREATE TABLE t (a INT, b INT NOT NULL DEFAULT 0, c INT);CREATE VIEW v AS SELECT c FROM t;"
        "GRANT SELECT ON v TO PUBLIC;",
    )


RESPONSES = """
CREATE TABLE responses (id INT PRIMARY KEY, body JSONB NOT NULL,
    headers JSONB NOT NULL DEFAULT '{}', "statusCode" INT NOT NULL DEFAULT 200,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, note TEXT);
INSERT INTO responses VALUES (1, '{}', '{}', 200, '2024-01-01', 'n');
"""


@pytest.mark.parametrize(
    "renames",
    [
        # A column before the dropped ones renamed (a field renamed and others folded into
        # a new one): the columns after them still move, by their names before.
        'ALTER TABLE responses RENAME COLUMN "body" to "output";',
        # A column after them renamed by a later statement: renamed back before the move.
        "",
    ],
)
def test_a_column_renamed_elsewhere_in_the_table_leaves_the_others_movable(
    postgres_targets, renames
):
    migration = (
        f"{renames}\n"
        'ALTER TABLE responses ADD COLUMN "context" JSONB;\n'
        "UPDATE responses SET context = jsonb_build_object('headers', headers);\n"
        'ALTER TABLE responses ALTER COLUMN "context" SET NOT NULL;\n'
        'ALTER TABLE responses DROP COLUMN "headers", DROP COLUMN "statusCode";\n'
    )
    if not renames:
        migration += "ALTER TABLE responses RENAME COLUMN note TO remark;"

    _exact(postgres_targets, RESPONSES, migration)


@pytest.mark.parametrize(
    "more",
    [
        # Keys and indexes of the moved columns that do not name the renamed one.
        'CREATE INDEX responses_at ON responses ("createdAt", id);'
        'ALTER TABLE responses ADD CONSTRAINT responses_note UNIQUE (note, "createdAt");',
        # A view reading the table, but not the renamed column.
        'CREATE VIEW recent AS SELECT id, "createdAt" FROM responses;',
    ],
)
def test_a_renamed_column_not_named_by_what_the_move_makes_again_leaves_it_movable(
    postgres_targets, more
):
    """umami's: a column renamed, two dropped after it, the table's other indexes on the
    columns that move."""
    migration = (
        'ALTER TABLE responses RENAME COLUMN "body" TO "output";\n'
        'ALTER TABLE responses DROP COLUMN "headers";\n'
        'ALTER TABLE responses DROP COLUMN "statusCode";'
    )

    _exact(postgres_targets, RESPONSES + more, migration)


SESSIONS = """
CREATE TABLE sessions (id INT PRIMARY KEY, website INT, hostname VARCHAR(100),
    browser VARCHAR(20), subdivision1 VARCHAR(20), subdivision2 VARCHAR(50), city VARCHAR(50),
    created_at TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX sessions_at_sub1 ON sessions (website, created_at, subdivision1);
CREATE INDEX sessions_at ON sessions (website, created_at);
CREATE TABLE visits (id INT, sub VARCHAR(20), city VARCHAR(50));
INSERT INTO sessions VALUES (1, 1, 'h', 'b', 's1', 's2', 'c', '2024-01-01');
"""


@pytest.mark.parametrize(
    "more",
    [
        "",
        # Keys naming a moved column and the renamed one, of the table and of another table
        # (whose foreign key names them): made again spelled as they are when they are.
        "ALTER TABLE sessions ADD CONSTRAINT sessions_place UNIQUE (subdivision1, city);"
        "ALTER TABLE visits ADD CONSTRAINT visits_place FOREIGN KEY (sub, city) "
        "REFERENCES sessions (subdivision1, city);",
        # A key of the dropped column itself naming the renamed one.
        "ALTER TABLE sessions ADD CONSTRAINT sessions_host UNIQUE (hostname, subdivision1);",
    ],
)
def test_columns_renamed_earlier_move_back_in_place_under_their_names_then(postgres_targets, more):
    """umami's: an index dropped, a column renamed, two columns after it dropped; the
    renamed column among those that move comes back under the name it has when the move
    runs, and its rename's inverse then gives it its name."""
    migration = (
        "DROP INDEX IF EXISTS sessions_at_sub1;\n"
        'ALTER TABLE sessions RENAME COLUMN "subdivision1" TO "region";\n'
        'ALTER TABLE sessions DROP COLUMN "subdivision2";\n'
        'ALTER TABLE sessions DROP COLUMN "hostname";\n'
        'CREATE INDEX sessions_at_region ON sessions (website, created_at, "region");'
    )

    _exact(postgres_targets, SESSIONS + more, migration, queries=_OF_TABLES)
    assert postgres_targets.fetch("development", "SELECT browser, subdivision1 FROM sessions") == [
        ("b", "s1")
    ]


def test_a_serial_column_after_a_dropped_one_moves_with_its_sequence(postgres_targets):
    """civitai's: columns dropped and added again with another type before the table's
    serial key, which other tables reference. The key moves behind them keeping its values,
    its sequence (owned by it, where it stood) and its default; the foreign keys to it are
    made again."""
    setup = """
    CREATE TABLE images (name TEXT, height TEXT, width TEXT, id SERIAL PRIMARY KEY,
        "userId" INT NOT NULL);
    CREATE TABLE on_models ("imageId" INT REFERENCES images (id));
    INSERT INTO images (name, height, width, "userId")
        VALUES ('a', '1', '2', 7), ('b', '3', '4', 8);
    """
    migration = (
        'ALTER TABLE images DROP COLUMN "height",\nADD COLUMN "height" INTEGER,\n'
        'DROP COLUMN "width",\nADD COLUMN "width" INTEGER;'
    )
    sequence = "SELECT last_value, pg_get_serial_sequence('images', 'id') FROM images_id_seq"

    _exact(postgres_targets, setup, migration)

    assert postgres_targets.fetch("development", "SELECT id, name FROM images ORDER BY id") == [
        (1, "a"),
        (2, "b"),
    ]
    # The sequence is the one from before, where it was, owned by the column.
    assert postgres_targets.fetch("development", sequence)[0][0] == 2
    assert postgres_targets.fetch("development", sequence)[0][1] is not None
    postgres_targets.execute("development", 'INSERT INTO images ("userId") VALUES (9)')
    assert postgres_targets.fetch("development", "SELECT max(id) FROM images") == [(3,)]


def test_a_dropped_serial_key_comes_back_with_its_sequence_in_its_place(postgres_targets):
    """hatchet's: a table's serial key dropped with its primary key, another column the key
    now. Its sequence went with it: the sequence comes back first, the column where it stood
    takes a value of it for each row, and the sequence is the column's own again."""
    setup = """
    CREATE TABLE items (id BIGSERIAL NOT NULL, "runId" UUID NOT NULL, "tenantId" UUID,
        CONSTRAINT items_pkey PRIMARY KEY (id));
    INSERT INTO items ("runId") VALUES (gen_random_uuid()), (gen_random_uuid());
    """
    migration = (
        'ALTER TABLE items DROP CONSTRAINT items_pkey,\nDROP COLUMN "id",\n'
        'ADD CONSTRAINT items_pkey PRIMARY KEY ("runId");'
    )

    script = _exact(postgres_targets, setup, migration)

    assert "does not come back" in script
    owned = "SELECT pg_get_serial_sequence('items', 'id')"
    assert postgres_targets.fetch("development", owned)[0][0].endswith(".items_id_seq")
    postgres_targets.execute(
        "development", 'INSERT INTO items ("runId") VALUES (gen_random_uuid())'
    )
    assert postgres_targets.fetch("development", "SELECT count(DISTINCT id) FROM items") == [(3,)]


def test_a_moved_column_s_volatile_default_runs_for_no_row(postgres_targets):
    """A default taking the next value of a sequence no column owns: set after the values
    are copied, it takes none for the rows that move."""
    setup = """
    CREATE SEQUENCE tickets;
    CREATE TABLE queue (a INT, b INT, n BIGINT NOT NULL DEFAULT nextval('tickets'));
    INSERT INTO queue (a, b) VALUES (1, 2), (3, 4);
    """
    tickets = "SELECT last_value FROM tickets"

    _round_trip(postgres_targets, setup, "ALTER TABLE queue DROP COLUMN b;")

    assert postgres_targets.fetch("development", tickets) == [(2,)]
    assert postgres_targets.fetch("development", "SELECT a, n FROM queue ORDER BY a") == [
        (1, 1),
        (3, 2),
    ]


def test_a_view_reading_a_renamed_column_keeps_the_columns_in_place(postgres_targets):
    postgres_targets.execute(
        "development", RESPONSES + "CREATE VIEW bodies AS SELECT id, body FROM responses;"
    )
    applied = SchemaManager().apply_migration_sync(
        Migration(
            id="002_change",
            name="change",
            sql="ALTER TABLE responses RENAME COLUMN body TO output;\n"
            "ALTER TABLE responses DROP COLUMN headers;",
        ),
        "development",
    )

    assert applied.success, applied.error
    [caution] = script_cautions(applied.rollback_script)
    assert "comes back as the last column of responses" in caution
    rolled_back = SchemaManager().rollback_migration_sync("002_change", "development")
    assert rolled_back.success, rolled_back.error


def test_a_renamed_column_after_a_dropped_one_moves_under_its_name_then(postgres_targets):
    """The move makes the columns after it again by the names they have when it runs: one
    renamed before the drop under its new name, which its rename's inverse then undoes."""
    _round_trip(
        postgres_targets,
        RESPONSES,
        "ALTER TABLE responses RENAME COLUMN note TO remark;\n"
        "ALTER TABLE responses DROP COLUMN headers;",
    )


def test_a_renamed_column_in_a_moved_index_is_spelled_as_named_then(postgres_targets):
    """An index made again by the move names the columns as they were before the
    migration: it is spelled with the renamed column's name when the move runs."""
    _round_trip(
        postgres_targets,
        RESPONSES + 'CREATE INDEX responses_at ON responses (body, "createdAt");',
        "ALTER TABLE responses RENAME COLUMN body TO output;\n"
        "ALTER TABLE responses DROP COLUMN headers;",
        queries=_OF_TABLES,
    )


def test_the_views_reading_moved_columns_go_around_the_move(postgres_targets):
    """Views reading the table (a view of a view among them, with its options, a
    materialized one with its index) are dropped before the columns move and made again
    after, as they were."""
    setup = """
    CREATE TABLE t (a INT, b INT NOT NULL DEFAULT 0, id INT PRIMARY KEY, c TEXT);
    INSERT INTO t VALUES (1, 2, 10, 'x');
    CREATE VIEW v AS SELECT id, c FROM t;
    CREATE VIEW vv WITH (security_barrier = true) AS SELECT c FROM v WHERE id > 0;
    COMMENT ON VIEW vv IS 'reads v';
    CREATE MATERIALIZED VIEW m AS SELECT id, count(*) AS n FROM t GROUP BY id;
    CREATE INDEX m_id ON m (id);
    """
    script = _round_trip(postgres_targets, setup, "ALTER TABLE t DROP COLUMN b;")

    assert script_cautions(script) == []
    assert postgres_targets.fetch("development", "SELECT c FROM vv") == [("x",)]


def test_a_multi_action_alter_table_is_undone_action_by_action(postgres_targets):
    _round_trip(
        postgres_targets,
        "CREATE TABLE t (id INT, amount INT DEFAULT 3, old TEXT NOT NULL);",
        "ALTER TABLE t ADD COLUMN fresh INT, ALTER COLUMN amount TYPE BIGINT, "
        "DROP COLUMN old, ALTER COLUMN id SET NOT NULL;",
    )


@pytest.mark.parametrize(
    ("setup", "migration"),
    [
        # Shelf's: row security switched on for a table that had it off.
        ("CREATE TABLE qr (id INT);", "ALTER TABLE qr ENABLE row level security;"),
        # Switched on where it already was: the rollback leaves it on.
        (
            "CREATE TABLE qr (id INT); ALTER TABLE qr ENABLE ROW LEVEL SECURITY;",
            "ALTER TABLE qr ENABLE ROW LEVEL SECURITY, ADD COLUMN n INT;",
        ),
        (
            "CREATE TABLE qr (id INT); ALTER TABLE qr ENABLE ROW LEVEL SECURITY;",
            "ALTER TABLE qr DISABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;",
        ),
        (
            "CREATE TABLE qr (id INT); ALTER TABLE qr FORCE ROW LEVEL SECURITY;",
            "ALTER TABLE qr NO FORCE ROW LEVEL SECURITY;\n"
            "ALTER TABLE qr FORCE ROW LEVEL SECURITY, ENABLE ROW LEVEL SECURITY;",
        ),
    ],
)
def test_row_level_security_is_put_back_as_it_was(postgres_targets, setup, migration):
    _exact(postgres_targets, setup, migration, queries=ROW_SECURITY)


def test_a_constraint_the_migration_added_then_dropped_needs_no_inverse(postgres_targets):
    """Shelf's: a column and its foreign key added, the key dropped to set the column NOT NULL
    after a backfill, and added again."""
    setup = """
    CREATE TABLE "Org" (id TEXT PRIMARY KEY);
    CREATE TABLE "Image" (id TEXT PRIMARY KEY);
    """
    migration = """
    ALTER TABLE "Image" ADD COLUMN "ownerOrgId" TEXT;
    ALTER TABLE "Image" ADD CONSTRAINT "Image_ownerOrgId_fkey" FOREIGN KEY ("ownerOrgId")
        REFERENCES "Org"("id") ON DELETE SET NULL ON UPDATE CASCADE;
    UPDATE "Image" SET "ownerOrgId" = NULL;
    ALTER TABLE "Image" DROP CONSTRAINT "Image_ownerOrgId_fkey";
    ALTER TABLE "Image" ALTER COLUMN "ownerOrgId" SET NOT NULL;
    ALTER TABLE "Image" ADD CONSTRAINT "Image_ownerOrgId_fkey" FOREIGN KEY ("ownerOrgId")
        REFERENCES "Org"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
    """

    _exact(postgres_targets, setup, migration)


def test_a_validated_constraint_is_not_valid_again(postgres_targets):
    """LangWatch's: a check added NOT VALID by one migration, validated by the next. The
    rollback makes it again as it was, NOT VALID (PostgreSQL has no way back short of that);
    one that was valid already is left alone."""
    setup = """
    CREATE TABLE owners (id INT PRIMARY KEY);
    CREATE TABLE hooks (id INT, url TEXT, owner INT);
    ALTER TABLE hooks ADD CONSTRAINT hooks_shape CHECK (url <> '') NOT VALID;
    ALTER TABLE hooks ADD CONSTRAINT hooks_owner FOREIGN KEY (owner) REFERENCES owners (id)
        NOT VALID;
    ALTER TABLE hooks ADD CONSTRAINT hooks_id CHECK (id > 0);
    """
    migration = """
    ALTER TABLE hooks VALIDATE CONSTRAINT hooks_shape;
    ALTER TABLE "hooks" VALIDATE CONSTRAINT "hooks_owner", VALIDATE CONSTRAINT hooks_id;
    """

    _exact(postgres_targets, setup, migration)


def test_dropping_columns_if_exists_drops_none_that_was_not_there(postgres_targets):
    """LangWatch's: the same columns dropped IF EXISTS from three tables, one of which never
    had them."""
    setup = """
    CREATE TABLE project (id INT, "defaultModel" TEXT, name TEXT);
    CREATE TABLE team (id INT, name TEXT);
    """
    migration = """
    ALTER TABLE project DROP COLUMN IF EXISTS "defaultModel", DROP COLUMN IF EXISTS "other";
    ALTER TABLE team DROP COLUMN IF EXISTS "defaultModel";
    """

    _exact(postgres_targets, setup, migration)


def test_a_dropped_table_comes_back_with_its_row_security_switches(postgres_targets):
    """Shelf's: a table with row security on (no policy: nothing passes but its owner)
    dropped after its foreign keys, and made again under another name."""
    setup = """
    CREATE TABLE users (id TEXT PRIMARY KEY);
    CREATE TABLE "QR" (id TEXT PRIMARY KEY, "userId" TEXT NOT NULL,
        CONSTRAINT "QR_userId_fkey" FOREIGN KEY ("userId") REFERENCES users (id));
    ALTER TABLE "QR" ENABLE ROW LEVEL SECURITY;
    ALTER TABLE "QR" FORCE ROW LEVEL SECURITY;
    """
    migration = """
    ALTER TABLE "QR" DROP CONSTRAINT "QR_userId_fkey";
    DROP TABLE "QR";
    CREATE TABLE "Qr" (id TEXT PRIMARY KEY);
    ALTER TABLE "Qr" ENABLE row level security;
    """

    _exact(postgres_targets, setup, migration, queries=ROW_SECURITY)


def test_a_dropped_table_with_policies_is_not_made_again_without_them(postgres_targets):
    postgres_targets.execute(
        "development",
        "CREATE TABLE notes (id INT, owner TEXT);"
        "ALTER TABLE notes ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY own ON notes USING (owner = current_user);",
    )
    applied = SchemaManager().apply_migration_sync(
        Migration(id="002_drop", name="drop", sql="DROP TABLE notes;"), "development"
    )

    assert applied.success, applied.error
    assert any("DROP TABLE" in warning for warning in script_warnings(applied.rollback_script))


def test_dropped_table_with_serial_keys_and_comments_is_recreated(postgres_targets):
    setup = """
    CREATE TABLE owners (id SERIAL PRIMARY KEY);
    CREATE TABLE "Pets" (id SERIAL PRIMARY KEY, name VARCHAR(40) NOT NULL,
        owner INT REFERENCES owners (id) ON DELETE CASCADE, tag BIGINT GENERATED BY DEFAULT AS
        IDENTITY, UNIQUE (name, owner));
    CREATE INDEX pets_lower_name ON "Pets" (lower(name));
    COMMENT ON TABLE "Pets" IS 'pets';
    """
    script = _round_trip(postgres_targets, setup, 'DROP TABLE "Pets";')

    assert "does not come back" in script


def test_a_dropped_table_gets_its_triggers_back_as_they_fired(postgres_targets):
    """A trigger disabled (or firing on replicas only) comes back so, with its comment."""
    setup = """
    CREATE FUNCTION touched() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
    CREATE TABLE pets (id INT PRIMARY KEY, name TEXT);
    CREATE TRIGGER named BEFORE UPDATE OF name ON pets FOR EACH ROW EXECUTE FUNCTION touched();
    CREATE TRIGGER replicated AFTER INSERT ON pets FOR EACH ROW EXECUTE FUNCTION touched();
    ALTER TABLE pets DISABLE TRIGGER named;
    ALTER TABLE pets ENABLE REPLICA TRIGGER replicated;
    COMMENT ON TRIGGER replicated ON pets IS 'copies a pet''s row';
    """
    script = _round_trip(postgres_targets, setup, "DROP TABLE pets;")

    assert "ALTER TABLE pets DISABLE TRIGGER named;" in script


def test_dropped_enum_sequence_and_function_are_recreated(postgres_targets):
    setup = """
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE SEQUENCE counter AS integer START WITH 5 INCREMENT BY 2;
    CREATE FUNCTION twice(n integer) RETURNS integer LANGUAGE sql AS 'SELECT n * 2';
    """
    _round_trip(
        postgres_targets,
        setup,
        "DROP TYPE mood; DROP SEQUENCE counter; DROP FUNCTION twice(integer);",
    )


def test_dropped_triggers_and_their_function_are_recreated(postgres_targets):
    """A trigger comes back as it was (after its function, which comes back first), and a
    trigger dropped IF EXISTS that was not there needs nothing."""
    setup = """
    CREATE TABLE "Group" (id INT, name TEXT);
    CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
    CREATE TRIGGER bump_from_group AFTER INSERT OR UPDATE OF name ON "Group"
        FOR EACH ROW WHEN (NEW.name IS NOT NULL) EXECUTE FUNCTION bump();
    ALTER TABLE "Group" DISABLE TRIGGER bump_from_group;
    """
    migration = (
        'DROP TRIGGER IF EXISTS bump_from_group ON "Group";\n'
        'DROP TRIGGER IF EXISTS never_made ON "Group";\n'
        'CREATE TRIGGER made_here BEFORE DELETE ON "Group" FOR EACH ROW EXECUTE FUNCTION bump();\n'
        'DROP TRIGGER made_here ON "Group";\n'
        "DROP FUNCTION IF EXISTS bump();"
    )

    script = _round_trip(postgres_targets, setup, migration)

    assert "never_made" not in script
    assert "CREATE TRIGGER made_here" not in script


TRIGGER_SETUP = """
CREATE TABLE "User" (id INT, name TEXT);
CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER on_insert AFTER INSERT ON "User" FOR EACH ROW EXECUTE FUNCTION bump();
ALTER TABLE "User" DISABLE TRIGGER on_insert;
COMMENT ON TRIGGER on_insert ON "User" IS 'bumps';
"""


@pytest.mark.parametrize(
    "migration",
    [
        # Shelf's: a trigger made with OR REPLACE where there was none.
        'CREATE OR REPLACE TRIGGER made_here AFTER INSERT ON "User"\n'
        "    FOR EACH ROW EXECUTE FUNCTION touch();",
        # One replaced: it comes back as it was (its firing and its comment too).
        'CREATE OR REPLACE TRIGGER on_insert BEFORE UPDATE ON "User"\n'
        "    FOR EACH ROW EXECUTE FUNCTION touch();",
        # Dropped first, then made again: the drop's inverse brings the old one back.
        'DROP TRIGGER on_insert ON "User";\n'
        'CREATE OR REPLACE TRIGGER on_insert BEFORE UPDATE ON "User"\n'
        "    FOR EACH ROW EXECUTE FUNCTION touch();",
    ],
)
def test_create_or_replace_trigger_puts_the_previous_trigger_back(postgres_targets, migration):
    _exact(postgres_targets, TRIGGER_SETUP, migration)


def test_a_dropped_extension_comes_back_in_its_schema_at_its_version(postgres_targets):
    """An extension there before the migration is made again as it was; one the migration
    made itself and then dropped needs nothing."""
    targets = postgres_targets
    setup = "CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\" WITH SCHEMA public VERSION '1.1';"
    migration = (
        'DROP EXTENSION "uuid-ossp";\n'
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;\n"
        "CREATE TABLE tags (name TEXT);\n"
        "DROP EXTENSION pg_trgm;"
    )
    extensions = "SELECT extname, extversion, extnamespace::regnamespace::text FROM pg_extension"
    available = (
        "SELECT count(*) FROM pg_available_extensions WHERE name IN ('uuid-ossp', 'pg_trgm')"
    )
    if targets.fetch("development", available) != [(2,)]:
        pytest.skip("this PostgreSQL server lacks its contrib extensions (uuid-ossp, pg_trgm)")
    targets.execute(
        "development", 'DROP EXTENSION IF EXISTS "uuid-ossp"; DROP EXTENSION IF EXISTS pg_trgm'
    )
    try:
        targets.execute("development", setup)
        before = targets.fetch("development", extensions)
        manager = SchemaManager()
        applied = manager.apply_migration_sync(
            Migration(id="002_extensions", name="extensions", sql=migration), "development"
        )
        assert applied.success, applied.error
        assert script_warnings(applied.rollback_script) == [], applied.rollback_script

        rolled_back = manager.rollback_migration_sync("002_extensions", "development")

        assert rolled_back.success, rolled_back.error
        assert targets.fetch("development", extensions) == before
        assert "CREATE EXTENSION pg_trgm" not in applied.rollback_script
    finally:
        targets.execute("development", 'DROP EXTENSION IF EXISTS "uuid-ossp"')


def test_drop_if_exists_of_nothing_needs_no_rollback(postgres_targets):
    script = _round_trip(
        postgres_targets,
        "CREATE TABLE t (id INT);",
        "DROP INDEX IF EXISTS no_such_index; DROP TABLE IF EXISTS no_such_table; "
        "ALTER TABLE t DROP CONSTRAINT IF EXISTS no_such_key, ADD COLUMN x INT;",
    )

    assert "no_such" not in script


def test_create_or_replace_puts_the_previous_definition_back(postgres_targets):
    setup = """
    CREATE TABLE t (id INT, name TEXT);
    CREATE VIEW names AS SELECT name FROM t;
    CREATE FUNCTION label(n integer) RETURNS text LANGUAGE sql AS $$ SELECT 'old' $$;
    """
    _round_trip(
        postgres_targets,
        setup,
        "CREATE OR REPLACE VIEW names AS SELECT name, id FROM t; "
        "CREATE OR REPLACE FUNCTION label(n integer) RETURNS text LANGUAGE sql "
        "AS $$ SELECT 'new' $$; "
        "CREATE OR REPLACE FUNCTION fresh() RETURNS int LANGUAGE sql AS 'SELECT 1';",
    )


def test_a_view_replacing_a_table_a_do_block_dropped_applies_and_refuses_its_rollback(
    postgres_targets,
):
    """Before the migration the name is a table, which an opaque DO block drops before the
    CREATE OR REPLACE VIEW takes the name: no view definition to read, so no rollback is
    generated for it (the apply itself goes ahead)."""
    postgres_targets.execute("development", "CREATE TABLE stats (id INT, n INT);")
    sql = (
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'stats' "
        "AND relkind = 'r') THEN DROP TABLE stats; END IF; END $$;\n"
        "CREATE OR REPLACE VIEW stats AS SELECT 1 AS n;"
    )

    applied = SchemaManager().apply_migration_sync(
        Migration(id="002_view", name="view", sql=sql), "development"
    )

    assert applied.success, applied.error
    assert why_unusable("002_view", applied.rollback_script) is not None
    assert postgres_targets.fetch("development", "SELECT n FROM stats") == [(1,)]


def test_indexes_of_tables_the_script_made_go_with_the_tables(postgres_targets):
    """A foreign key added later depends on a unique index of a table the script made:
    dropping the index before the tables would fail, and dropping the tables drops it."""
    script = _round_trip(
        postgres_targets,
        "",
        'CREATE TABLE "Field" (id TEXT PRIMARY KEY, "permanentId" TEXT NOT NULL, '
        '"versionId" TEXT NOT NULL); '
        'CREATE TABLE "Permission" (id TEXT PRIMARY KEY, "fieldId" TEXT, "versionId" TEXT); '
        'CREATE UNIQUE INDEX "Field.versionId_permanentId_unique" '
        'ON "Field" ("versionId", "permanentId"); '
        'ALTER TABLE "Permission" ADD FOREIGN KEY ("fieldId", "versionId") '
        'REFERENCES "Field" ("permanentId", "versionId") ON DELETE CASCADE;',
    )

    assert "DROP INDEX" not in script


def test_an_index_using_an_extension_the_script_made_is_dropped_before_it(postgres_targets):
    """The table, then the extension, then an index using the extension's operator class:
    the index goes before the extension does (and the table after)."""
    _round_trip(
        postgres_targets,
        "",
        "CREATE TABLE notes (id INT PRIMARY KEY, title TEXT); "
        "CREATE EXTENSION IF NOT EXISTS pg_trgm; "
        "CREATE INDEX notes_title ON notes USING gin (title gin_trgm_ops);",
    )


def test_a_view_dropped_and_made_again_around_a_type_change_comes_back_after_it(
    postgres_targets,
):
    """DROP VIEW, a change of a column it reads, CREATE OR REPLACE VIEW: the view the
    statement makes is new (the old one was dropped before it), so its inverse only drops
    it, the type goes back, and then the old view is made again, with its comment."""
    _round_trip(
        postgres_targets,
        "CREATE TABLE builds (id INT, updated TIMESTAMP(3));"
        "CREATE VIEW latest AS SELECT id, updated FROM builds;"
        "COMMENT ON VIEW latest IS 'The latest build';",
        "DROP VIEW latest; "
        "ALTER TABLE builds ALTER COLUMN updated SET DATA TYPE TIMESTAMPTZ(3); "
        "CREATE OR REPLACE VIEW latest AS SELECT id, updated, 1 AS n FROM builds;",
    )


def test_comments_of_replaced_views_and_functions_come_back(postgres_targets):
    _round_trip(
        postgres_targets,
        "CREATE TABLE t (id INT, name TEXT);"
        "CREATE VIEW names AS SELECT name FROM t;"
        "COMMENT ON VIEW names IS 'Every name';"
        "COMMENT ON COLUMN names.name IS 'As typed';"
        "CREATE FUNCTION label(n integer) RETURNS text LANGUAGE sql AS $$ SELECT 'old' $$;"
        "COMMENT ON FUNCTION label(integer) IS 'A label, it''s said';",
        "CREATE OR REPLACE VIEW names AS SELECT name, id FROM t; "
        "DROP FUNCTION label(integer); "
        "CREATE FUNCTION label(n integer) RETURNS text LANGUAGE sql AS $$ SELECT 'new' $$;",
        queries=[
            *CATALOGUE,
            "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_class c "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relname NOT LIKE '%%prisma_migrations%%' ORDER BY 1, 2",
            "SELECT proname, obj_description(oid, 'pg_proc') FROM pg_proc "
            "WHERE pronamespace = current_schema()::regnamespace ORDER BY 1",
        ],
    )


def test_a_dropped_materialized_view_comes_back_with_its_indexes(postgres_targets):
    _round_trip(
        postgres_targets,
        "CREATE TABLE users (id INT, score INT);"
        "CREATE MATERIALIZED VIEW ranks AS SELECT id, score FROM users;"
        "CREATE UNIQUE INDEX ranks_id ON ranks (id);"
        "CREATE INDEX ranks_score ON ranks (score DESC);",
        "DROP MATERIALIZED VIEW ranks; "
        "CREATE MATERIALIZED VIEW ranks AS SELECT id, score, 1 AS n FROM users;",
    )


VIEWS_READING_VIEWS = """
CREATE TABLE users (id INT, score INT);
CREATE VIEW stats AS SELECT id, score FROM users;
CREATE VIEW top AS SELECT id FROM stats WHERE score > 10;
COMMENT ON VIEW top IS 'The best';
CREATE MATERIALIZED VIEW top_count AS SELECT count(*) AS n FROM top;
CREATE UNIQUE INDEX top_count_n ON top_count (n);
CREATE VIEW unrelated AS SELECT 1 AS one;
"""


@pytest.mark.parametrize(
    "migration",
    [
        "CREATE OR REPLACE VIEW stats AS SELECT id, score, score * 2 AS double FROM users;",
        "DROP VIEW stats CASCADE; CREATE VIEW stats AS SELECT id, score, 1 AS n FROM users;",
    ],
    ids=["replaced", "dropped-with-cascade"],
)
def test_views_reading_a_replaced_or_dropped_view_come_back(postgres_targets, migration):
    _round_trip(postgres_targets, VIEWS_READING_VIEWS, migration)


def test_a_migration_that_changed_nothing_here_rolls_back(postgres_targets):
    """Every statement did nothing on this target (IF EXISTS of nothing, IF NOT EXISTS of
    what was there): the rollback has nothing to run, says why, and rolls back."""
    postgres_targets.execute("development", "CREATE TABLE t (id INT, a INT);")
    manager = SchemaManager()
    sql = (
        "DROP INDEX IF EXISTS no_such_index; DROP INDEX IF EXISTS no_other_index; "
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT;"
    )
    applied = manager.apply_migration_sync(
        Migration(id="002_nothing", name="nothing", sql=sql), "development"
    )
    assert applied.success, applied.error
    assert script_warnings(applied.rollback_script) == []

    rolled_back = manager.rollback_migration_sync("002_nothing", "development")

    assert rolled_back.success, rolled_back.error
    assert postgres_targets.fetch(
        "development", "SELECT count(*) FROM _prisma_migrations WHERE rolled_back_at IS NULL"
    ) == [(0,)]


ENUM_SETUP = """
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
CREATE TABLE members (id INT, role "Role" NOT NULL DEFAULT 'USER', past "Role"[]);
CREATE INDEX members_role ON members (role) WHERE role = 'ADMIN';
"""
ADD_VALUES = (
    "ALTER TYPE \"Role\" ADD VALUE 'OWNER'; ALTER TYPE \"Role\" ADD VALUE 'GUEST' BEFORE 'USER';"
)


def test_views_using_the_type_are_made_again_around_the_rebuild(postgres_targets):
    """PostgreSQL will not change the type of a column a view reads (here one in its WHERE
    clause, so no column of the view has the type, and one that shows it), nor drop a type a
    view's column has: the views, and those reading them, are dropped before the rebuild and
    made again after it as they were."""
    setup = ENUM_SETUP + (
        "CREATE VIEW admins AS SELECT id FROM members WHERE role::text <> 'USER';"
        "CREATE VIEW roles AS SELECT id, role FROM members WHERE role = 'ADMIN';"
        "COMMENT ON VIEW roles IS 'Who is what';"
        "CREATE VIEW role_count AS SELECT count(*) AS n FROM roles;"
        "CREATE MATERIALIZED VIEW admin_ids AS SELECT id FROM admins;"
        "CREATE UNIQUE INDEX admin_ids_id ON admin_ids (id);"
    )

    script = _round_trip(postgres_targets, setup, ADD_VALUES)

    assert script_cautions(script) == []


def test_foreign_keys_between_columns_of_the_type_are_made_again_around_the_rebuild(
    postgres_targets,
):
    """Shelf's: a table keyed by an enum, referenced by a column of the same enum. Changing
    either column's type alone would leave the key between two types: the foreign key is
    dropped before the rebuild and made again after it (checking the rows)."""
    setup = """
    CREATE TYPE "TierId" AS ENUM ('free', 'tier_1');
    CREATE TABLE "Tier" (id "TierId" PRIMARY KEY, name TEXT);
    CREATE TABLE "User" (id INT, "tierId" "TierId" NOT NULL DEFAULT 'free',
        CONSTRAINT "User_tierId_fkey" FOREIGN KEY ("tierId") REFERENCES "Tier" (id));
    INSERT INTO "Tier" VALUES ('free', 'Free'), ('tier_1', 'Plus');
    INSERT INTO "User" VALUES (1, 'free'), (2, 'tier_1');
    """

    _exact(postgres_targets, setup, "ALTER TYPE \"TierId\" ADD VALUE 'custom';")


def test_added_enum_values_are_removed_by_rebuilding_the_type(postgres_targets):
    script = _round_trip(postgres_targets, ENUM_SETUP, ADD_VALUES)

    assert script_cautions(script) == []


def test_triggers_on_a_column_of_the_type_are_made_again_around_the_rebuild(postgres_targets):
    """PostgreSQL refuses to change the type of a column that a trigger names (``UPDATE OF``,
    its ``WHEN``): the rebuild drops such triggers and makes them again as they were
    (definition, enabled state, comment)."""
    setup = ENUM_SETUP + (
        "CREATE FUNCTION touched() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN NEW; END $$;\n"
        "CREATE TRIGGER role_changed AFTER INSERT OR DELETE OR UPDATE OF role ON members "
        "FOR EACH ROW EXECUTE FUNCTION touched();\n"
        "CREATE TRIGGER role_watched BEFORE UPDATE ON members FOR EACH ROW "
        "WHEN (OLD.role IS DISTINCT FROM NEW.role) EXECUTE FUNCTION touched();\n"
        "ALTER TABLE members DISABLE TRIGGER role_watched;\n"
        "COMMENT ON TRIGGER role_changed ON members IS 'bumps the revision';\n"
        "CREATE TRIGGER id_changed AFTER UPDATE OF id ON members "
        "FOR EACH ROW EXECUTE FUNCTION touched();\n"
    )

    script = _round_trip(postgres_targets, setup, ADD_VALUES)

    assert "DROP TRIGGER role_changed ON" in script
    assert "DROP TRIGGER role_watched ON" in script
    assert "id_changed" not in script  # on another column: left alone


def test_values_renamed_before_one_is_added_are_rebuilt_as_renamed(postgres_targets):
    """The rebuild runs before the renames are undone (its inverse comes first): it makes
    the type with the values as the migration renamed them (defaults and index predicates
    too), and the renames' inverses then give the values back their names."""
    migration = (
        "ALTER TYPE \"Role\" RENAME VALUE 'USER' TO 'MEMBER';\n"
        "ALTER TYPE \"Role\" RENAME VALUE 'ADMIN' TO 'BOSS';\n"
        "ALTER TYPE \"Role\" ADD VALUE 'OWNER';"
    )

    script = _round_trip(postgres_targets, ENUM_SETUP, migration)

    assert "CREATE TYPE \"Role\" AS ENUM ('MEMBER', 'BOSS');" in script


# An index's own column names are those its columns had when it was made, and no rename changes
# them; nothing shows them (pg_dump, psql and Prisma show the table's columns).
_OF_TABLES = [
    CATALOGUE[0].replace("WHERE c.relnamespace", "WHERE c.relkind <> 'i' AND c.relnamespace"),
    *CATALOGUE[1:],
]

FILINGS = """
CREATE TABLE filings (id INT, "notificationToken" TEXT);
CREATE INDEX "filings_notificationToken_idx" ON filings ("notificationToken", lower(id::text))
    WHERE "notificationToken" IS NOT NULL;
"""


KEYS = """
CREATE TABLE "AttributeClass" (id INT, name TEXT, "environmentId" INT);
CREATE UNIQUE INDEX "AttributeClass_name_key" ON "AttributeClass" (name, "environmentId")
    WHERE name IS NOT NULL;
"""


@pytest.mark.parametrize(
    ("setup", "renames", "dropped", "made"),
    [
        (
            FILINGS,
            'ALTER TABLE filings RENAME COLUMN "notificationToken" TO "messageId";',
            'IF EXISTS "filings_notificationToken_idx"',
            'filings ("messageId")',
        ),
        (
            FILINGS,
            'ALTER TABLE filings RENAME COLUMN "notificationToken" TO token;\n'
            'ALTER TABLE filings RENAME COLUMN token TO "messageId";',
            'IF EXISTS "filings_notificationToken_idx"',
            'filings ("messageId")',
        ),
        (
            FILINGS,
            'ALTER TABLE filings RENAME TO "Filing";\n'
            'ALTER TABLE "Filing" RENAME COLUMN "notificationToken" TO "messageId";',
            'IF EXISTS "filings_notificationToken_idx"',
            '"Filing" ("messageId")',
        ),
        # The index itself renamed: read under its former name, made again under the one it
        # was dropped by (which the rename's inverse then gives back).
        (
            KEYS,
            'ALTER INDEX "AttributeClass_name_key" RENAME TO "Key_name_key";',
            '"Key_name_key"',
            '"AttributeClass" ("environmentId")',
        ),
        (
            KEYS,
            'ALTER INDEX "AttributeClass_name_key" RENAME TO interim;\n'
            'ALTER INDEX interim RENAME TO "Key_name_key";',
            'IF EXISTS "Key_name_key"',
            '"AttributeClass" ("environmentId")',
        ),
        (
            KEYS,
            'ALTER TABLE "AttributeClass" RENAME TO "Key";\n'
            'ALTER TABLE "Key" RENAME COLUMN name TO key;\n'
            'ALTER INDEX "AttributeClass_name_key" RENAME TO "Key_name_key";',
            '"Key_name_key"',
            '"Key" ("environmentId")',
        ),
    ],
)
def test_an_index_dropped_after_renames_comes_back(postgres_targets, setup, renames, dropped, made):
    """The index's definition is read before the migration, with the names of then; its
    inverse runs before the renames are undone, so it is spelled with the new names."""
    migration = f"{renames}\nDROP INDEX {dropped};\nCREATE INDEX after_idx ON {made};"

    _round_trip(postgres_targets, setup, migration, queries=_OF_TABLES)


MEMBERS = """
CREATE TABLE "Team" (id INT PRIMARY KEY, code TEXT UNIQUE);
CREATE TABLE "Membership" ("userId" INT, "teamId" INT, "teamCode" TEXT,
    CONSTRAINT "Membership_pkey" PRIMARY KEY ("userId", "teamId"),
    CONSTRAINT "Membership_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team" (id)
        ON DELETE CASCADE,
    CONSTRAINT "Membership_teamCode_fkey" FOREIGN KEY ("teamCode") REFERENCES "Team" (code),
    CONSTRAINT "Membership_teamId_check" CHECK ("teamId" > 0 AND "userId" <> "teamId"));
"""


@pytest.mark.parametrize(
    "renames",
    [
        'ALTER TABLE "Membership" RENAME COLUMN "teamId" TO "organizationId";',
        'ALTER TABLE "Membership" RENAME TO "Member";\n'
        'ALTER TABLE "Member" RENAME COLUMN "teamId" TO "organizationId";',
        'ALTER TABLE "Team" RENAME TO "Organization";\n'
        'ALTER TABLE "Organization" RENAME COLUMN code TO slug;\n'
        'ALTER TABLE "Membership" RENAME COLUMN "teamId" TO "organizationId";',
    ],
)
def test_keys_dropped_after_their_columns_or_tables_were_renamed_come_back(
    postgres_targets, renames
):
    """A constraint's definition is read before the migration, naming its columns, and a
    foreign key's referenced table and columns, as they were; its inverse runs before the
    renames are undone, so it is spelled with the names they gave."""
    table = '"Member"' if '"Member"' in renames else '"Membership"'
    migration = (
        f"{renames}\n"
        f'ALTER TABLE {table} DROP CONSTRAINT "Membership_pkey";\n'
        f'ALTER TABLE {table} DROP CONSTRAINT "Membership_teamId_fkey";\n'
        f'ALTER TABLE {table} DROP CONSTRAINT "Membership_teamCode_fkey";\n'
        f'ALTER TABLE {table} DROP CONSTRAINT "Membership_teamId_check";\n'
        f'ALTER TABLE {table} ADD CONSTRAINT "Member_pkey" PRIMARY KEY ("organizationId");'
    )

    # (An index's own column names are those of its making: not compared, as pg_dump shows
    # none of them.)
    _round_trip(postgres_targets, MEMBERS, migration, queries=_OF_TABLES)


@pytest.mark.parametrize(
    "setup",
    [
        'CREATE TABLE "Person" (id INT);',
        # A sequence of the serial's name already there: the serial's is "Person_userId_seq1",
        # and the one dropped is the one from before, which comes back.
        'CREATE TABLE "Person" (id INT); CREATE SEQUENCE "Person_userId_seq" START 7;',
    ],
)
def test_the_sequence_of_a_serial_column_the_script_added_needs_no_inverse(postgres_targets, setup):
    """Prisma's change of an autoincrement field to text in the migration that added it: the
    serial column's own sequence, dropped at the end, was not there before."""
    migration = (
        'ALTER TABLE "Person" ADD COLUMN "userId" SERIAL NOT NULL;\n'
        'ALTER TABLE "Person" ALTER COLUMN "userId" DROP DEFAULT,\n'
        'ALTER COLUMN "userId" SET DATA TYPE TEXT;\n'
        'DROP SEQUENCE "Person_userId_seq";'
    )

    _round_trip(postgres_targets, setup, migration)


@pytest.mark.parametrize(
    "owned_by",
    [
        'ALTER SEQUENCE "Image_id_seq" OWNED BY "Image"."id";',
        'ALTER SEQUENCE IF EXISTS "Image_id_seq" OWNED BY "Image".id CACHE 5;',
        'ALTER SEQUENCE "Image_id_seq" RESTART WITH 10 INCREMENT BY 2;',
    ],
)
def test_a_sequence_the_script_made_needs_no_inverse_for_its_alters(postgres_targets, owned_by):
    """Prisma's change of an Int field to autoincrement: the sequence it makes, the column's
    default, the sequence owned by the column. Dropping the sequence undoes whatever was
    altered on it."""
    migration = (
        'CREATE SEQUENCE "Image_id_seq";\n'
        'ALTER TABLE "Image" ALTER COLUMN "id" SET DEFAULT nextval(\'"Image_id_seq"\');\n'
        f"{owned_by}"
    )

    script = _round_trip(postgres_targets, 'CREATE TABLE "Image" (id INT NOT NULL);', migration)

    assert "ALTER SEQUENCE" not in script


def test_a_sequence_from_before_altered_is_not_said_to_be_undone(postgres_targets):
    """An ALTER SEQUENCE of a sequence that was there before keeps its warning."""
    postgres_targets.execute("development", 'CREATE SEQUENCE "Counter_seq";')
    applied = SchemaManager().apply_migration_sync(
        Migration(id="002_change", name="change", sql='ALTER SEQUENCE "Counter_seq" CACHE 5;'),
        "development",
    )

    assert applied.success, applied.error
    assert script_warnings(applied.rollback_script), applied.rollback_script


def test_a_table_altered_after_it_was_renamed_is_read_under_its_name_before(postgres_targets):
    """The catalog knows the table by the name it had before the migration; the inverses name
    it as it is when they run (its rename is undone last)."""
    setup = """
    CREATE TABLE links (id INT PRIMARY KEY);
    CREATE TABLE "BookingWindow" (id INT, "linkId" INT, note TEXT DEFAULT 'none',
        CONSTRAINT "BookingWindow_linkId_fkey" FOREIGN KEY ("linkId") REFERENCES links (id));
    """
    migration = (
        'ALTER TABLE "BookingWindow" RENAME TO "AvailabilityWindow";\n'
        'ALTER TABLE "AvailabilityWindow" DROP CONSTRAINT "BookingWindow_linkId_fkey";\n'
        'ALTER TABLE "AvailabilityWindow" RENAME COLUMN "linkId" TO "scheduleId";\n'
        "ALTER TABLE \"AvailabilityWindow\" ALTER COLUMN note SET DEFAULT 'some';"
    )

    _round_trip(postgres_targets, setup, migration)


def test_a_column_altered_after_it_was_renamed_is_read_under_its_name_before(postgres_targets):
    """Renamed, then retyped, given a default and made nullable: each inverse reads the column
    as it was before the migration and names it as it is when it runs."""
    setup = """
    CREATE TABLE "Typebot" (id INT, blocks TEXT NOT NULL DEFAULT 'none', edges VARCHAR(20));
    """
    migration = (
        'ALTER TABLE "Typebot" RENAME COLUMN blocks TO groups;\n'
        'ALTER TABLE "Typebot" ALTER COLUMN groups TYPE VARCHAR(200);\n'
        "ALTER TABLE \"Typebot\" ALTER COLUMN groups SET DEFAULT 'empty';\n"
        'ALTER TABLE "Typebot" ALTER COLUMN groups DROP NOT NULL;\n'
        'ALTER TABLE "Typebot" RENAME TO "Flow";\n'
        'ALTER TABLE "Flow" ALTER COLUMN edges TYPE TEXT;'
    )

    _round_trip(postgres_targets, setup, migration)


def test_a_type_change_with_no_cast_back_is_refused_before_it_is_needed(postgres_targets):
    """``jsonb[]`` converted to ``jsonb`` through a function has no cast back: the rollback
    would fail when an operator runs it, so it is refused now, saying why."""
    targets = postgres_targets
    targets.execute("development", "CREATE TABLE hooks (id INT, headers JSONB[]);")
    migration = "ALTER TABLE hooks ALTER COLUMN headers TYPE JSONB USING array_to_json(headers);"

    validation = SchemaManager().validate_migration_sync(
        Migration(id="002_json", name="json", sql=migration)
    )

    [warning] = script_warnings(validation.rollback_script)
    assert "no cast from jsonb back to jsonb[]" in warning.lower()


def test_a_column_dropped_after_it_was_renamed_comes_back_under_the_name_it_had(postgres_targets):
    """Renamed, then dropped and added again with another type (as Prisma writes a changed
    field): the drop's inverse brings the column back as it was, named as it is then, with
    its index, where it was; the rename's inverse then gives it its name."""
    setup = """
    CREATE TABLE invitations (id INT, role TEXT NOT NULL DEFAULT 'member', email TEXT);
    CREATE INDEX invitations_role ON invitations (role);
    """
    migration = (
        "ALTER TABLE invitations RENAME COLUMN role TO project_role;\n"
        "ALTER TABLE invitations DROP COLUMN project_role,\n"
        "ADD COLUMN project_role INTEGER;"
    )

    # In its place: the column after it moves behind it (it was renamed, not the one moved).
    # (The index's own column name is that of its making, as pg_dump shows none: left out.)
    _exact(postgres_targets, setup, migration, queries=_OF_TABLES)


def test_a_column_the_migration_added_then_renamed_needs_no_inverse_of_its_changes(
    postgres_targets,
):
    """Convert a column through a temporary one: add it, copy, drop the old, rename the new
    to the old name, change its type. The changes to the column the migration added need no
    inverse (dropping it undoes them), and the old column comes back from the catalog, in its
    place."""
    setup = """
    CREATE TYPE "MembershipRole" AS ENUM ('OWNER', 'MEMBER');
    CREATE TABLE memberships (id INT, role "MembershipRole" NOT NULL, note TEXT);
    """
    migration = """
    CREATE TYPE "ProjectRole" AS ENUM ('OWNER', 'MEMBER', 'VIEWER');
    ALTER TABLE memberships ADD COLUMN role_temp text;
    UPDATE memberships SET role_temp = role::text;
    ALTER TABLE memberships DROP COLUMN role;
    ALTER TABLE memberships RENAME COLUMN role_temp TO role;
    ALTER TABLE memberships ALTER COLUMN role TYPE "ProjectRole" USING role::"ProjectRole";
    ALTER TABLE memberships ALTER COLUMN role SET NOT NULL;
    DROP TYPE "MembershipRole";
    """
    script = _round_trip(postgres_targets, setup, migration)

    # The new enum uses no column: the old one comes back in its place.
    assert script_cautions(script) == []


def test_a_renamed_column_s_constraints_come_back_spelled_as_it_is_named_then(
    postgres_targets,
):
    """A key or check on a column renamed, then dropped, names it as it was: made again
    spelled with the name it has when its inverse runs, before the rename's inverse."""
    setup = """
    CREATE TABLE invitations (id INT, role TEXT CHECK (role <> ''), team INT,
        CONSTRAINT invitations_team_role UNIQUE (team, role));
    """
    migration = (
        "ALTER TABLE invitations RENAME COLUMN role TO project_role;\n"
        "ALTER TABLE invitations DROP COLUMN project_role;"
    )

    _exact(postgres_targets, setup, migration, queries=_OF_TABLES)


def test_an_added_enum_value_in_use_fails_the_rollback_and_changes_nothing(postgres_targets):
    targets = postgres_targets
    targets.execute("development", ENUM_SETUP)
    manager = SchemaManager()
    assert manager.apply_migration_sync(
        Migration(id="002_values", name="values", sql=ADD_VALUES), "development"
    ).success
    targets.execute("development", "INSERT INTO members VALUES (1, 'OWNER', NULL)")
    before = _catalogue(targets)

    rolled_back = manager.rollback_migration_sync("002_values", "development")

    assert not rolled_back.success
    assert "OWNER" in str(rolled_back.error)
    assert _catalogue(targets) == before


def test_an_enum_that_a_function_uses_says_why_it_cannot_be_rebuilt(postgres_targets):
    targets = postgres_targets
    targets.execute(
        "development",
        ENUM_SETUP + 'CREATE FUNCTION is_admin(r "Role") RETURNS bool LANGUAGE sql '
        "AS $$ SELECT r = 'ADMIN' $$;",
    )

    validation = SchemaManager().validate_migration_sync(
        Migration(id="002_values", name="values", sql=ADD_VALUES)
    )

    [warning] = script_warnings(validation.rollback_script)
    assert "PostgreSQL cannot drop an enum value" in warning
    assert "function is_admin" in warning


def test_renames_and_row_changes_round_trip(postgres_targets):
    setup = """
    CREATE TYPE kind AS ENUM ('a', 'b');
    CREATE TABLE t (id INT, k kind);
    CREATE INDEX t_id ON t (id);
    INSERT INTO t VALUES (1, 'a');
    """
    script = _round_trip(
        postgres_targets,
        setup,
        "ALTER INDEX t_id RENAME TO t_id_idx; ALTER TYPE kind RENAME TO sort; "
        "ALTER TYPE sort RENAME VALUE 'a' TO 'aa'; UPDATE t SET id = 2; DELETE FROM t;",
    )

    assert script.count("changes rows only") == 2


def test_a_migration_that_changes_rows_only_rolls_back(postgres_targets):
    targets = postgres_targets
    targets.execute("development", "CREATE TABLE t (id INT);")
    manager = SchemaManager()
    applied = manager.apply_migration_sync(
        Migration(id="002_rows", name="rows", sql="INSERT INTO t VALUES (1);"), "development"
    )
    assert applied.success, applied.error

    rolled_back = manager.rollback_migration_sync("002_rows", "development")

    assert rolled_back.success, rolled_back.error
    assert targets.fetch("development", "SELECT id FROM t") == [(1,)]


def test_what_an_earlier_statement_dropped_is_restored_once(postgres_targets):
    setup = """
    CREATE TABLE users (id INT PRIMARY KEY);
    CREATE TABLE shares (id INT, owner INT, token TEXT,
        CONSTRAINT shares_pkey PRIMARY KEY (id),
        CONSTRAINT shares_owner_fkey FOREIGN KEY (owner) REFERENCES users (id));
    CREATE UNIQUE INDEX shares_token_key ON shares (token);
    CREATE TABLE profiles (id INT, old_key INT, CONSTRAINT profiles_pkey PRIMARY KEY (old_key));
    """
    _round_trip(
        postgres_targets,
        setup,
        # As Prisma writes them: the keys and indexes first, then the table.
        "ALTER TABLE shares DROP CONSTRAINT shares_owner_fkey; DROP INDEX shares_token_key; "
        "DROP TABLE shares; ALTER TABLE profiles DROP CONSTRAINT profiles_pkey, "
        "DROP COLUMN old_key, ADD COLUMN new_key INT NOT NULL, "
        "ADD CONSTRAINT profiles_pkey PRIMARY KEY (new_key);",
    )


def test_changes_to_what_the_migration_created_need_no_inverse(postgres_targets):
    script = _round_trip(
        postgres_targets,
        "CREATE TABLE envelopes (id INT, kind TEXT DEFAULT 'doc');",
        "ALTER TABLE envelopes ADD COLUMN level TEXT NOT NULL DEFAULT 'SES'; "
        "ALTER TABLE envelopes ALTER COLUMN level DROP DEFAULT, ALTER COLUMN kind SET DEFAULT 'x'; "
        "CREATE TABLE portals (id INT, temp_id INT); "
        "ALTER TABLE portals DROP COLUMN temp_id;",
    )

    assert "SET DEFAULT 'doc'::text" in script
    assert script_cautions(script) == []


def test_if_not_exists_of_what_was_there_is_not_undone(postgres_targets):
    setup = """
    CREATE TABLE t (id INT, note TEXT);
    CREATE INDEX t_id ON t (id);
    CREATE TYPE mood AS ENUM ('ok');
    CREATE SEQUENCE counter;
    """
    _round_trip(
        postgres_targets,
        setup,
        "CREATE TABLE IF NOT EXISTS t (id INT); CREATE INDEX IF NOT EXISTS t_id ON t (id); "
        "CREATE SEQUENCE IF NOT EXISTS counter; ALTER TABLE t ADD COLUMN IF NOT EXISTS note TEXT, "
        "ADD COLUMN extra INT; "
        # Prisma's way of changing a type: the column dropped and added again.
        "ALTER TABLE t DROP COLUMN note; ALTER TABLE t ADD COLUMN note INT;",
    )


def test_constraints_added_without_a_name_are_dropped_by_the_name_the_server_chose(
    postgres_targets,
):
    long = "a_table_whose_name_is_long_enough_to_be_shortened_by_the_server"
    setup = f"""
    CREATE TABLE owners (id INT PRIMARY KEY, code TEXT UNIQUE, UNIQUE (id, code));
    CREATE TABLE {long} (id INT NOT NULL, owner_id INT, owner_code TEXT, email TEXT);
    CREATE TABLE pets (id INT, owner_id INT);
    -- Taken already: the server numbers the next one.
    ALTER TABLE pets ADD CONSTRAINT pets_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES owners;
    CREATE TABLE dogs (id INT, owner_id INT);
    """
    script = _round_trip(
        postgres_targets,
        setup,
        f"ALTER TABLE {long} ADD PRIMARY KEY (id), ADD UNIQUE (email, owner_code), "
        "ADD FOREIGN KEY (owner_id, owner_code) REFERENCES owners (id, code); "
        "ALTER TABLE dogs ADD FOREIGN KEY (owner_id) REFERENCES owners (id); "
        "ALTER TABLE pets ADD FOREIGN KEY (owner_id) REFERENCES owners (id);",
    )

    assert "pets_owner_id_fkey1" in script


def test_a_rollback_never_drops_a_permanent_table_named_as_the_script_s_temporary_one(
    postgres_targets,
):
    """A migration that de-duplicates through a temporary table named as a real one: the
    rollback removes what the migration made, and the real table keeps its rows."""
    targets = postgres_targets
    targets.execute("development", "CREATE TABLE dedup (id INT); INSERT INTO dedup VALUES (1);")
    migration = (
        "CREATE TEMP TABLE dedup AS SELECT 2 AS id;\nDROP TABLE dedup;\nCREATE TABLE made (id INT);"
    )
    manager = SchemaManager()
    applied = manager.apply_migration_sync(
        Migration(id="002_temp", name="temp", sql=migration), "development"
    )
    assert applied.success, applied.error

    rolled_back = manager.rollback_migration_sync("002_temp", "development")

    assert rolled_back.success, rolled_back.error
    assert targets.fetch("development", "SELECT id FROM dedup") == [(1,)]
    assert targets.fetch("development", "SELECT to_regclass('made')") == [(None,)]
