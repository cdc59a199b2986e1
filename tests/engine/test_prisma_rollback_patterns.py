"""Generated rollbacks of what real Prisma histories write (PostgreSQL): each pattern applied
and rolled back on a small schema, the catalogue compared with what it was before."""

from __future__ import annotations

import pytest

from schema_manager import Migration, SchemaManager
from schema_manager.rollback_choice import script_warnings
from tests.engine.test_catalog_rollbacks import _catalogue, _round_trip
from tests.settings import POSTGRES_SCHEMAS

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")
SCHEMA = POSTGRES_SCHEMAS["development"]  # the target's current schema (its search_path)

# `prisma migrate dev` removing an enum value: a new type, the column moved to it, the old
# type renamed away and dropped (by its new name), the new one given the old name.
ENUM_SWAP = """
BEGIN;
UPDATE "members" SET "role" = 'ADMIN' WHERE "role" = 'OWNER';
CREATE TYPE "Role_new" AS ENUM ('ADMIN', 'MEMBER');
ALTER TABLE "members" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "members" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "members" ALTER COLUMN "role" SET DEFAULT 'MEMBER';
COMMIT;
"""


@pytest.mark.parametrize(
    "swap",
    [
        ENUM_SWAP,
        # Newer Prisma names the schema in some statements and not in others.
        ENUM_SWAP.replace('DROP TYPE "Role_old"', f'DROP TYPE "{SCHEMA}"."Role_old"'),
        ENUM_SWAP.replace('ALTER TYPE "Role" RENAME', f'ALTER TYPE "{SCHEMA}"."Role" RENAME'),
    ],
    ids=["unqualified", "drop-qualified", "rename-qualified"],
)
def test_prisma_s_enum_swap_rolls_back_the_type_it_renamed_then_dropped(postgres_targets, swap):
    setup = """
    CREATE TYPE "Role" AS ENUM ('OWNER', 'ADMIN', 'MEMBER');
    CREATE TABLE members (id INT, role "Role" NOT NULL DEFAULT 'MEMBER');
    INSERT INTO members VALUES (1, 'ADMIN');
    """
    script = _round_trip(postgres_targets, setup, swap)

    assert "AS ENUM ('OWNER', 'ADMIN', 'MEMBER');" in script


def test_an_unnamed_check_is_dropped_by_the_name_the_server_chose(postgres_targets):
    setup = """
    CREATE TABLE t (id INT, lo INT, hi INT, "Note" TEXT);
    ALTER TABLE t ADD CONSTRAINT t_lo_check CHECK (lo > 0);
    """
    script = _round_trip(
        postgres_targets,
        setup,
        "ALTER TABLE t ADD CHECK (lo < 100), ADD CHECK (lo <= hi), ADD CHECK (\"Note\" <> '');"
        "ALTER TABLE t ADD COLUMN n INT, ADD CHECK (n::text <> 'x' AND length(n::text) < 9);",
    )

    assert "DROP CONSTRAINT t_lo_check1" in script
    assert "DROP CONSTRAINT t_check" in script
    assert 'DROP CONSTRAINT "t_Note_check"' in script


def test_a_do_block_that_changes_rows_only_rolls_back_leaving_the_rows(postgres_targets):
    sql = """
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM t WHERE id = 1) THEN
        INSERT INTO t (id) VALUES (1);
      END IF;
      UPDATE t SET id = id + 1 WHERE id > 5;
    END $$;
    """
    targets = postgres_targets
    targets.execute("development", "CREATE TABLE t (id INT);")
    before = _catalogue(targets)
    manager = SchemaManager()
    applied = manager.apply_migration_sync(
        Migration(id="002_do", name="do", sql=sql), "development"
    )
    assert applied.success, applied.error
    assert script_warnings(applied.rollback_script) == []
    assert "changes rows only (INSERT, UPDATE in its DO block)" in applied.rollback_script

    rolled_back = manager.rollback_migration_sync("002_do", "development")

    assert rolled_back.success, rolled_back.error
    assert _catalogue(targets) == before
    assert targets.fetch("development", "SELECT id FROM t") == [(1,)]


def test_a_do_block_that_changes_the_schema_says_what_it_cannot_undo(postgres_targets):
    targets = postgres_targets
    targets.execute("development", "CREATE TABLE t (id INT);")
    sql = """
    DO $$
    BEGIN
      ALTER TABLE t ADD COLUMN x INT;
      EXECUTE 'CREATE INDEX t_x ON t (x)';
    END $$;
    """
    applied = SchemaManager().apply_migration_sync(
        Migration(id="002_do", name="do", sql=sql), "development"
    )
    assert applied.success, applied.error
    assert ("t", "x") in [(table, column) for table, _, column, *_ in _catalogue(targets)[0]]

    [warning] = script_warnings(applied.rollback_script)
    assert "its DO block runs ALTER TABLE" in warning
    assert "EXECUTE" in warning
    assert "built at run time" in warning


def test_a_key_made_from_an_existing_index_gives_the_index_back(postgres_targets):
    """``ADD CONSTRAINT … PRIMARY KEY USING INDEX i`` takes the index over (it becomes the
    key's): dropping the key drops it, so the rollback makes the index again."""
    setup = """
    CREATE TABLE items (id INT NOT NULL, project INT NOT NULL, valid_from INT NOT NULL,
        CONSTRAINT items_pkey PRIMARY KEY (id, project));
    CREATE UNIQUE INDEX items_id_project_valid_from_key ON items (id, project, valid_from);
    """
    script = _round_trip(
        postgres_targets,
        setup,
        'ALTER TABLE "items" DROP CONSTRAINT "items_pkey",\n'
        'ADD CONSTRAINT "items_pkey" PRIMARY KEY USING INDEX "items_id_project_valid_from_key";',
    )

    assert "CREATE UNIQUE INDEX items_id_project_valid_from_key" in script


def test_without_the_catalog_a_key_using_an_index_says_the_index_is_not_restored():
    from schema_manager.sql.rollback import generate_rollback

    script = generate_rollback(
        "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_id_key;", "postgresql"
    )

    [warning] = script.warnings
    assert "t_id_key" in warning


def test_settings_that_end_with_the_transaction_need_no_inverse():
    from schema_manager.sql.rollback import generate_rollback

    script = generate_rollback(
        "BEGIN;\nSET LOCAL lock_timeout = '5s';\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\n"
        "CREATE TABLE t (id INT);\nCOMMIT;",
        "postgresql",
    )

    assert script.warnings == []
    assert script.text == "DROP TABLE IF EXISTS t CASCADE;"


def test_an_unnamed_index_on_a_table_the_script_made_needs_no_inverse():
    from schema_manager.sql.rollback import generate_rollback

    script = generate_rollback(
        'CREATE TEMP TABLE "map" ON COMMIT DROP AS SELECT 1 AS id;\n'
        'CREATE UNIQUE INDEX ON "map" ("id");',
        "postgresql",
    )

    assert script.warnings == []


def test_a_default_dropped_then_set_again_in_the_script_comes_back_as_the_script_left_it(
    postgres_targets,
):
    """Prisma's enum change with new values: the default is dropped, the type swapped, then a
    new default set. Undoing that last SET DEFAULT restores no default (what the script had
    left), not the one from before the migration, which the new type cannot hold."""
    setup = """
    CREATE TYPE "status" AS ENUM ('live', 'paused');
    CREATE TABLE polls (id INT, status "status" NOT NULL DEFAULT 'live');
    """
    sql = """
    BEGIN;
    CREATE TYPE "status_new" AS ENUM ('open', 'closed');
    ALTER TABLE "polls" ALTER COLUMN "status" DROP DEFAULT;
    ALTER TABLE "polls" ALTER COLUMN "status" TYPE "status_new" USING (
      CASE "status"::text WHEN 'live' THEN 'open'::status_new ELSE 'closed'::status_new END
    );
    ALTER TYPE "status" RENAME TO "status_old";
    ALTER TYPE "status_new" RENAME TO "status";
    DROP TYPE "status_old";
    ALTER TABLE "polls" ALTER COLUMN "status" SET DEFAULT 'open';
    COMMIT;
    """
    script = _round_trip(postgres_targets, setup, sql)

    assert script.splitlines()[0] == "ALTER TABLE polls ALTER COLUMN status DROP DEFAULT;"


def test_an_enum_renamed_away_then_made_again_under_its_name_rolls_back(postgres_targets):
    """The old type renamed first, the new one created under its name, the column moved
    and the old one dropped: the column's previous type (and its default's cast) is named
    as the script left it, ``Sev_old``, until the rename is undone."""
    setup = """
    CREATE TYPE "Sev" AS ENUM ('UNKNOWN', 'OK');
    CREATE TABLE monitors (id INT, severity "Sev" NOT NULL DEFAULT 'UNKNOWN', past "Sev"[]);
    """
    sql = """
    ALTER TYPE "Sev" RENAME TO "Sev_old";
    CREATE TYPE "Sev" AS ENUM ('PAUSED', 'UNKNOWN', 'OK');
    ALTER TABLE monitors
      ALTER COLUMN severity DROP DEFAULT,
      ALTER COLUMN severity TYPE "Sev" USING severity::text::"Sev",
      ALTER COLUMN severity SET DEFAULT 'UNKNOWN'::"Sev",
      ALTER COLUMN past TYPE "Sev"[] USING past::text[]::"Sev"[];
    DROP TYPE "Sev_old";
    UPDATE monitors SET severity = 'PAUSED';
    """
    script = _round_trip(postgres_targets, setup, sql)

    assert 'TYPE "Sev_old" USING severity::text::"Sev_old"' in script


def test_an_array_default_s_commas_do_not_split_the_alter_table():
    from schema_manager.sql.rollback import generate_rollback

    script = generate_rollback(
        'ALTER TABLE IF EXISTS "b" ADD COLUMN IF NOT EXISTS "groups" TEXT[] '
        "NOT NULL DEFAULT ARRAY['core','basic'];",
        "postgresql",
    )

    assert script.warnings == []
    assert script.text == "ALTER TABLE b DROP COLUMN IF EXISTS groups;"


def test_dropping_a_table_the_script_made_needs_no_inverse():
    from schema_manager.sql.rollback import generate_rollback

    script = generate_rollback(
        "CREATE TEMPORARY TABLE tmp AS SELECT 1 AS id;\nCREATE TABLE t (id INT);\n"
        "INSERT INTO t SELECT id FROM tmp;\nDROP TABLE tmp;",
        "postgresql",
    )

    assert script.warnings == []
