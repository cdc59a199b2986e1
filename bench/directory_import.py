"""What opening the admin's migration changelist spends on importing from prisma/migrations.

In one process (the test settings, an SQLite app database in a temporary file): N migration
folders (each with down.sql), the first L of them ~4.7 MB data migrations, all imported once;
then the median of 15 further imports (``services.import_folders``, what each view of the
changelist calls) with the checksums of unchanged files remembered, and the same with the
memory turned off, so that every view reads every file.

Usage: python bench/directory_import.py [--n 500] [--large 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def write_folders(directory: Path, count: int, large: int) -> int:
    """The folders, their files dated an hour ago (settled); returns their total size."""
    for i in range(count):
        folder = directory / f"{i:014d}_m{i}"
        folder.mkdir(parents=True)
        body = f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, note TEXT);\n"
        if i < large:
            rows = (f"INSERT INTO t{i} VALUES ({j}, 'row {j} é');\n" for j in range(100_000))
            body += "".join(rows)
        (folder / "migration.sql").write_text(body)
        (folder / "down.sql").write_text(f"DROP TABLE t{i};\n")
    hour_ago = time.time() - 3600
    files = list(directory.rglob("*.sql"))
    for path in files:
        os.utime(path, (hour_ago, hour_ago))
    return sum(path.stat().st_size for path in files)


def median_ms(call, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--large", type=int, default=5)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="sm_bench_import_"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["SCHEMA_MANAGER_TEST_APP_DB"] = str(scratch / "app.sqlite3")
    os.environ["SCHEMA_MANAGER_TEST_PRISMA_SCHEMA"] = str(scratch / "prisma" / "schema.prisma")

    import django

    django.setup()
    from django.core.management import call_command

    from schema_manager import file_reads, services

    call_command("migrate", verbosity=0)
    size = write_folders(scratch / "prisma" / "migrations", args.n, args.large)
    start = time.perf_counter()
    imported = services.import_folders().imported
    first = (time.perf_counter() - start) * 1000
    assert len(imported) == args.n, len(imported)
    # The change times are those of the utime above: a second old before they are remembered.
    time.sleep(file_reads.SETTLED_NS / 1e9 + 0.1)
    services.import_folders()
    remembered = median_ms(services.import_folders)
    file_reads.SETTLED_NS = 1 << 62  # never settled: nothing remembered from now on
    file_reads.forget_checksums()
    every_file = median_ms(services.import_folders)
    print(
        f"{args.n} folders ({args.large} large), {size / 1e6:.1f} MB of SQL: first import "
        f"{first:.0f} ms; each later view {remembered:.1f} ms with checksums remembered, "
        f"{every_file:.1f} ms reading every file"
    )


if __name__ == "__main__":
    main()
