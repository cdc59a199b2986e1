"""The deploy benchmark: every tool as a deploy runs it, against one psql session.

What a deploy pays, timed alike for every tool: the target database is created (``createdb``),
migrated by the tool, and dropped (``dropdb``), three processes timed as one; the app's own
database (schema_manager's catalogue and history) exists before the timing, migrated, as in
a real deploy. Each repetition runs every tool back to back (the order rotates between
repetitions) and each ratio is the median of the repetitions' own ratios to the psql
session of the same repetition.

Rows, for N generated migrations (``bench/generate.py``):

- one psql session: ``psql -f`` of every script in ``BEGIN; … COMMIT;``
- dbmate: ``dbmate up`` (the release binary from npm's ``dbmate`` package)
- Django ``migrate`` of an app whose migrations are ``RunSQL(up, down)``
- schema_manager, first apply: an empty catalogue, so the command imports the folders,
  analyses every script and applies it (``apply_schema_migration --all``)
- schema_manager, analysed: the catalogue and analyses stored by the first apply, applied to a
  fresh target of another environment (the next environment's deploy)
- roll back all (not a deploy: the target is migrated before the timing and dropped after it):
  psql running the down scripts, ``bench/rollback_all.py``, Django ``migrate benchapp zero``
- no-op deploy: the same deploy again with nothing pending, against Django's ``migrate`` with
  nothing to do

With ``--corpus DIR`` (e.g. ``../shared/corpora/documenso``), the same deploy rows for a real
Prisma history: its folders are copied into a temporary directory, never into the repository.
With ``--indexes N``, the same for a history of N migrations that each build an index with
``CREATE INDEX CONCURRENTLY`` (as teams add them by hand to Prisma's migrations: every tool
runs them outside a transaction, statement by statement).

Usage: python bench/deploy.py [--n 1000] [--repeat 3] [--corpus DIR ...] [--indexes N ...]
[--server URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.corpus import migration_folders  # noqa: E402
from bench.generate import DJANGO_MIGRATION, generate  # noqa: E402
from bench.run import PYTHON, compile_sources, machine  # noqa: E402

# (wall seconds of the whole deploy, CPU seconds of the tool, wall seconds of the tool alone)
Sample = tuple[float, float, float]
MANAGE = [PYTHON, "manage.py"]


def dbmate_binary() -> str | None:
    """The release binary that npm's ``dbmate`` package ships (not its Node wrapper, whose
    start-up would be counted against dbmate), from BENCH_DBMATE or bench/README.md's install."""
    cached = Path.home() / ".cache/schema_manager/dbmate-2.36.0/node_modules/@dbmate"
    candidates = [os.environ.get("BENCH_DBMATE"), str(cached / "linux-x64/bin/dbmate")]
    candidates.append(shutil.which("dbmate"))
    return next((c for c in candidates if c and Path(c).is_file()), None)


class Server:
    """The PostgreSQL server: databases named sm_deploy_<pid>_<label>."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.host, self.port, self.user = _parts(url)
        self.created: set[str] = set()

    def name(self, label: str) -> str:
        return f"sm_deploy_{os.getpid()}_{label}"

    def database_url(self, label: str) -> str:
        return f"{self.url}/{self.name(label)}"

    def client(self, program: str, *args: str) -> list[str]:
        return [program, "-h", self.host, "-p", self.port, "-U", self.user, *args]

    def createdb(self, label: str) -> list[str]:
        self.created.add(label)
        return self.client("createdb", self.name(label))

    def dropdb(self, label: str) -> list[str]:
        return self.client("dropdb", "--if-exists", self.name(label))

    def run(self, command: list[str], env: dict[str, str] | None = None) -> None:
        quiet = {**(env or os.environ), "PGOPTIONS": "-c client_min_messages=warning"}
        subprocess.run(command, env=quiet, cwd=REPO, check=True, stdout=subprocess.DEVNULL)

    def sql(self, statement: str) -> None:
        self.run(self.client("psql", "-qAtX", "-d", "postgres", "-c", statement))

    def drop_all(self) -> None:
        for label in sorted(self.created):
            self.sql(f"DROP DATABASE IF EXISTS {self.name(label)} WITH (FORCE)")
        self.created.clear()


def _parts(url: str) -> tuple[str, str, str]:
    rest = url.split("://", 1)[1]
    user, _, address = rest.rpartition("@")
    host, _, port = address.partition(":")
    return host, port or "5432", user or "postgres"


def run_timed(commands: list[tuple[list[str], dict[str, str]]], tool: int) -> Sample:
    """Wall time of the commands run one after the other (each must succeed), the CPU time
    (user + system, from ``wait4``) of the one at index ``tool`` and its own wall time."""
    cpu = alone = 0.0
    start = time.perf_counter()
    for index, (command, env) in enumerate(commands):
        began = time.perf_counter()
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(
                command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr
            )
            _, status, usage = os.wait4(process.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                stderr.seek(0)
                message = stderr.read().decode()[-3000:]
                raise SystemExit(f"{' '.join(command)} failed:\n{message}")
        if index == tool:
            cpu, alone = usage.ru_utime + usage.ru_stime, time.perf_counter() - began
    return time.perf_counter() - start, cpu, alone


class Project:
    """One history written for every tool: prisma folders, psql scripts, dbmate, Django."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.prisma_schema = directory / "prisma" / "schema.prisma"

    @property
    def up(self) -> Path:
        return self.directory / "psql_up.sql"

    @property
    def down(self) -> Path:
        return self.directory / "psql_down.sql"


def runs_as_written(sql: str) -> bool:
    """Whether a script cannot be wrapped in one transaction: it controls its own, or a
    statement of it refuses one (as this project decides it for PostgreSQL)."""
    from schema_manager.sql.statements import parse_statements
    from schema_manager.sql.transactional import Engine, atomicity, controls_transactions

    statements = parse_statements(sql, "postgresql")
    engine = Engine("postgresql", can_rollback_ddl=True)
    return controls_transactions(statements) or atomicity(sql, engine, statements).stepwise


def corpus_project(corpus: Path, directory: Path) -> Project:
    """A real Prisma history (``corpus/migrations/<id>/migration.sql``) written for each tool in
    ``directory`` (a temporary one: the corpus's SQL never enters the repository)."""
    migrations = directory / "prisma" / "migrations"
    migrations.mkdir(parents=True)
    (directory / "prisma" / "schema.prisma").write_text(
        'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n'
    )
    app = directory / "benchapp" / "migrations"
    app.mkdir(parents=True)
    (app.parent / "__init__.py").write_text("")
    (app / "__init__.py").write_text("")
    dbmate = directory / "dbmate"
    dbmate.mkdir()
    folders = migration_folders(corpus)  # in Prisma's order, as every tool applies them
    previous = None
    with open(directory / "psql_up.sql", "w") as psql_up:
        psql_up.write("\\set ON_ERROR_STOP on\n")
        for position, folder in enumerate(folders, start=1):
            shutil.copytree(folder, migrations / folder.name)
            sql = (folder / "migration.sql").read_text()
            # A script with its own BEGIN/COMMIT, or a statement PostgreSQL refuses in a
            # transaction (CREATE INDEX CONCURRENTLY), runs as written for every tool.
            as_written = runs_as_written(sql)
            psql_up.write(f"{sql}\n;\n" if as_written else f"BEGIN;\n{sql}\n;COMMIT;\n")
            options = " transaction:false" if as_written else ""
            (dbmate / f"{position:05d}_step.sql").write_text(
                f"-- migrate:up{options}\n{sql}\n-- migrate:down\n"
            )
            name = f"{position:04d}_step"
            migration = DJANGO_MIGRATION.format(
                dependencies=[("benchapp", previous)] if previous else [], up=sql, down=""
            )
            if as_written:
                migration = migration.replace(
                    "    dependencies", "    atomic = False\n    dependencies"
                )
            (app / f"{name}.py").write_text(migration)
            previous = name
    return Project(directory)


class Deploys:
    """Every measure of one history, for ``repeat`` repetitions."""

    def __init__(self, server: Server, project: Project, rollbacks: bool) -> None:
        self.server = server
        self.project = project
        self.rollbacks = rollbacks
        self.samples: dict[str, list[Sample]] = defaultdict(list)
        self.loads: list[float] = []
        self.dbmate = dbmate_binary()
        base = {**os.environ, "PYTHONPATH": str(REPO), "SCHEMA_MANAGER_LOG_LEVEL": "ERROR"}
        base["PGOPTIONS"] = "-c client_min_messages=warning"  # the tools' notices unprinted
        self.base = base
        self.ours = {
            **base,
            "DJANGO_SETTINGS_MODULE": "bench.deploy_settings",
            "BENCH_PRISMA_SCHEMA_PATH": str(project.prisma_schema),
            "DATABASE_URL": server.database_url("app"),
            "FIRST_DATABASE_URL": server.database_url("first"),
            "ANALYSED_DATABASE_URL": server.database_url("analysed"),
        }
        self.django = {
            **base,
            "PYTHONPATH": f"{project.directory}{os.pathsep}{REPO}",
            "DJANGO_SETTINGS_MODULE": "bench.django_settings",
            "BENCH_DATABASE_URL": server.database_url("django"),
        }
        # The same, in the project of ours (its apps, middleware and checks): no-op only.
        self.django_project = {
            **self.django,
            "DJANGO_SETTINGS_MODULE": "bench.django_project_settings",
            "BENCH_DATABASE_URL": server.database_url("django_project"),
            "BENCH_PRISMA_SCHEMA_PATH": str(project.prisma_schema),
        }

    # -- one deploy: createdb, the tool, dropdb -------------------------------------------

    def deploy(self, key: str, label: str, command: list[str], env: dict[str, str]) -> None:
        self.server.sql("CHECKPOINT")  # each deploy starts on a settled server
        plain = self.base
        steps = [(self.server.createdb(label), plain), (command, env)]
        steps.append((self.server.dropdb(label), plain))
        self.samples[key].append(run_timed(steps, tool=1))

    def psql_up(self, label: str) -> list[str]:
        url = self.server.database_url(label)
        return ["psql", "-qX", "-d", url, "-f", str(self.project.up)]

    def deploys(self) -> list[tuple[str, Callable[[], None]]]:
        """The timed deploys of one repetition, in this repetition's order."""
        apply = [*MANAGE, "apply_schema_migration", "--all", "--noinput"]
        steps: list[tuple[str, Callable[[], None]]] = [
            ("psql", lambda: self.deploy("psql", "psql", self.psql_up("psql"), self.base)),
            (
                "django migrate",
                lambda: self.deploy(
                    "django migrate", "django", [*MANAGE, "migrate", "-v0"], self.django
                ),
            ),
        ]
        if self.dbmate:
            url = f"{self.server.database_url('dbmate')}?sslmode=disable"
            migrations = str(self.project.directory / "dbmate")
            dbmate = [self.dbmate, "--url", url, "--migrations-dir", migrations]
            dbmate += ["--no-dump-schema", "up"]
            steps.append(("dbmate", lambda: self.deploy("dbmate", "dbmate", dbmate, self.base)))
        # The analysed deploy needs the catalogue that the first apply fills: one step.
        steps.append(
            (
                "schema_manager",
                lambda: (
                    self.deploy("sm first", "first", [*apply, "-e", "first"], self.ours),
                    self.deploy("sm analysed", "analysed", [*apply, "-e", "analysed"], self.ours),
                ),
            )
        )
        return steps

    # -- one repetition --------------------------------------------------------------------

    def repetition(self, index: int) -> None:
        server = self.server
        self.loads.append(os.getloadavg()[0])
        labels = ("app", "first", "analysed", "psql", "django", "django_project", "dbmate")
        for label in (*labels, "scratch"):
            server.run(server.dropdb(label))
        # The app database exists before any timing, migrated, with an empty catalogue.
        server.run(server.createdb("app"))
        server.run([*MANAGE, "migrate", "-v0"], self.ours)
        # Not timed: the first heavy writer after databases were created pays more than the
        # next on this kind of machine, whichever tool it is (bench/README.md).
        server.run(server.createdb("scratch"))
        server.run(self.psql_up("scratch"))
        server.run(server.dropdb("scratch"))
        steps = self.deploys()
        shift = index % len(steps)
        for _, step in steps[shift:] + steps[:shift]:
            step()
        self.no_ops_and_rollbacks()

    def no_ops_and_rollbacks(self) -> None:
        """The no-op deploys, then roll back all (each target migrated before the timing)."""
        server = self.server
        apply = [*MANAGE, "apply_schema_migration", "--all", "--noinput", "-e", "analysed"]
        server.run(server.createdb("analysed"))
        server.run(apply, self.ours)
        server.run(server.createdb("django"))
        server.run([*MANAGE, "migrate", "-v0"], self.django)
        server.sql("CHECKPOINT")
        self.samples["sm no-op"].append(run_timed([(apply, self.ours)], tool=0))
        server.sql("CHECKPOINT")
        noop = [*MANAGE, "migrate", "-v0"]
        self.samples["django no-op"].append(run_timed([(noop, self.django)], tool=0))
        server.run(server.createdb("django_project"))
        server.run(noop, self.django_project)
        server.sql("CHECKPOINT")
        project_noop = run_timed([(noop, self.django_project)], tool=0)
        self.samples["django project no-op"].append(project_noop)
        if self.rollbacks:
            server.run(server.createdb("psql"))
            server.run(self.psql_up("psql"))
            down = ["psql", "-qX", "-d", server.database_url("psql"), "-f", str(self.project.down)]
            steps = [
                ("psql down", down, self.base),
                ("sm rollback", [PYTHON, "bench/rollback_all.py", "analysed"], self.ours),
                ("django zero", [*MANAGE, "migrate", "benchapp", "zero", "-v0"], self.django),
            ]
            for key, command, env in steps:
                server.sql("CHECKPOINT")
                self.samples[key].append(run_timed([(command, env)], tool=0))
        for label in ("analysed", "django", "django_project", "psql"):
            server.run(server.dropdb(label))

    # -- the tables ------------------------------------------------------------------------

    def ratio(self, key: str, baseline: str, index: int = 0) -> float:
        pairs = zip(self.samples[key], self.samples[baseline], strict=True)
        return statistics.median(ours[index] / base[index] for ours, base in pairs)

    def cell(self, key: str, baseline: str) -> str:
        if not self.samples.get(key):
            return "not installed | | |"
        wall, cpu, alone = (statistics.median(s[i] for s in self.samples[key]) for i in range(3))
        spread = ", ".join(f"{s[0]:.2f}" for s in self.samples[key])
        return (
            f"{wall:.2f} ({cpu:.2f}; runs {spread}) | {self.ratio(key, baseline):.2f}x "
            f"| {alone:.2f} ({self.ratio(key, baseline, 2):.2f}x)"
        )

    def table(self, title: str) -> str:
        loads = ", ".join(f"{load:.1f}" for load in self.loads)
        lines = [
            f"\n### {title} ({len(self.samples['psql'])} repetitions; load average {loads})\n",
            "| measure | tool | wall s (tool's CPU s; each run) | ratio* | the tool alone s "
            "(ratio*) |",
            "|---|---|---|---|---|",
        ]
        rows = [
            ("deploy", "one psql session (BEGIN/COMMIT each)", "psql", "psql"),
            ("deploy", "dbmate", "dbmate", "psql"),
            ("deploy", "Django migrate (RunSQL)", "django migrate", "psql"),
            ("deploy", "schema_manager, first apply", "sm first", "psql"),
            ("deploy", "schema_manager, analysed", "sm analysed", "psql"),
        ]
        if self.rollbacks:
            rows += [
                ("roll back all", "one psql session, down scripts", "psql down", "psql down"),
                ("roll back all", "Django migrate benchapp zero", "django zero", "psql down"),
                ("roll back all", "schema_manager", "sm rollback", "psql down"),
            ]
        rows += [
            ("no-op deploy", "Django migrate, nothing to do", "django no-op", "django no-op"),
            (
                "no-op deploy",
                "Django migrate, nothing to do, in the same project as ours",
                "django project no-op",
                "django no-op",
            ),
            ("no-op deploy", "schema_manager, nothing pending", "sm no-op", "django no-op"),
        ]
        for measure, tool, key, baseline in rows:
            lines.append(f"| {measure} | {tool} | {self.cell(key, baseline)} |")
        lines.append(
            "\n*Median of the repetitions' own ratios to the first row of the same measure. "
            "The last column leaves createdb and dropdb out. "
            "Deploys include createdb and dropdb of the target."
        )
        return "\n".join(lines)


def measure(server: Server, project: Project, repeat: int, title: str, rollbacks: bool) -> None:
    deploys = Deploys(server, project, rollbacks)
    try:
        for index in range(repeat):
            deploys.repetition(index)
    finally:
        server.drop_all()
    print(deploys.table(title), flush=True)


def write_index_history(directory: Path, n: int) -> Path:
    """A Prisma history of a table, then ``n`` migrations that each build an index on it
    concurrently, in ``directory``; returns it (a corpus for ``corpus_project``)."""
    migrations = directory / "migrations"
    base = migrations / "20240101000000_base"
    base.mkdir(parents=True)
    (base / "migration.sql").write_text(
        "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, kind TEXT, at TIMESTAMPTZ);\n"
        "INSERT INTO events (kind, at) SELECT 'k' || (i % 50), now() "
        "FROM generate_series(1, 1000) AS i;\n"
    )
    for i in range(1, n + 1):
        folder = migrations / f"20240102{i:06d}_index_{i}"
        folder.mkdir()
        column = ("kind", "at", "id")[i % 3]
        (folder / "migration.sql").write_text(
            f"-- CreateIndex\nCREATE INDEX CONCURRENTLY events_{column}_{i} ON events ({column});\n"
        )
    return directory


def compile_django_app(project: Project) -> None:
    """Compile the generated Django migrations once, as a deployed project ships them: where
    PYTHONDONTWRITEBYTECODE is set, each ``migrate`` would otherwise compile all N again."""
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(project.directory / "benchapp")],
                   check=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="*", default=[1000])
    parser.add_argument("--corpus", type=Path, nargs="*", default=[])
    parser.add_argument("--indexes", type=int, nargs="*", default=[])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    print(machine(args.server))
    dbmate = dbmate_binary()
    print(f"dbmate: {dbmate or 'not installed (see bench/README.md)'}")
    compile_sources()
    server = Server(args.server)
    for n in args.n:
        with tempfile.TemporaryDirectory(prefix="sm_deploy_") as directory:
            generate(Path(directory), n)
            project = Project(Path(directory))
            compile_django_app(project)
            measure(server, project, args.repeat, f"N = {n} generated migrations", True)
    for corpus in args.corpus:
        with tempfile.TemporaryDirectory(prefix="sm_deploy_") as directory:
            project = corpus_project(corpus.resolve(), Path(directory))
            compile_django_app(project)
            count = len(list((project.directory / "prisma" / "migrations").iterdir()))
            title = f"{corpus.name}: {count} real migrations"
            measure(server, project, args.repeat, title, False)
    for n in args.indexes:
        with tempfile.TemporaryDirectory(prefix="sm_deploy_") as directory:
            corpus = write_index_history(Path(directory) / "history", n)
            project = corpus_project(corpus, Path(directory) / "project")
            compile_django_app(project)
            title = f"a table, then {n} migrations of CREATE INDEX CONCURRENTLY"
            measure(server, project, args.repeat, title, False)


if __name__ == "__main__":
    main()
