"""Generated rollbacks on a real Prisma history (PostgreSQL), migration by migration.

Given directories of Prisma migrations (``<dir>/migrations/<id>/migration.sql`` or
``<dir>/<id>/migration.sql``), the runner

1. applies every migration with psql (one session, as Prisma's deploy sends each file) and,
   in one plan, with ``services.apply``; it says whether both schemas are identical;
2. for each migration *i*, from its predecessor's state (a copy made with
   ``CREATE DATABASE … TEMPLATE``): applies *i* with ``services.apply``, rolls it back with the
   rollback the tool generated (``services.rollback``) and classifies the outcome:

   - ``exact``: the schema is the predecessor's again;
   - ``refused``: the generated script has ``-- WARNING:`` lines, so the tool will not run it
     (by reason; ``refused, would be exact`` when running the script anyway restores it);
   - ``failed``: the rollback ran and the server raised an error;
   - ``column order, warned``: it ran, the schema differs only in the order of some table's
     columns (a dropped column comes back last), and the script's ``-- CAUTION:`` lines say so;
   - ``wrong, warned``: it ran and the schema differs otherwise, and the script says what
     may differ (``-- CAUTION:`` lines);
   - ``silently wrong``: it ran, said nothing, and the schema differs.

   A migration that the tool does not apply (``apply refused``) is applied with psql and
   recorded with a fake apply so that the next ones start from the right state.

The schemas compared are ``pg_dump --schema-only`` of each database without the ledger
table, as sets of statements. The rules' findings (``check_sql``) are counted per rule.

Usage::

    python bench/corpus.py ../shared/corpora/umami ../shared/corpora/documenso \
        [--server postgres://postgres@127.0.0.1:5432] [--limit N] [--json out.json] [-v]

Databases are named ``sm_corpus_<pid>_*`` and dropped at the end.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

# This checkout's schema_manager, not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CATEGORIES = (
    "exact",
    "refused",
    "refused, would be exact",
    "failed",
    "column order, warned",
    "wrong, warned",
    "silently wrong",
    "apply refused",
)


@dataclass
class Outcome:
    migration: str
    category: str
    changes_schema: bool
    reasons: list[str] = field(default_factory=list)
    cautions: list[str] = field(default_factory=list)
    difference: list[str] = field(default_factory=list)
    rules: dict[str, int] = field(default_factory=dict)


@dataclass
class CorpusReport:
    corpus: str
    migrations: int
    psql_failed: str | None
    one_plan_applied: int
    one_plan_error: str | None
    one_plan_schema_identical: bool
    outcomes: list[Outcome]
    seconds: float

    def counts(self) -> Counter:
        return Counter(outcome.category for outcome in self.outcomes)


class Server:
    """Creates, copies, dumps and drops databases on one PostgreSQL server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"sm_corpus_{os.getpid()}"
        self.created: list[str] = []
        self.admin = psycopg.connect(self.database_url("postgres"), autocommit=True)

    def database_url(self, name: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path="/" + name))

    def create(self, name: str, template: str | None = None) -> str:
        full = name if name.startswith(self.prefix) else f"{self.prefix}_{name}"
        copy = f' TEMPLATE "{template}"' if template else ""
        self.admin.execute(f'CREATE DATABASE "{full}"{copy}')
        self.created.append(full)
        return full

    def drop(self, full: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)')
        if full in self.created:
            self.created.remove(full)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop(name)
        self.admin.close()

    def psql(self, database: str, path: Path) -> str | None:
        """Run a script as Prisma's deploy would (no transaction of ours); the error or None."""
        run = subprocess.run(
            ["psql", "-qX", "-v", "ON_ERROR_STOP=1", "-d", self.database_url(database), "-f", path],
            capture_output=True,
            text=True,
        )
        return run.stderr.strip() or "psql failed" if run.returncode else None

    def schema(self, database: str) -> frozenset[str]:
        """``pg_dump --schema-only`` as a set of statements, without the ledger table."""
        dump = subprocess.run(
            [
                "pg_dump",
                "--schema-only",
                "--no-owner",
                "--no-privileges",
                self.database_url(database),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        statements = set()
        for chunk in re.split(r";\n", dump):
            lines = [
                line
                for line in chunk.splitlines()
                if line.strip() and not line.startswith(("--", "SET ", "\\"))
            ]
            text = "\n".join(lines).strip()
            if (
                text
                and "_prisma_migrations" not in text
                and not text.startswith("SELECT pg_catalog")
            ):
                statements.add(text)
        return frozenset(statements)


def difference(before: frozenset[str], after: frozenset[str]) -> list[str]:
    """The lines that differ between two dumps' statements (``-`` before, ``+`` after)."""
    gone, came = sorted(before - after), sorted(after - before)
    lines = difflib.unified_diff("\n".join(gone).splitlines(), "\n".join(came).splitlines(), n=0)
    return [line for line in lines if line[:1] in "+-" and line[:3] not in ("---", "+++")]


def column_order_only(before: frozenset[str], after: frozenset[str]) -> bool:
    """Whether the two dumps differ only in the order of tables' column lines."""

    def unordered(statements: frozenset[str]) -> Counter:
        shapes: Counter = Counter()
        for statement in statements:
            if statement.startswith("CREATE TABLE "):
                head, *columns = statement.splitlines()
                columns = sorted(line.strip().rstrip(",") for line in columns if line != ")")
                statement = "\n".join([head, *columns])
            shapes[statement] += 1
        return shapes

    return before != after and unordered(before) == unordered(after)


def migration_folders(directory: Path) -> list[Path]:
    from schema_manager.sql.migration_order import migration_order_key

    root = directory / "migrations" if (directory / "migrations").is_dir() else directory
    folders = [path for path in root.iterdir() if (path / "migration.sql").is_file()]
    return sorted(folders, key=lambda path: migration_order_key(path.name))  # as Prisma


def configure_django(server: Server, scratch: Path) -> None:
    import django
    from django.conf import settings

    parts = urlsplit(server.url)
    settings.configure(
        SECRET_KEY="corpus-runner",
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "schema_manager"],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(scratch / "app.db")},
            "corpus": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "postgres",
                "USER": parts.username or "postgres",
                "PASSWORD": parts.password or "",
                "HOST": parts.hostname or "127.0.0.1",
                "PORT": parts.port or 5432,
            },
        },
        DATABASE_ROUTERS=["schema_manager.routers.TargetDatabaseRouter"],
        SCHEMA_MANAGER={
            "ENVIRONMENTS": {"corpus": "corpus"},
            "DEFAULT_ENVIRONMENT": "corpus",
            "PRISMA_SCHEMA_PATH": str(scratch / "prisma" / "schema.prisma"),
            "PRISMA_SYNC_ENVIRONMENTS": [],
        },
        LOGGING_CONFIG=None,
    )
    django.setup()
    logging.getLogger("schema_manager").setLevel(logging.ERROR)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def point_at(database: str) -> None:
    """The ``corpus`` target is ``database`` from now on."""
    from django.db import connections

    connection = connections["corpus"]
    connection.close()
    connection.settings_dict["NAME"] = database


def release() -> None:
    from django.db import connections

    connections["corpus"].close()


def to_migration(folder: Path):
    from schema_manager import Migration

    name = folder.name.split("_", 1)[1] if "_" in folder.name else ""
    return Migration(id=folder.name, name=name, sql=(folder / "migration.sql").read_text())


def rule_counts(sql: str) -> dict[str, int]:
    from schema_manager.sql.rule_checks import check_sql

    return dict(Counter(finding.code for finding in check_sql(sql, "postgresql")))


def reason_key(warning: str) -> str:
    """A warning without its statement number and names: ``KIND: reason``."""
    match = re.match(r"cannot roll back statement \d+ \((?P<summary>.*?)\): (?P<why>.*)", warning)
    if not match:
        return warning
    kind = []
    for word in match["summary"].split():
        if not re.fullmatch(r"[A-Z]+", word):
            break
        kind.append(word)
    why = re.sub(r'"[^"]*"', "…", match["why"]).rstrip(".")
    return f"{' '.join(kind[:4]) or '?'}: {why}"


def run_corpus(server: Server, directory: Path, limit: int | None, verbose: bool) -> CorpusReport:
    from schema_manager import services

    started = time.monotonic()
    folders = migration_folders(directory)[:limit]
    tag = re.sub(r"\W", "_", directory.name.lower())

    # 1. psql, and our tool in one plan, from empty databases.
    psql_db = server.create(f"{tag}_psql")
    psql_failed = None
    for folder in folders:
        error = server.psql(psql_db, folder / "migration.sql")
        if error:
            psql_failed = f"{folder.name}: {error}"
            break
    plan_db = server.create(f"{tag}_plan")
    point_at(plan_db)
    results = services.apply([to_migration(f) for f in folders], "corpus", allow_destructive=True)
    release()
    applied = sum(1 for result in results if result.success)
    failure = next((r for r in results if not r.success), None)
    one_plan_error = (
        f"{failure.migration_id}: {failure.message} {failure.error or ''}".strip()
        if failure
        else None
    )
    identical = server.schema(plan_db) == server.schema(psql_db)
    server.drop(plan_db)
    server.drop(psql_db)

    # 2. Each migration from its predecessor's state: ``chain`` holds migrations < i; after
    # i is applied there, a copy of it is rolled back and compared with the state before.
    outcomes: list[Outcome] = []
    chain = server.create(f"{tag}_chain")
    previous_schema = server.schema(chain)
    for number, folder in enumerate(folders, start=1):
        outcome, after_schema = step(server, chain, folder, number, previous_schema)
        previous_schema = after_schema
        outcomes.append(outcome)
        if verbose:
            print(f"  {folder.name}: {outcome.category} {outcome.reasons or ''}", file=sys.stderr)
            for line in outcome.difference:
                print(f"      {line[:200]}", file=sys.stderr)
    server.drop(chain)
    return CorpusReport(
        directory.name,
        len(folders),
        psql_failed,
        applied,
        one_plan_error,
        identical,
        outcomes,
        round(time.monotonic() - started, 1),
    )


def step(
    server: Server, chain: str, folder: Path, number: int, before: frozenset[str]
) -> tuple[Outcome, frozenset[str]]:
    """Migration ``folder`` applied to ``chain`` and rolled back in a copy: its outcome, and
    the schema it leaves in ``chain``."""
    from schema_manager import services

    migration = to_migration(folder)
    point_at(chain)
    [*_, result] = services.apply([migration], "corpus", allow_destructive=True) or [None]
    release()
    if result is None or not result.success:
        error = server.psql(chain, folder / "migration.sql")
        if error:
            raise SystemExit(f"{folder.name} does not apply with psql either: {error}")
        point_at(chain)
        services.apply([to_migration(folder)], "corpus", fake=True)
        release()
    after = server.schema(chain)
    outcome = Outcome(folder.name, "", after != before, rules=rule_counts(migration.sql))
    if result is None or not result.success:
        outcome.category = "apply refused"
        outcome.reasons = [(result.message or result.error or "") if result else "no result"]
        return outcome, after
    copy = server.create(f"{chain}_{number}", template=chain)
    try:
        roll_back(server, copy, migration.id, result.rollback_script, before, outcome)
    finally:
        server.drop(copy)
    return outcome, after


def roll_back(
    server: Server, database: str, migration_id: str, script: str, before, outcome: Outcome
) -> None:
    """Roll ``migration_id`` back in ``database`` and classify the outcome."""
    from schema_manager import services
    from schema_manager.rollback_choice import script_cautions, script_warnings

    warnings = script_warnings(script)
    outcome.cautions = script_cautions(script)
    if warnings:  # validation's finding for each statement the generated rollback cannot undo
        outcome.rules["no-rollback"] = len(warnings)
    if warnings:
        outcome.reasons = sorted({reason_key(warning) for warning in warnings})
        outcome.category = "refused"
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as script_file:
            script_file.write(script)
            script_file.flush()
            ran = server.psql(database, Path(script_file.name)) is None
            if ran and server.schema(database) == before:
                outcome.category = "refused, would be exact"
        return
    point_at(database)
    [rolled] = services.rollback([migration_id], "corpus")
    release()
    if not rolled.success:
        outcome.category = "failed"
        outcome.reasons = [f"{rolled.message} {rolled.error or ''}".strip()[:300]]
        return
    after = server.schema(database)
    if after == before:
        outcome.category = "exact"
    else:
        outcome.category = "wrong, warned" if outcome.cautions else "silently wrong"
        if outcome.cautions and column_order_only(before, after):
            outcome.category = "column order, warned"
        outcome.difference = difference(before, after)


def print_report(reports: list[CorpusReport]) -> None:
    total: Counter = Counter()
    changing: Counter = Counter()
    reasons: Counter = Counter()
    rules: Counter = Counter()
    for report in reports:
        counts = report.counts()
        total.update(counts)
        changing.update(o.category for o in report.outcomes if o.changes_schema)
        for outcome in report.outcomes:
            reasons.update(f"{outcome.category} | {reason}" for reason in outcome.reasons)
            rules.update(outcome.rules)
        schema_changing = sum(1 for o in report.outcomes if o.changes_schema)
        exact = sum(1 for o in report.outcomes if o.changes_schema and o.category == "exact")
        print(
            f"{report.corpus}: {report.migrations} migrations ({report.seconds} s); "
            f"psql: {report.psql_failed or 'all applied'}; one plan: "
            f"{report.one_plan_applied} applied"
            f"{'' if not report.one_plan_error else ', stopped at ' + report.one_plan_error[:200]}"
            f"; schema {'identical to' if report.one_plan_schema_identical else 'DIFFERS from'} "
            "psql's"
        )
        print(
            "  "
            + ", ".join(f"{c}: {counts[c]}" for c in CATEGORIES if counts[c])
            + f"; schema-changing exact: {exact}/{schema_changing}"
        )
    print("all corpora:")
    for category in CATEGORIES:
        print(f"  {category:26} {total[category]:4}  (schema-changing: {changing[category]})")
    schema_changing = sum(changing.values())
    if schema_changing:
        share = 100 * changing["exact"] / schema_changing
        print(
            f"  exact among schema-changing: {changing['exact']}/{schema_changing} ({share:.1f}%)"
        )
    print("reasons (migrations):")
    for reason, count in reasons.most_common():
        print(f"  {count:4}  {reason[:160]}")
    print("rules' findings:")
    for rule, count in rules.most_common():
        print(f"  {count:4}  {rule}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--limit", type=int, help="the first N migrations of each corpus only")
    parser.add_argument("--json", type=Path, help="write every outcome to this file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    server = Server(args.server)
    reports = []
    with tempfile.TemporaryDirectory() as scratch:
        try:
            configure_django(server, Path(scratch))
            for directory in args.corpora:
                reports.append(run_corpus(server, directory, args.limit, args.verbose))
        finally:
            server.drop_all()
    print_report(reports)
    if args.json:
        args.json.write_text(json.dumps([asdict(report) for report in reports], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
