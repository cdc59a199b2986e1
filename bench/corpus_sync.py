"""Compare the Prisma schema sync with the real ``prisma db pull`` on Prisma migration histories.

For each migrations directory (``<id>/migration.sql`` folders, as Prisma writes them): a fresh
PostgreSQL database is created, every migration applied (with the real ``prisma migrate
deploy``, or with psql), then this project's sync and the real ``prisma db pull --print`` both
describe the database over the same header (a generator with the ``views`` preview feature and
a datasource). The two files are compared block by block (``model``, ``enum``, ``view``), and
the real ``prisma validate`` reads ours. The real CLI runs through the oracle script
(``prisma-oracle.sh``, offline after its first run; see bench/README.md).

Usage::

    python bench/corpus_sync.py DIR [DIR ...] [--server URL] [--apply prisma|psql]
        [--oracle PATH] [--diffs N] [--json] [--keep]

Exit status 0 when every block is identical and ``prisma validate`` accepts every file.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
DEFAULT_ORACLE = Path(os.environ.get("PRISMA_ORACLE", "/work/shared/tools/prisma-oracle.sh"))
HEADER = (
    'generator client {\n  provider        = "prisma-client-js"\n'
    '  previewFeatures = ["views"]\n}\n\n'
    'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n'
)
KINDS = ("model", "enum", "view", "type")


@dataclass
class CorpusResult:
    name: str
    migrations: int
    identical: int = 0
    different: list[str] = field(default_factory=list)  # "model Foo"
    only_ours: list[str] = field(default_factory=list)
    only_prisma: list[str] = field(default_factory=list)
    same_order: bool = True
    valid: bool = False
    validate_output: str = ""
    diffs: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    error: str = ""  # the apply or Prisma's pull failed: nothing was compared
    note: str = ""  # what was changed so that Prisma's engine could read the database
    # Re-introspection: both tools again, over Prisma's own file as the existing schema.
    repull_different: list[str] = field(default_factory=list)
    # --steps: the file kept up to date step by step, by each tool over its own previous file.
    steps_different: list[str] = field(default_factory=list)

    @property
    def blocks(self) -> int:
        return self.identical + len(self.different) + len(self.only_ours) + len(self.only_prisma)

    @property
    def ok(self) -> bool:
        # Re-introspection and step-by-step differences are reported, not counted: see README.
        return not self.error and self.identical == self.blocks and self.valid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="Prisma migrations directories")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--apply", choices=("prisma", "psql"), default="prisma")
    parser.add_argument("--oracle", type=Path, default=DEFAULT_ORACLE)
    parser.add_argument("--diffs", type=int, default=20, help="diffs to print per corpus")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument(
        "--steps",
        type=int,
        default=1,
        help="with --apply psql: apply in N steps, each tool updating its own file after each",
    )
    args = parser.parse_args(argv)
    results = [
        compare(
            path, args.server, args.oracle, apply_with=args.apply, keep=args.keep, steps=args.steps
        )
        for path in args.dirs
    ]
    if args.json:
        print(json.dumps([_as_json(result) for result in results], indent=2))
    else:
        for result in results:
            _report(result, args.diffs)
    return 0 if all(result.ok for result in results) else 1


def compare(
    migrations: Path,
    server: str,
    oracle: Path,
    *,
    apply_with: str = "prisma",
    keep: bool = False,
    steps: int = 1,
) -> CorpusResult:
    """Apply ``migrations`` to a fresh database and compare our sync with ``db pull`` there."""
    from schema_manager.sql.migration_order import migration_order_key  # Prisma's order

    folders = [p for p in migrations.iterdir() if (p / "migration.sql").is_file()]
    folders.sort(key=lambda path: migration_order_key(path.name))
    result = CorpusResult(corpus_name(migrations), len(folders))
    database = f"sm_sync_{os.getpid()}_{_slug(result.name)}"
    url = _with_database(server, database)
    _psql(server, f'DROP DATABASE IF EXISTS "{database}"')
    _psql(server, f'CREATE DATABASE "{database}"')
    try:
        if steps > 1 and apply_with == "psql":
            _evolve(result, folders, url, oracle, steps)
            folders = []
        _compare_in(result, migrations, folders, url, oracle, apply_with)
    except CommandFailed as failure:
        result.error = str(failure)
    finally:
        if not keep:
            _psql(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            _psql(server, f'DROP DATABASE IF EXISTS "{database}_readable" WITH (FORCE)')
    return result


def _compare_in(
    result: CorpusResult,
    migrations: Path,
    folders: list[Path],
    url: str,
    oracle: Path,
    apply_with: str,
) -> None:
    name = result.name
    started = time.perf_counter()
    if apply_with == "prisma":
        _run([str(oracle), "deploy", url, str(migrations)], f"prisma migrate deploy {name}")
    else:
        _psql_apply(url, folders)
    result.seconds["apply"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="corpus-sync-") as tmp:
        header = Path(tmp) / "schema.prisma"
        header.write_text(HEADER, encoding="utf-8")
        started = time.perf_counter()
        theirs, url = _pull(result, oracle, url, header)
        result.seconds["prisma pull"] = time.perf_counter() - started
        started = time.perf_counter()
        ours = our_sync(url, HEADER)
        result.seconds["ours"] = time.perf_counter() - started
        _compare_blocks(result, ours, theirs)
        # Over an existing file (Prisma's), both keep its names, order and comments.
        previous = Path(tmp) / "previous.prisma"
        previous.write_text(theirs, encoding="utf-8")
        try:
            again = _run([str(oracle), "pull", url, str(previous)], f"prisma db pull {name} again")
        except CommandFailed as failure:  # Prisma refuses a file it wrote but finds invalid
            again = ""
            result.note = f"{result.note}; re-introspection not compared: {failure}".lstrip("; ")
        mine_again, _ = split_blocks(our_sync(url, theirs)) if again else ({}, [])
        prisma_again, _ = split_blocks(again)
        for key in sorted(set(mine_again) | set(prisma_again)):
            if mine_again.get(key) != prisma_again.get(key):
                result.repull_different.append(key)
                result.diffs[f"again: {key}"] = _diff(
                    prisma_again.get(key, ""), mine_again.get(key, ""), f"again: {key}"
                )
        mine = Path(tmp) / "ours.prisma"
        mine.write_text(ours, encoding="utf-8")
        done = subprocess.run(
            [str(oracle), "validate", url, str(mine)], capture_output=True, text=True
        )
        result.valid = done.returncode == 0
        result.validate_output = (done.stdout + done.stderr).strip()


def _psql_apply(url: str, folders: list[Path]) -> None:
    for folder in folders:
        script = str(folder / "migration.sql")
        _run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-f", script], f"psql {folder}")


def _evolve(result: CorpusResult, folders: list[Path], url: str, oracle: Path, steps: int) -> None:
    """Apply in ``steps`` chunks; after each, Prisma pulls over its previous file and the sync
    writes over its own, as in development (names, order, comments carried along)."""
    size = -(-len(folders) // steps)
    mine = theirs = HEADER
    with tempfile.TemporaryDirectory(prefix="corpus-steps-") as tmp:
        previous = Path(tmp) / "schema.prisma"
        for step, start in enumerate(range(0, len(folders), size), 1):
            _psql_apply(url, folders[start : start + size])
            previous.write_text(theirs, encoding="utf-8")
            theirs, read_url = _pull(result, oracle, url, previous)
            mine = our_sync(read_url, mine)
            ours_blocks, _ = split_blocks(mine)
            prisma_blocks, _ = split_blocks(theirs)
            for key in sorted(set(ours_blocks) | set(prisma_blocks)):
                if ours_blocks.get(key) != prisma_blocks.get(key):
                    label = (
                        f"step {step} ({folders[min(start + size, len(folders)) - 1].name}): {key}"
                    )
                    result.steps_different.append(label)
                    result.diffs[label] = _diff(
                        prisma_blocks.get(key, ""), ours_blocks.get(key, ""), label
                    )


def _pull(result: CorpusResult, oracle: Path, url: str, schema: Path) -> tuple[str, str]:
    """Prisma's pull, and the URL of the database it read (for the sync to read the same).

    Prisma's JavaScript engine panics on check and exclusion constraints (it reads
    ``pg_constraint.contype`` as text where it wants a character): then both read a copy of
    the database without them, and the result says so.
    """
    pull = [str(oracle), "pull", url, str(schema)]
    try:
        return _run(pull, f"prisma db pull {result.name}"), url
    except CommandFailed:
        parts = urlsplit(url)
        copy = f"{parts.path.lstrip('/')}_readable"
        server = _with_database(url, "postgres")
        _psql(server, f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        _psql(server, f'CREATE DATABASE "{copy}" TEMPLATE "{parts.path.lstrip("/")}"')
        copy_url = _with_database(url, copy)
        dropped = _drop_unreadable_constraints(copy_url)
        if not dropped:
            raise
        result.note = f"compared without {dropped} check/exclusion constraints"
        pull[2] = copy_url
        return _run(pull, f"prisma db pull {result.name}"), copy_url


def _drop_unreadable_constraints(url: str) -> int:
    """Drop the check and exclusion constraints of a copy; how many there were."""
    sql = (
        "SELECT format('ALTER TABLE %I.%I DROP CONSTRAINT %I', n.nspname, c.relname, k.conname) "
        "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE k.contype IN ('c', 'x') AND n.nspname = current_schema()"
    )
    statements = _run(["psql", "-X", "-qAt", url, "-c", sql], "list constraints").splitlines()
    for statement in statements:
        _run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", statement], statement)
    return len(statements)


def corpus_name(migrations: Path) -> str:
    """``documenso`` for ``.../documenso/migrations`` or ``.../documenso/prisma/migrations``."""
    parts = [p for p in migrations.resolve().parts if p not in ("migrations", "prisma", "package")]
    return parts[-1] if parts else "migrations"


class CommandFailed(Exception):
    pass


def our_sync(url: str, existing: str) -> str:
    """The file this project's sync writes over ``existing`` for the database at ``url``."""
    import django
    from django.conf import settings

    parts = urlsplit(url)
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }
    if not settings.configured:
        settings.configure(
            DATABASES={"default": database},
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "schema_manager"],
            USE_TZ=True,
        )
        django.setup()
    from django.db import connections

    from schema_manager.prisma_schema import introspect, write_schema

    connection = connections["default"]
    connection.close()
    connection.settings_dict.update(database)
    try:
        return write_schema(introspect("default"), existing)
    finally:
        connection.close()


def split_blocks(text: str) -> tuple[dict[str, str], list[str]]:
    """The generated blocks of a schema file by ``"<kind> <name>"``, and their order."""
    from schema_manager.prisma_schema.blocks import parse

    blocks: dict[str, str] = {}
    for item in parse(text):
        if item.kind in KINDS:
            header = next(
                line for line in item.text.split("\n") if line.split(" ", 1)[0] == item.kind
            )
            blocks[" ".join(header.split()[:2])] = item.text
    return blocks, list(blocks)


def _compare_blocks(result: CorpusResult, ours: str, theirs: str) -> None:
    mine, my_order = split_blocks(ours)
    prisma, prisma_order = split_blocks(theirs)
    for key in prisma_order:
        if key not in mine:
            result.only_prisma.append(key)
        elif mine[key] == prisma[key]:
            result.identical += 1
        else:
            result.different.append(key)
            result.diffs[key] = _diff(prisma[key], mine[key], key)
    result.only_ours = [key for key in my_order if key not in prisma]
    common = [key for key in my_order if key in prisma]
    result.same_order = common == [key for key in prisma_order if key in mine]


def _diff(prisma: str, ours: str, key: str) -> str:
    return "".join(
        difflib.unified_diff(
            prisma.splitlines(keepends=True),
            ours.splitlines(keepends=True),
            fromfile=f"prisma db pull: {key}",
            tofile=f"ours: {key}",
            n=1,
        )
    )


def _report(result: CorpusResult, diffs: int) -> None:
    print(f"== {result.name}: {result.migrations} migrations")
    if result.error:
        print(f"not compared: {result.error}\n")
        return
    print(
        f"blocks identical: {result.identical} of {result.blocks}; different: "
        f"{len(result.different)}; only in prisma's: {len(result.only_prisma)}; "
        f"only in ours: {len(result.only_ours)}; same block order: {result.same_order}"
    )
    print(
        "over Prisma's file again (re-introspection): "
        + (
            f"{len(result.repull_different)} blocks differ"
            if result.repull_different
            else "identical"
        )
    )
    if result.note:
        print(f"note: {result.note}")
    print(f"prisma validate (our file): {'ok' if result.valid else 'FAILED'}")
    if not result.valid:
        print(result.validate_output)
    for key in result.only_prisma:
        print(f"  missing in ours: {key}")
    for key in result.only_ours:
        print(f"  not in prisma's: {key}")
    if result.steps_different:
        print(f"step by step: {len(result.steps_different)} blocks differ")
    shown = result.different + [f"again: {key}" for key in result.repull_different]
    shown += result.steps_different
    for key in shown[:diffs]:
        print(result.diffs[key], end="" if result.diffs[key].endswith("\n") else "\n")
    times = ", ".join(f"{what} {seconds:.1f} s" for what, seconds in result.seconds.items())
    print(f"time: {times}\n")


def _as_json(result: CorpusResult) -> dict:
    data = asdict(result)
    data.update(blocks=result.blocks, ok=result.ok)
    return data


def _run(command: list[str], what: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        output = (done.stdout + done.stderr).strip()
        raise CommandFailed(f"{what} failed ({done.returncode}):\n{output[:2000]}")
    return done.stdout


def _psql(server: str, sql: str) -> None:
    _run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            _with_database(server, "postgres"),
            "-c",
            sql,
        ],
        sql,
    )


def _with_database(server: str, database: str) -> str:
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower())[:30]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
