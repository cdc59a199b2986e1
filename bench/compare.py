"""Compare two checkouts of schema_manager on the same deploy, run for run.

For a change that must cost no speed (a refactoring), ``run.py``'s ratios to psql are too
coarse: each side is measured in its own run, minutes apart, and a busy spell of the machine
moves one side only. Here the two checkouts take turns within each pair (which goes first
alternates), on fresh databases, with the same generated history, so a slow spell weighs on
both sides of a pair alike. Reported: the median over pairs of each pair's own ratio
(after / before) of wall time and of the process's CPU time, with the lowest and highest.

Usage: python bench/compare.py BEFORE_DIR AFTER_DIR [--n 1000] [--pairs 8]
       [--server postgres://postgres@127.0.0.1:5432]
(each directory a checkout, e.g. ``git worktree add /tmp/before <rev>``)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.generate import generate  # noqa: E402
from bench.run import PYTHON, Databases, machine, measure, psql  # noqa: E402

TASKS = ("apply all", "apply all, analysed", "roll back all")
Sample = tuple[float, float, float]  # wall s, peak MiB, CPU s


def one_side(checkout: Path, project: Path, server: str, label: str) -> dict[str, Sample]:
    """The three timed processes of one deploy, from ``checkout``, on fresh databases."""
    databases = Databases(server)
    base = {**os.environ, "PYTHONPATH": str(checkout), "SCHEMA_MANAGER_LOG_LEVEL": "ERROR"}
    manage = [PYTHON, "manage.py"]

    def timed(command: list[str], env: dict[str, str]) -> Sample:
        psql(server, "CHECKPOINT")  # each process starts on a settled server
        return measure(command, env, cwd=checkout)

    try:
        env = {
            **base,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "BENCH_PRISMA_SCHEMA_PATH": str(project / "prisma" / "schema.prisma"),
            "DATABASE_URL": databases.fresh(f"{label}_app"),
            "DEVELOPMENT_DATABASE_URL": databases.fresh(f"{label}_target"),
        }
        subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=checkout, check=True)
        staging = {**env, "STAGING_DATABASE_URL": databases.fresh(f"{label}_staging")}
        return {
            "apply all": timed([*manage, "apply_schema_migration", "--all"], env),
            "apply all, analysed": timed(
                [*manage, "apply_schema_migration", "--all", "--environment", "staging"], staging
            ),
            "roll back all": timed([PYTHON, "bench/rollback_all.py"], env),
        }
    finally:
        databases.drop_all()


def summary(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.3f} ({min(ratios):.3f} to {max(ratios):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    for checkout in checkouts.values():
        if not (checkout / "manage.py").is_file():
            raise SystemExit(f"{checkout}: not a checkout of this project (no manage.py)")
        # Compiled once, as an installed package is: neither side pays compiling in a timing.
        packages = ["schema_manager", "demo_project", "bench", "manage.py"]
        subprocess.run([PYTHON, "-m", "compileall", "-q", *packages], cwd=checkout, check=True)
    print(machine(args.server))
    print(f"before: {checkouts['before']}\nafter:  {checkouts['after']}\n")
    samples: dict[str, dict[str, list[Sample]]] = {side: defaultdict(list) for side in checkouts}
    with tempfile.TemporaryDirectory(prefix="sm_compare_") as directory:
        project = Path(directory)
        generate(project, args.n)
        # Not timed: the first heavy writer after databases are created pays more.
        warm_up = Databases(args.server)
        try:
            url = warm_up.fresh("compare_warm_up")
            command = ["psql", "-qX", url, "-f", str(project / "psql_up.sql")]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        finally:
            warm_up.drop_all()
        for pair in range(args.pairs):
            order = ["before", "after"] if pair % 2 == 0 else ["after", "before"]
            for side in order:
                for task, sample in one_side(checkouts[side], project, args.server, side).items():
                    samples[side][task].append(sample)
            print(f"pair {pair + 1}/{args.pairs} done", file=sys.stderr, flush=True)
    print(f"### N = {args.n}, {args.pairs} pairs: after / before, median (lowest to highest)\n")
    print("| task | before s | after s | wall ratio | CPU ratio |")
    print("|---|---|---|---|---|")
    for task in TASKS:
        before, after = samples["before"][task], samples["after"][task]
        # Every sample (wall s, peak MiB, CPU s), to check a ratio against.
        print(f"{task}: before {before} after {after}", file=sys.stderr)
        wall = [a[0] / b[0] for a, b in zip(after, before, strict=True)]
        cpu = [a[2] / b[2] for a, b in zip(after, before, strict=True)]
        print(
            f"| {task} | {statistics.median(s[0] for s in before):.2f} "
            f"| {statistics.median(s[0] for s in after):.2f} | {summary(wall)} | {summary(cpu)} |"
        )


if __name__ == "__main__":
    main()
