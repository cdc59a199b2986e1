"""Fleet rollouts: the same migrations over tenant schemas and tenant databases, same run.

Contenders, each from a clean state of the tenants (every schema or database emptied):

- psql loop (the floor): one ``psql -f psql_up.sql`` per tenant, one after the other
  (``PGOPTIONS=-csearch_path=<schema>`` for a schema), each migration in BEGIN/COMMIT;
- schema_manager in process: ``apply_schema_migration --all --fleet NAME`` with the default
  (immediate) Tasks backend: the command's process runs every target, one after the other;
- schema_manager on RQ workers: the same command, the targets run by ``--workers`` RQ worker
  processes on Redis (started before the clock starts, as a deployment's are);
- django-tenants (schemas only): ``migrate_schemas --tenant --executor=multiprocessing`` with
  the same SQL as ``RunSQL`` migrations of a tenant app (``--workers`` processes);
- no-op: the schema_manager command again over the up-to-date fleet.

Not timed: creating and emptying databases and schemas, the app database's ``migrate``,
django-tenants' shared-schema migrate and its tenant rows, starting RQ workers.

Usage: python bench/fleet.py --server postgres://postgres@127.0.0.1:5432 \
           [--schemas 200] [--databases 50] [--migrations 10] [--workers 2] \
           [--only process,noop,rq,tenants] [--fleets schemas,databases] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import generate  # noqa: E402


class Bench:
    def __init__(self, args: argparse.Namespace, project: Path) -> None:
        self.args, self.project = args, project
        self.server = args.server.rstrip("/")
        self.prefix = f"sm_bench_fleet_{os.getpid()}"
        self.tenants_db = f"{self.prefix}_tenants"
        self.app_db = f"{self.prefix}_app"
        self.databases = [f"{self.prefix}_d{i:02d}" for i in range(args.databases)]
        self.schemas = [f"t{i:03d}" for i in range(args.schemas)]
        self.admin = psycopg.connect(f"{self.server}/postgres", autocommit=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{project}",
            "BENCH_APP_URL": f"{self.server}/{self.app_db}",
            "BENCH_TENANTS_URL": f"{self.server}/{self.tenants_db}",
            "BENCH_DATABASE_URL": f"{self.server}/{self.tenants_db}",
            "BENCH_DATABASE_PREFIX": self.prefix,
            "BENCH_SCHEMAS": str(args.schemas),
            "BENCH_DATABASES": str(args.databases),
            "BENCH_PROCESSES": str(args.workers),
            "BENCH_PRISMA_SCHEMA_PATH": str(project / "prisma" / "schema.prisma"),
        }

    # -- databases ---------------------------------------------------------------------------

    def create(self) -> None:
        for name in [self.tenants_db, self.app_db, *self.databases]:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.admin.execute(f'CREATE DATABASE "{name}"')

    def drop(self) -> None:
        for name in [self.tenants_db, self.app_db, *self.databases]:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def empty_schemas(self) -> None:
        with psycopg.connect(f"{self.server}/{self.tenants_db}", autocommit=True) as db:
            for schema in self.schemas:  # one transaction each: a lock per object dropped
                db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                db.execute(f'CREATE SCHEMA "{schema}"')
            db.execute("CHECKPOINT")

    def empty_databases(self) -> None:
        for name in self.databases:
            with psycopg.connect(f"{self.server}/{name}", autocommit=True) as db:
                db.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
        self.admin.execute("CHECKPOINT")

    def fresh_app_database(self, settings: str = "bench.fleet_settings") -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.app_db}" WITH (FORCE)')
        self.admin.execute(f'CREATE DATABASE "{self.app_db}"')
        self.manage(settings, "migrate", "--verbosity", "0")

    # -- processes ---------------------------------------------------------------------------

    def manage(self, settings: str, *args: str, env: dict | None = None) -> float:
        clock = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "django", *args, f"--settings={settings}"],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - clock
        if done.returncode:
            raise SystemExit(f"{args} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return elapsed

    def psql_loop(self, targets: list[tuple[str, str]]) -> float:
        """(database, schema or '') per tenant: one psql each, in turn."""
        clock = time.perf_counter()
        for database, schema in targets:
            env = {**os.environ, "PGOPTIONS": f"-csearch_path={schema}"} if schema else None
            subprocess.run(
                [
                    "psql",
                    "-qX",
                    f"{self.server}/{database}",
                    "-f",
                    str(self.project / "psql_up.sql"),
                ],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
            )
        return time.perf_counter() - clock

    def rollout(self, fleet: str, workers: int) -> float:
        """The fleet command's wall time, in process (0 workers) or on RQ workers."""
        self.fresh_app_database()
        if not workers:
            return self.manage(
                "bench.fleet_settings",
                "apply_schema_migration",
                "--all",
                "--fleet",
                fleet,
                "--parallel",
                str(max(self.args.workers, 1)),
            )
        queue = f"bench_{uuid.uuid4().hex[:8]}"
        env = {
            **self.env,
            "BENCH_RQ_QUEUE": queue,
            "DJANGO_SETTINGS_MODULE": "bench.fleet_settings",
        }
        pool = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "django",
                    "rqworker",
                    queue,
                    "--job-class",
                    "django_tasks_rq.Job",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            time.sleep(3)  # the workers are up and listening
            return self.manage(
                "bench.fleet_settings",
                "apply_schema_migration",
                "--all",
                "--fleet",
                fleet,
                "--parallel",
                str(workers * 2),
                env={"BENCH_RQ_QUEUE": queue},
            )
        finally:
            for process in pool:
                process.terminate()
            for process in pool:
                process.wait()

    def noop(self, fleet: str) -> float:
        return self.manage(
            "bench.fleet_settings", "apply_schema_migration", "--all", "--fleet", fleet
        )

    def django_tenants(self) -> float:
        settings = "bench.tenants_settings"
        with psycopg.connect(f"{self.server}/{self.tenants_db}", autocommit=True) as db:
            # The shared apps' tables of an earlier round (--repeat) go with the schema.
            db.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
        self.manage(settings, "migrate_schemas", "--shared", "--verbosity", "0")
        with psycopg.connect(f"{self.server}/{self.tenants_db}", autocommit=True) as db:
            db.execute(
                "INSERT INTO tenants_app_client (schema_name, name) VALUES ('public', 'public')"
            )
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO tenants_app_client (schema_name, name) VALUES (%s, %s)",
                    [(schema, schema) for schema in self.schemas],
                )
        return self.manage(
            settings,
            "migrate_schemas",
            "--tenant",
            "--executor=multiprocessing",
            "--verbosity",
            "0",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--schemas", type=int, default=200)
    parser.add_argument("--databases", type=int, default=50)
    parser.add_argument("--migrations", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--only",
        default="",
        help="Comma-separated rows to run (psql, process, noop, rq, tenants; the psql loop "
        "always runs); default: all.",
    )
    parser.add_argument("--fleets", default="schemas,databases", help="schemas, databases")
    parser.add_argument("--repeat", type=int, default=1, help="Runs of the whole table.")
    args = parser.parse_args()
    wanted = set(filter(None, args.only.split(","))) or {"process", "noop", "rq", "tenants"}
    project = Path(tempfile.mkdtemp(prefix="sm_bench_fleet_"))
    generate(project, args.migrations)
    bench = Bench(args, project)
    bench.create()
    rows: list[tuple[str, str, float]] = []
    try:
        for _round in range(args.repeat):
            for fleet in args.fleets.split(","):
                measured = run_fleet(bench, fleet, wanted)
                rows += measured
                # As they come (to stderr): a later failure loses no figure.
                print(measured, file=sys.stderr, flush=True)
    finally:
        bench.drop()
        shutil.rmtree(project, ignore_errors=True)
    print(f"{args.migrations} migrations; {args.schemas} schemas, {args.databases} databases\n")
    print("| tenants | contender | seconds | x psql loop |")
    print("| --- | --- | ---: | ---: |")
    floor = 1.0
    for fleet, what, seconds in rows:
        if what == "psql loop":  # each round's rows against its own floor
            floor = seconds
        print(f"| {fleet} | {what} | {seconds:.2f} | {seconds / floor:.2f} |")


def run_fleet(bench: Bench, fleet: str, wanted: set[str]) -> list[tuple[str, str, float]]:
    """One round of ``fleet``'s rows, the psql loop first."""
    workers = bench.args.workers
    if fleet == "schemas":
        targets = [(bench.tenants_db, schema) for schema in bench.schemas]
        empty = bench.empty_schemas
    else:
        targets = [(name, "") for name in bench.databases]
        empty = bench.empty_databases
    empty()
    rows = [(fleet, "psql loop", bench.psql_loop(targets))]
    if "process" in wanted:
        empty()
        rows.append((fleet, "schema_manager, in process", bench.rollout(fleet, 0)))
        if "noop" in wanted:
            rows.append((fleet, "schema_manager, no-op", bench.noop(fleet)))
    if "rq" in wanted:
        empty()
        rows.append((fleet, f"schema_manager, {workers} RQ workers", bench.rollout(fleet, workers)))
    if "tenants" in wanted and fleet == "schemas":
        empty()
        rows.append((fleet, f"django-tenants, {workers} processes", bench.django_tenants()))
    return rows


if __name__ == "__main__":
    main()
