"""What the statements an apply adds around each script cost the server, free of the machine's
drift between runs.

Each shape sends every generated migration (``bench/generate.py``) on a connection of its own,
to a database of its own, the way the executor sends it on PostgreSQL, in one query inside
BEGIN/COMMIT:

- ``script``: the script alone (what one psql session asks of the server)
- ``+ savepoint``: inside ``SAVEPOINT … RELEASE`` (how a failed script is split to name its
  statement)
- ``+ ledger row``: then the ``_prisma_migrations`` row, with its ``RETURNING finished_at``
- ``+ guard``: the row's guard reading as the executor sends it (``LedgerGuard.reading_sql``:
  the lock check and the ledger's counts)
- ``+ guard reading pg_locks``: the same with the lock checked by reading ``pg_locks`` (the
  guard before 2026-12-06: the lock session's row in the lock table)

The shapes take turns migration by migration (migration 1 in every shape, then migration 2…),
so a slower minute of the machine weighs on all of them alike. Each shape's time is its
client's wall time around its queries, summed; the table gives each shape's cost per migration
beyond the script alone.

Usage: python bench/server_share.py [--n 1000] [--server URL]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.deploy import Server  # noqa: E402
from bench.generate import up_sql  # noqa: E402

PRISMA_KEY = 72707369
# The lock check before 2026-12-06: the lock session's row in pg_locks (bigint key, objsubid 1).
LOCKS_READ = (
    "EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted "
    "AND classid = 0 AND objid = %s AND objsubid = 1 AND pid = %s AND database = "
    "(SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))"
)
SHAPES = ("script", "+ savepoint", "+ ledger row", "+ guard", "+ guard reading pg_locks")


class Shape:
    """One database, its lock session and its migration session, sending one shape."""

    def __init__(self, name: str, server: Server, number: int) -> None:
        import psycopg

        from schema_manager.backends.base import HeldLock
        from schema_manager.backends.postgresql import _STILL_HELD, PostgreSQLBackend
        from schema_manager.ledger_guard import LedgerGuard

        self.name, self.elapsed = name, 0.0
        self.label = f"share_{number}"
        server.run(server.dropdb(self.label))
        server.run(server.createdb(self.label))
        url = server.database_url(self.label)
        self.lock = psycopg.connect(url, autocommit=True)
        self.lock.execute("SELECT pg_advisory_lock(%s)", [PRISMA_KEY])
        run_key = secrets.randbits(63)
        self.lock.execute("SELECT pg_advisory_lock(%s)", [run_key])
        self.connection = psycopg.connect(url, cursor_factory=psycopg.ClientCursor)
        table = '"public"."_prisma_migrations"'
        self.connection.execute(PostgreSQLBackend.ledger_ddl.format(table=table))
        self.connection.commit()
        pid = self.lock.info.backend_pid
        held = (
            HeldLock("", LOCKS_READ, (PRISMA_KEY, pid))
            if name.endswith("pg_locks")
            else HeldLock("", _STILL_HELD, (run_key,))
        )
        guard = LedgerGuard(None, table, held, (0, 0, 0))  # type: ignore[arg-type]
        with self.connection.cursor() as cursor:
            self.reading = guard.reading_sql(cursor)
        self.table = table

    def query(self, index: int, script: str) -> str:
        if self.name == "script":
            return script
        body = f"SAVEPOINT s;\n{script}\n;\n"
        if self.name != "+ savepoint":
            guarded = self.name != "+ ledger row"
            returning = f"finished_at, {self.reading}" if guarded else "finished_at"
            body += (
                f"INSERT INTO {self.table} (id, checksum, finished_at, migration_name, "
                f"applied_steps_count) VALUES ('{uuid.uuid4()}', '{'0' * 64}', "
                f"clock_timestamp(), 'step_{index:05d}', 1) RETURNING {returning}\n;\n"
            )
        return body + "RELEASE SAVEPOINT s"

    def send(self, index: int, script: str) -> None:
        query = self.query(index, script)
        start = time.perf_counter()
        with self.connection.cursor() as cursor:
            cursor.execute(query)
        self.connection.commit()
        self.elapsed += time.perf_counter() - start

    def close(self, server: Server) -> None:
        self.connection.close()
        self.lock.close()
        server.run(server.dropdb(self.label))


def measure(n: int, server: Server) -> dict[str, float]:
    shapes = [Shape(name, server, number) for number, name in enumerate(SHAPES)]
    try:
        for index in range(n):
            script = up_sql(index)
            # The order rotates, so that no shape always follows another's commit.
            turn = index % len(shapes)
            for shape in shapes[turn:] + shapes[:turn]:
                shape.send(index, script)
    finally:
        for shape in shapes:
            shape.close(server)
    return {shape.name: shape.elapsed for shape in shapes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    times = measure(args.n, Server(args.server))
    alone = times["script"]
    print(f"{args.n} generated migrations, shapes taking turns migration by migration\n")
    print("| shape | s in all | ms per migration beyond the script | ratio to the script |")
    print("|---|---|---|---|")
    for name in SHAPES:
        extra = (times[name] - alone) / args.n * 1000
        print(f"| {name} | {times[name]:.2f} | {extra:+.3f} | {times[name] / alone:.2f}x |")


if __name__ == "__main__":
    main()
