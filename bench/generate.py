"""Generate N realistic raw-SQL migrations, plus the same work for each baseline tool.

Migration ``i`` creates a table with several columns, adds a column to the previous table,
creates an index, inserts a few rows and, every tenth, creates a view; ``down.sql`` undoes it
in reverse. Everything is written under one project directory:

- ``prisma/schema.prisma`` and ``prisma/migrations/<id>/{migration,down}.sql`` (schema_manager)
- ``psql_up.sql`` / ``psql_down.sql``: every migration (or down script, newest first) wrapped
  in BEGIN/COMMIT, for one ``psql`` process (the baseline)
- ``benchapp/migrations/NNNN_*.py``: a Django app whose migrations are ``RunSQL(up, down)``
- ``yoyo/NNNN_step.sql`` and ``.rollback.sql``: yoyo-migrations
- ``alembic/``: an Alembic environment whose revisions ``op.execute`` each statement, one
  transaction per migration
- ``dbmate/NNNN_step.sql``: dbmate's ``-- migrate:up`` / ``-- migrate:down`` files

Usage: python bench/generate.py DIR N
"""

from __future__ import annotations

import sys
from pathlib import Path


def migration_id(i: int) -> str:
    return f"{20240101000000 + i:014d}_step_{i:05d}"


def up_sql(i: int) -> str:
    t = f"bench_t{i:05d}"
    parts = [
        f"-- Step {i}: a table, a column on the previous one, an index and some rows.\n"
        f"CREATE TABLE {t} (\n"
        "    id BIGSERIAL PRIMARY KEY,\n"
        "    name VARCHAR(200) NOT NULL,\n"
        "    email VARCHAR(255),\n"
        "    amount NUMERIC(12, 2) NOT NULL DEFAULT 0,\n"
        "    active BOOLEAN NOT NULL DEFAULT TRUE,\n"
        "    created_at TIMESTAMPTZ NOT NULL DEFAULT now()\n"
        ");\n"
    ]
    if i > 0:
        parts.append(f"ALTER TABLE bench_t{i - 1:05d} ADD COLUMN extra_{i} INTEGER DEFAULT 0;\n")
    parts.append(f"CREATE INDEX idx_{t}_email ON {t} (email);\n")
    for row in range(3):
        parts.append(
            f"INSERT INTO {t} (name, email, amount) VALUES "
            f"('user {i}-{row}', 'user{i}_{row}@example.com', {row * 10 + i % 7}.50);\n"
        )
    if i % 10 == 9:
        parts.append(
            f"CREATE VIEW bench_v{i:05d} AS SELECT id, name, amount FROM {t} WHERE active;\n"
        )
    return "".join(parts)


def down_sql(i: int) -> str:
    t = f"bench_t{i:05d}"
    parts = []
    if i % 10 == 9:
        parts.append(f"DROP VIEW IF EXISTS bench_v{i:05d};\n")
    parts.append(f"DROP INDEX IF EXISTS idx_{t}_email;\n")
    if i > 0:
        parts.append(f"ALTER TABLE bench_t{i - 1:05d} DROP COLUMN IF EXISTS extra_{i};\n")
    parts.append(f"DROP TABLE IF EXISTS {t};\n")
    return "".join(parts)


DJANGO_MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = {dependencies!r}
    operations = [migrations.RunSQL({up!r}, {down!r})]
"""


ALEMBIC_INI = """[alembic]
script_location = %(here)s
"""

# Every migration in its own transaction, as the other tools run them.
ALEMBIC_ENV = """import os

from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["BENCH_ALEMBIC_URL"])
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
"""

ALEMBIC_REVISION = """from alembic import op

revision = {revision!r}
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def upgrade():
    for statement in {up!r}:
        op.execute(statement)


def downgrade():
    for statement in {down!r}:
        op.execute(statement)
"""


def statements(sql: str) -> list[str]:
    """The generated scripts' statements (one per line-ending ``;``, no ``;`` inside)."""
    lines = (line for line in sql.splitlines(keepends=True) if not line.startswith("--"))
    return [part.strip() for part in "".join(lines).split(";\n") if part.strip()]


def generate_peers(project: Path, n: int) -> None:
    yoyo = project / "yoyo"
    dbmate = project / "dbmate"
    versions = project / "alembic" / "versions"
    for directory in (yoyo, dbmate, versions):
        directory.mkdir(parents=True)
    (project / "alembic" / "alembic.ini").write_text(ALEMBIC_INI)
    (project / "alembic" / "env.py").write_text(ALEMBIC_ENV)
    for i in range(n):
        name = f"{i + 1:05d}_step"
        (yoyo / f"{name}.sql").write_text(up_sql(i))
        (yoyo / f"{name}.rollback.sql").write_text(down_sql(i))
        (dbmate / f"{name}.sql").write_text(
            f"-- migrate:up\n{up_sql(i)}\n-- migrate:down\n{down_sql(i)}"
        )
        (versions / f"r{i:05d}.py").write_text(
            ALEMBIC_REVISION.format(
                revision=f"r{i:05d}",
                down_revision=f"r{i - 1:05d}" if i else None,
                up=statements(up_sql(i)),
                down=statements(down_sql(i)),
            )
        )


def generate(project: Path, n: int) -> None:
    migrations = project / "prisma" / "migrations"
    migrations.mkdir(parents=True)
    (project / "prisma" / "schema.prisma").write_text(
        'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n'
    )
    app = project / "benchapp"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    with (
        open(project / "psql_up.sql", "w") as psql_up,
        open(project / "psql_down.sql", "w") as psql_down,
    ):
        psql_up.write("\\set ON_ERROR_STOP on\n")
        psql_down.write("\\set ON_ERROR_STOP on\n")
        previous = None
        for i in range(n):
            folder = migrations / migration_id(i)
            folder.mkdir()
            (folder / "migration.sql").write_text(up_sql(i))
            (folder / "down.sql").write_text(down_sql(i))
            psql_up.write(f"BEGIN;\n{up_sql(i)}COMMIT;\n")
            name = f"{i + 1:04d}_step_{i:05d}"
            (app / "migrations" / f"{name}.py").write_text(
                DJANGO_MIGRATION.format(
                    dependencies=[("benchapp", previous)] if previous else [],
                    up=up_sql(i),
                    down=down_sql(i),
                )
            )
            previous = name
        for i in reversed(range(n)):
            psql_down.write(f"BEGIN;\n{down_sql(i)}COMMIT;\n")
    generate_peers(project, n)


def generate_large(path: Path, megabytes: int) -> int:
    """One data migration of about ``megabytes`` MB: a table and many INSERTs. Returns bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = megabytes * 1024 * 1024
    written = 0
    with open(path, "w") as out:
        head = (
            "CREATE TABLE bench_large (id BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL, "
            "note TEXT, amount NUMERIC(12, 2));\n"
        )
        out.write(head)
        written += len(head)
        i = 0
        while written < target:
            line = (
                f"INSERT INTO bench_large (id, name, note, amount) VALUES ({i}, 'name {i}', "
                f"'a note about row {i}; with punctuation, quotes '' and (parentheses)', "
                f"{i % 1000}.25);\n"
            )
            out.write(line)
            written += len(line)
            i += 1
    (path.parent / "down.sql").write_text("DROP TABLE IF EXISTS bench_large;\n")
    return written


if __name__ == "__main__":
    generate(Path(sys.argv[1]), int(sys.argv[2]))
