"""Run the benchmark: schema_manager against one psql process and Django's migrate.

For each N, each repetition uses fresh databases (``sm_bench_*``, created and dropped here;
not timed). Every figure is one whole process: wall time and peak RSS from ``os.wait4``.
Prints a markdown table of medians with ratios against the baselines of the same run.

Usage: python bench/run.py [--n 200 1000] [--repeat 3] [--server postgres://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.generate import generate  # noqa: E402

PYTHON = sys.executable


def measure(
    command: list[str], env: dict[str, str], cwd: Path = REPO
) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds) of one process started in ``cwd``, which
    must succeed.

    CPU (user + system) is the process's own work, without the database server's: on a
    loaded machine it moves much less than wall time."""
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{stderr.read().decode()[-3000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def compile_sources() -> None:
    """Compile the checkout's modules once, as installing a package does: where the
    environment sets PYTHONDONTWRITEBYTECODE, every timed process would otherwise compile
    them again (the peers, installed by pip, never pay that)."""
    packages = ["schema_manager", "demo_project", "bench", "manage.py"]
    subprocess.run([PYTHON, "-m", "compileall", "-q", *packages], cwd=REPO, check=True)


def psql(server: str, sql: str) -> None:
    env = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning"}
    subprocess.run(["psql", "-qAtX", f"{server}/postgres", "-c", sql], check=True, env=env)


class Databases:
    """Fresh databases named sm_bench_<pid>_<label>, dropped at the end."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.names: list[str] = []

    def fresh(self, label: str) -> str:
        name = f"sm_bench_{os.getpid()}_{label}"
        psql(self.server, f"DROP DATABASE IF EXISTS {name}")
        psql(self.server, f"CREATE DATABASE {name}")
        self.names.append(name)
        return f"{self.server}/{name}"

    def drop_all(self) -> None:
        for name in self.names:
            psql(self.server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.names.clear()


def one_run(
    project: Path, server: str, results: dict[str, list[tuple[float, float, float]]]
) -> None:
    databases = Databases(server)

    def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
        # Each process starts on a settled server: the writes of creating databases (and of
        # the previous process) are flushed by a checkpoint first, not during the timing.
        psql(server, "CHECKPOINT")
        return measure(command, env)

    base = {**os.environ, "PYTHONPATH": str(REPO), "SCHEMA_MANAGER_LOG_LEVEL": "ERROR"}
    manage = [PYTHON, "manage.py"]
    try:
        # schema_manager: app database and target, both fresh PostgreSQL databases.
        sm = {
            **base,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "BENCH_PRISMA_SCHEMA_PATH": str(project / "prisma" / "schema.prisma"),
            "DATABASE_URL": databases.fresh("app"),
            "DEVELOPMENT_DATABASE_URL": databases.fresh("target"),
        }
        subprocess.run([*manage, "migrate", "-v0"], env=sm, cwd=REPO, check=True)
        # Not timed: on this kind of machine the first heavy writer after databases were
        # dropped and created pays seconds more than the next (memory and files settling),
        # whichever tool it is; so the baseline's work runs once first, into a scratch database.
        warm_up = ["psql", "-qX", databases.fresh("warm_up"), "-f", str(project / "psql_up.sql")]
        subprocess.run(warm_up, env=base, check=True, stdout=subprocess.DEVNULL)
        results["showmigrations"].append(timed([*manage, "showmigrations"], sm))
        results["sm apply"].append(timed([*manage, "apply_schema_migration", "--all"], sm))
        results["sm status"].append(timed([*manage, "schema_migration_status"], sm))
        # The same plan to a second fresh database (staging), as the next deploy would: the
        # catalogue holds the scripts and their analyses, so none is parsed before it runs.
        staging = {**sm, "STAGING_DATABASE_URL": databases.fresh("staging")}
        apply_staging = [*manage, "apply_schema_migration", "--all", "--environment", "staging"]
        results["sm apply again"].append(timed(apply_staging, staging))
        results["sm rollback"].append(timed([PYTHON, "bench/rollback_all.py"], sm))

        # Baseline: one psql process, each migration in BEGIN/COMMIT.
        url = databases.fresh("psql")
        command = ["psql", "-qX", url, "-f"]
        results["psql up"].append(timed([*command, str(project / "psql_up.sql")], base))
        results["psql down"].append(timed([*command, str(project / "psql_down.sql")], base))

        # Peer: Django's migrate with generated RunSQL migrations.
        dj = {
            **base,
            "PYTHONPATH": f"{project}{os.pathsep}{REPO}",
            "DJANGO_SETTINGS_MODULE": "bench.django_settings",
            "BENCH_DATABASE_URL": databases.fresh("django"),
        }
        results["django migrate"].append(timed([*manage, "migrate", "-v0"], dj))
        results["django showmigrations N"].append(timed([*manage, "showmigrations"], dj))
        results["django zero"].append(timed([*manage, "migrate", "benchapp", "zero", "-v0"], dj))

        for tool, (up, down) in peer_commands(project).items():
            url = databases.fresh(tool)
            env = {**base, "BENCH_ALEMBIC_URL": url.replace("postgres://", "postgresql+psycopg://")}
            results[f"{tool} up"].append(timed(up(url), env))
            if down is not None:
                results[f"{tool} down"].append(timed(down(url), env))
    finally:
        databases.drop_all()


def dbmate_binary() -> str | None:
    """dbmate from BENCH_DBMATE, the npm install that bench/README.md gives, or PATH."""
    cached = Path.home() / ".cache/schema_manager/dbmate-2.36.0/node_modules/.bin/dbmate"
    candidates = [os.environ.get("BENCH_DBMATE"), str(cached), shutil.which("dbmate")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def peer_commands(project: Path) -> dict:
    """tool -> (apply command for a URL, roll-back-all command or None), for installed tools."""
    bin_dir = Path(PYTHON).parent
    commands: dict = {}
    if (bin_dir / "yoyo").is_file():
        yoyo = [str(bin_dir / "yoyo")]
        options = ["--batch", "--no-config-file"]

        def yoyo_url(url: str) -> str:
            return url.replace("postgres://", "postgresql+psycopg://")

        commands["yoyo"] = (
            lambda url: [*yoyo, "apply", *options, "--database", yoyo_url(url), f"{project}/yoyo"],
            lambda url: [
                *yoyo, "rollback", "--all", *options, "--database", yoyo_url(url),
                f"{project}/yoyo",
            ],
        )  # fmt: skip
    if (bin_dir / "alembic").is_file():
        alembic = [str(bin_dir / "alembic"), "-c", str(project / "alembic" / "alembic.ini")]
        commands["alembic"] = (
            lambda url: [*alembic, "upgrade", "head"],
            lambda url: [*alembic, "downgrade", "base"],
        )
    if dbmate := dbmate_binary():
        migrations = str(project / "dbmate")

        def dbmate_up(url: str) -> list[str]:
            return [
                dbmate, "--url", f"{url}?sslmode=disable", "--migrations-dir", migrations,
                "--no-dump-schema", "up",
            ]  # fmt: skip

        # dbmate rolls back one migration per run: no roll-back-all to compare.
        commands["dbmate"] = (dbmate_up, None)
    return commands


def paired_ratio(
    ours: list[tuple[float, float, float]], baseline: list[tuple[float, float, float]]
) -> float:
    """The median of each run's own ratio (wall time): a slow spell of the machine, which
    lasts longer than one process, then weighs on both sides of a ratio alike."""
    return statistics.median(o[0] / b[0] for o, b in zip(ours, baseline, strict=True))


def median(samples: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return tuple(statistics.median(s[i] for s in samples) for i in range(3))  # type: ignore


ROWS = [
    # (task, ours, baseline, goal ratio or None, peer)
    ("apply all", "sm apply", "psql up", 1.5, "django migrate"),
    ("apply all, analysed", "sm apply again", "psql up", 1.5, "django migrate"),
    ("roll back all", "sm rollback", "psql down", 1.5, "django zero"),
    ("status", "sm status", "showmigrations", 2.0, "django showmigrations N"),
]

LABELS = {
    "psql up": "one psql, BEGIN/COMMIT each",
    "psql down": "one psql, down scripts",
    "showmigrations": "showmigrations start-up (demo project)",
    "django migrate": "Django migrate (RunSQL)",
    "django zero": "Django migrate benchapp zero",
    "django showmigrations N": "Django showmigrations (N applied)",
}


def peers_table(results: dict[str, list[tuple[float, float, float]]]) -> str:
    """Every tool's apply and roll back of the N migrations against one psql."""
    up, down = median(results["psql up"])[0], median(results["psql down"])[0]
    tools = [
        ("schema_manager", "sm apply", "sm rollback"),
        ("Django migrate", "django migrate", "django zero"),
        *((tool, f"{tool} up", f"{tool} down") for tool in ("dbmate", "alembic", "yoyo")),
    ]
    lines = [
        "",
        "| tool | apply all s (ratio to one psql) | roll back all s (ratio to one psql) |",
        "|---|---|---|",
        f"| one psql | {up:.2f} | {down:.2f} |",
    ]
    for tool, apply_key, rollback_key in tools:
        if not results.get(apply_key):
            lines.append(f"| {tool} | not installed | |")
            continue
        applied = median(results[apply_key])[0]
        cells = [f"{applied:.2f} ({paired_ratio(results[apply_key], results['psql up']):.2f}x)"]
        if results.get(rollback_key):
            rolled = median(results[rollback_key])[0]
            ratio = paired_ratio(results[rollback_key], results["psql down"])
            cells.append(f"{rolled:.2f} ({ratio:.2f}x)")
        else:
            cells.append("no roll-back-all")
        lines.append(f"| {tool} | {' | '.join(cells)} |")
    return "\n".join(lines)


def table(n: int, results: dict[str, list[tuple[float, float, float]]]) -> str:
    lines = [
        f"\n### N = {n} (median of {len(results['sm apply'])} runs)\n",
        "| task | schema_manager s (MiB; CPU s) | baseline | baseline s (MiB; CPU s) | ratio* "
        "| goal | peer | peer s (MiB; CPU s) | vs peer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, ours, baseline, goal, peer in ROWS:
        (t, m, c), (bt, bm, bc), (pt, pm, pc) = (
            median(results[ours]),
            median(results[baseline]),
            median(results[peer]),
        )
        ratio = paired_ratio(results[ours], results[baseline])
        verdict = "ok" if ratio <= goal else "MISSED"
        lines.append(
            f"| {task} | {t:.2f} ({m:.0f}; {c:.2f}) | {LABELS[baseline]} | "
            f"{bt:.2f} ({bm:.0f}; {bc:.2f}) | {ratio:.2f}x | ≤ {goal}x {verdict} | "
            f"{LABELS[peer]} | {pt:.2f} ({pm:.0f}; {pc:.2f}) | "
            f"{t / pt:.2f}x |"
        )
    lines.append("\n*Times are medians; each ratio is the median of the runs' own ratios.")
    return "\n".join(lines)


def machine(server: str) -> str:
    version = subprocess.run(
        ["psql", "-qAtX", f"{server}/postgres", "-c", "SHOW server_version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with open("/proc/meminfo") as meminfo:
        ram = int(meminfo.readline().split()[1]) / 1024 / 1024
    return (
        f"Machine: {os.cpu_count()} CPUs, {ram:.0f} GiB RAM, PostgreSQL {version}, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    print(machine(args.server))
    compile_sources()
    for n in args.n:
        with tempfile.TemporaryDirectory(prefix="sm_bench_") as directory:
            project = Path(directory)
            generate(project, n)
            results: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
            for _ in range(args.repeat):
                one_run(project, args.server, results)
            print(table(n, results), flush=True)
            print(peers_table(results), flush=True)


if __name__ == "__main__":
    main()
