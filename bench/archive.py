"""The archive's cost: a destructive statement over 1 million rows applied with and without
archiving what it removes, in the same run, with each process's peak memory.

Per repetition and per statement (``DROP COLUMN``, ``DELETE``), two fresh targets copied from
one template database holding ``items`` (1,000,000 rows, filled once, untimed): one applies
the migration with ``ARCHIVE_ENVIRONMENTS`` off, the other with it on (the same
``apply_schema_migration --all`` process, settings ``bench.settings``, ``BENCH_ARCHIVE=1``).
``psql -c`` of the statement alone in a third copy is the floor. The archived apply pays the
estimate (a count over the rows), the copy into ``_schema_manager_archive`` and the record;
the copy is ``CREATE TABLE … AS SELECT`` in the server, so the process's peak memory stays
that of an apply without archive. Ratios are medians of each repetition's own ratio.

Usage: python bench/archive.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import PYTHON, Databases, compile_sources, machine, measure, psql  # noqa: E402

STATEMENTS = {
    "DROP COLUMN": "ALTER TABLE items DROP COLUMN note;",
    "DELETE": "DELETE FROM items WHERE id > 0;",
}
FILL = (
    "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, note TEXT); "
    "INSERT INTO items SELECT i, 'item ' || i, i % 97, repeat('n', 40) || i "
    "FROM generate_series(1, {rows}) AS i;"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    print(machine(args.server))
    compile_sources()
    databases = Databases(args.server)
    results: dict[str, dict[str, list[tuple[float, float, float]]]] = {
        kind: {"psql": [], "off": [], "on": []} for kind in STATEMENTS
    }
    try:
        template = databases.fresh("archive_template")
        for sql in (FILL.format(rows=args.rows), "VACUUM ANALYZE items"):
            subprocess.run(["psql", "-qAtX", template, "-c", sql], check=True)
        template_name = template.rsplit("/", 1)[1]
        for repetition in range(args.repeat):
            for kind, sql in STATEMENTS.items():
                run_once(args.server, databases, template_name, kind, sql, repetition, results)
    finally:
        databases.drop_all()
    print(f"\nRows: {args.rows:,}; repetitions: {args.repeat}\n")
    print(
        "| statement | psql alone s | apply s | apply + archive s | archive cost s | "
        "archive cost / statement alone | apply + archive / apply | peak RSS MiB apply | "
        "peak RSS MiB apply + archive |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, by in results.items():
        med = {name: [statistics.median(s[i] for s in by[name]) for i in range(3)] for name in by}
        over_apply = statistics.median(
            o[0] / a[0] for o, a in zip(by["on"], by["off"], strict=True)
        )
        cost = statistics.median(o[0] - a[0] for o, a in zip(by["on"], by["off"], strict=True))
        print(
            f"| {kind} | {med['psql'][0]:.2f} | {med['off'][0]:.2f} | {med['on'][0]:.2f} | "
            f"{cost:.2f} | {cost / med['psql'][0]:.2f}x | {over_apply:.2f}x | "
            f"{med['off'][1]:.0f} | {med['on'][1]:.0f} |"
        )


def copy(server: str, databases: Databases, template: str, label: str) -> str:
    name = f"sm_bench_{os.getpid()}_{label}"
    psql(server, f"DROP DATABASE IF EXISTS {name}")
    psql(server, f"CREATE DATABASE {name} TEMPLATE {template}")
    databases.names.append(name)
    return f"{server}/{name}"


def run_once(server, databases, template, kind, sql, repetition, results) -> None:
    label = f"{kind.split()[0].lower()}_{repetition}"
    with tempfile.TemporaryDirectory(prefix="sm_bench_archive_") as directory:
        project = Path(directory)
        folder = project / "prisma" / "migrations" / "20240101000000_destroy"
        folder.mkdir(parents=True)
        (folder / "migration.sql").write_text(sql + "\n")
        (project / "prisma" / "schema.prisma").write_text("")
        base = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "BENCH_PRISMA_SCHEMA_PATH": str(project / "prisma" / "schema.prisma"),
        }
        command = [PYTHON, "manage.py", "apply_schema_migration", "--all"]
        floor = copy(server, databases, template, f"{label}_psql")
        psql(server, "CHECKPOINT")
        results[kind]["psql"].append(measure(["psql", "-qX", floor, "-c", sql], base))
        for mode in ("off", "on"):
            env = {
                **base,
                "DATABASE_URL": databases.fresh(f"{label}_{mode}_app"),
                "DEVELOPMENT_DATABASE_URL": copy(server, databases, template, f"{label}_{mode}"),
                **({"BENCH_ARCHIVE": "1"} if mode == "on" else {}),
            }
            subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], env=env, cwd=REPO, check=True)
            psql(server, "CHECKPOINT")
            results[kind][mode].append(measure(command, env))
            archived = subprocess.run(
                [
                    "psql",
                    "-qAtX",
                    env["DEVELOPMENT_DATABASE_URL"],
                    "-c",
                    "SELECT count(*) FROM pg_tables WHERE schemaname = '_schema_manager_archive'",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            if archived != ("1" if mode == "on" else "0"):
                raise SystemExit(f"{kind} with archive {mode}: {archived} archive table(s)")
        for name in [n for n in databases.names if label in n]:
            psql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            databases.names.remove(name)


if __name__ == "__main__":
    main()
