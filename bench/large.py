"""Peak memory applying one large data migration (default 50 MB of INSERTs) against its size.

One fresh app database and one fresh target (``sm_bench_<pid>_*``, dropped at the end). The
figures are whole processes (``os.wait4``): ``apply_schema_migration --all`` of the one
migration; ``schema_migration_status`` of an empty project (the Django process's own floor);
and ``psql -f`` of the same file wrapped in BEGIN/COMMIT, for the time.

Usage: python bench/large.py [--mb 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.generate import generate_large  # noqa: E402
from bench.run import PYTHON, Databases, compile_sources, machine, measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    print(machine(args.server))
    compile_sources()
    databases = Databases(args.server)
    with tempfile.TemporaryDirectory(prefix="sm_bench_large_") as directory:
        project = Path(directory)
        folder = project / "prisma" / "migrations" / "20240101000000_large_data"
        size = generate_large(folder / "migration.sql", args.mb)
        (project / "prisma" / "schema.prisma").write_text("")
        wrapped = project / "psql_large.sql"
        with open(wrapped, "w") as out:
            out.write("\\set ON_ERROR_STOP on\nBEGIN;\n")
            # Streamed: a child's peak RSS counts this process's RSS at fork time.
            with open(folder / "migration.sql") as script:
                shutil.copyfileobj(script, out)
            out.write("COMMIT;\n")
        base = {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "bench.settings"}
        manage = [PYTHON, "manage.py"]
        try:
            empty = project / "empty" / "schema.prisma"
            env = {
                **base,
                "BENCH_PRISMA_SCHEMA_PATH": str(empty),
                "DATABASE_URL": databases.fresh("large_app"),
                "DEVELOPMENT_DATABASE_URL": databases.fresh("large_target"),
            }
            subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=REPO, check=True)
            floor = measure([*manage, "schema_migration_status"], env)
            env["BENCH_PRISMA_SCHEMA_PATH"] = str(project / "prisma" / "schema.prisma")
            ours = measure([*manage, "apply_schema_migration", "--all"], env)
            # The next environment's apply: the script and its analysis (with its cuts) are
            # stored, so it runs without being read for anything but sending.
            env["STAGING_DATABASE_URL"] = databases.fresh("large_staging")
            again = [*manage, "apply_schema_migration", "--all", "--environment", "staging"]
            analysed = measure(again, env)
            url = databases.fresh("large_psql")
            psql = measure(["psql", "-qX", url, "-f", str(wrapped)], base)
        finally:
            databases.drop_all()
    mib = size / 1024 / 1024
    print(f"\nScript: {mib:.1f} MiB ({size} bytes)\n")
    print("| process | wall s | peak RSS MiB | peak / script size |")
    print("|---|---|---|---|")
    print(
        f"| apply_schema_migration --all | {ours[0]:.1f} | {ours[1]:.0f} | {ours[1] / mib:.2f}x |"
    )
    print(
        f"| (same, above the Django process floor) | | {ours[1] - floor[1]:.0f} | "
        f"{(ours[1] - floor[1]) / mib:.2f}x |"
    )
    print(
        f"| the same, analysed, to staging | {analysed[0]:.1f} | {analysed[1]:.0f} | "
        f"{analysed[1] / mib:.2f}x |"
    )
    print(f"| floor: schema_migration_status, empty project | {floor[0]:.1f} | {floor[1]:.0f} | |")
    print(f"| psql -f (BEGIN/COMMIT) | {psql[0]:.1f} | {psql[1]:.0f} | {psql[1] / mib:.2f}x |")


if __name__ == "__main__":
    main()
