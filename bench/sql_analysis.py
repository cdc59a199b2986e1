"""Benchmark: splitting and analysing large migration scripts, beside sqlparse and pglast.

    python bench/sql_analysis.py                 # 1 MB and 10 MB
    python bench/sql_analysis.py --sizes 1 --repeat 3

For each size one script is generated, then timed in the same process: ``sqlparse.split``
(the baseline), our ``parse_statements`` (split), ``check_sql`` + ``generate_rollback``
(analysis), and pglast's ``split`` (parser and scanner modes) when pglast is installed.
Ratios are against ``sqlparse.split`` on the same input. A second table shows what each
splitter does with the hard cases (dollar quotes, nested comments, BEGIN ATOMIC...).
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlparse

from schema_manager.sql import check_sql, generate_rollback, parse_statements
from schema_manager.sql.statements import SqlInputError

try:
    from pglast import parser as pglast_parser
except ImportError:  # pglast is optional
    pglast_parser = None

UNIT = """\
-- migration part {n}
CREATE TABLE "orders_{n}" (
    id BIGSERIAL PRIMARY KEY,
    note TEXT NOT NULL DEFAULT 'it''s; fine',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_{n}_created ON "orders_{n}" (created_at); /* block; comment */
ALTER TABLE "orders_{n}" ADD COLUMN email VARCHAR(255), ADD COLUMN total NUMERIC(10, 2);
CREATE FUNCTION touch_{n}() RETURNS trigger AS $fn$
BEGIN NEW.created_at = now(); RETURN NEW; END $fn$ LANGUAGE plpgsql;
INSERT INTO "orders_{n}" (note) VALUES ('a;b'), ('c -- d'), ($$e;f$$);
UPDATE "orders_{n}" SET note = 'x' WHERE id = {n};
"""


def script(megabytes: float) -> str:
    target = int(megabytes * 1_000_000)
    parts, size, n = [], 0, 0
    while size < target:
        part = UNIT.format(n=n)
        parts.append(part)
        size += len(part)
        n += 1
    return "".join(parts)


def timed(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def benchmark(megabytes: float, repeat: int) -> None:
    sql = script(megabytes)
    print(f"\n## {megabytes:g} MB script ({len(sql):,} characters)\n")
    rows: list[tuple[str, Callable[[], object]]] = [
        ("sqlparse.split (baseline)", lambda: sqlparse.split(sql)),
        ("schema_manager parse_statements", lambda: parse_statements(sql)),
        (
            "schema_manager parse_statements(postgresql)",
            lambda: parse_statements(sql, "postgresql"),
        ),
        ("schema_manager check_sql (split + rules)", lambda: check_sql(sql, "postgresql")),
        ("schema_manager generate_rollback", lambda: generate_rollback(sql, "postgresql")),
    ]
    if pglast_parser is not None:
        rows.append(("pglast split (parser)", lambda: pglast_parser.split(sql)))
        rows.append(
            ("pglast split (scanner only)", lambda: pglast_parser.split(sql, with_parser=False))
        )
    baseline = None
    print("| step | seconds | ratio to sqlparse.split | statements / findings |")
    print("|---|---:|---:|---:|")
    for label, function in rows:
        seconds, result = timed(function, repeat)
        baseline = baseline or seconds
        count = _count(result)
        print(f"| {label} | {seconds:.3f} | {seconds / baseline:.3f} | {count} |")


def _count(result: object) -> str:
    if isinstance(result, (list, tuple)):
        return f"{len(result):,}"
    lines = getattr(result, "lines", None)
    return f"{len(lines):,} lines" if lines is not None else "-"


HARD_CASES = {
    "dollar-quoted body": "CREATE FUNCTION f() RETURNS int AS $b$ SELECT 1; $b$ LANGUAGE sql;"
    " SELECT 2;",
    "nested comment": "/* a /* b; */ c; */ SELECT 1; SELECT 2;",  # 2 in PostgreSQL
    "BEGIN ATOMIC": "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;"
    " SELECT 2; END; SELECT 3;",
    "SQLite trigger": "CREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE x SET a = 1; END; SELECT 2;",
    # PostgreSQL/SQLite strings end at the quote: 3 statements (sqlparse cuts inside 'x;y').
    "backslash in string": r"SELECT 'C:\'; SELECT 'x;y'; SELECT 3;",
    "syntax error": "SELECT 1;\nSELEC 2 FROM;",
    "NUL byte": "SELECT 1; \x00 SELECT 2;",
    "10,000 nested parentheses": "SELECT " + "(" * 10_000 + "1" + ")" * 10_000 + ";",
}


def _describe(function: Callable[[str], object], sql: str) -> str:
    try:
        result = function(sql)
    except Exception as exc:  # the point is to show what each splitter raises
        return f"{type(exc).__name__}: {str(exc)[:70]}"
    texts = [getattr(item, "text", item).strip().rstrip(";") for item in result]  # type: ignore[attr-defined]
    # Statement lengths show where each splitter cut, not only how often.
    return f"{len(texts)}: " + "+".join(str(len(text)) for text in texts)[:40]


def hard_cases() -> None:
    print("\n## Hard cases: statements found, with their lengths (or the error raised)\n")
    splitters: dict[str, Callable[[str], object]] = {
        "sqlparse.split": lambda s: [x for x in sqlparse.split(s) if x.strip()],
        "parse_statements": parse_statements,
    }
    if pglast_parser is not None:
        splitters["pglast (parser)"] = pglast_parser.split
        splitters["pglast (scanner)"] = lambda s: pglast_parser.split(s, with_parser=False)
    print("| case | " + " | ".join(splitters) + " |")
    print("|---|" + "---|" * len(splitters))
    for case, sql in HARD_CASES.items():
        cells = [_describe(function, sql) for function in splitters.values()]
        print(f"| {case} | " + " | ".join(cells) + " |")


def big_input() -> None:
    sql = script(50)
    start = time.perf_counter()
    try:
        parse_statements(sql)
        outcome = "parsed"
    except SqlInputError as exc:
        outcome = f"SqlInputError: {exc}"
    print(f"\n50 MB script: {outcome} ({time.perf_counter() - start:.3f} s)")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--sizes", type=float, nargs="+", default=[1, 10], help="MB")
    arguments.add_argument("--repeat", type=int, default=1, help="best of N runs")
    options = arguments.parse_args()
    pglast_version = getattr(sys.modules.get("pglast"), "__version__", "not installed")
    print(
        f"Python {platform.python_version()}, sqlparse {sqlparse.__version__}, "
        f"pglast {pglast_version}, {platform.machine()}"
    )
    for megabytes in options.sizes:
        benchmark(megabytes, options.repeat)
    hard_cases()
    big_input()


if __name__ == "__main__":
    main()
