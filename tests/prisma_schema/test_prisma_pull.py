"""The sync against the real ``prisma db pull`` and ``prisma validate``, block by block.

Both tests run ``bench/corpus_sync.py`` (a process of its own): it applies a migrations folder to
a fresh PostgreSQL database, writes the schema with this project's sync and with the real CLI
(through ``prisma-oracle.sh`` from the shared tools, which installs Prisma 6.19.3 from npm once
and runs it offline after that) and compares every model, enum and view block.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.settings import POSTGRES_URL
from tests.utils import SHARED

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(os.environ.get("SCHEMA_MANAGER_TEST_SOURCE") or ROOT)
GOLDEN = ROOT / "tests" / "prisma_schema" / "golden"


SCRIPT = next(
    (
        p
        for p in (ROOT / "bench" / "corpus_sync.py", SOURCE / "bench" / "corpus_sync.py")
        if p.exists()
    ),
    None,
)
SKIP_REASON = (
    "the shared tools are absent (shared/tools/prisma-oracle.sh next to the checkout, or "
    "SCHEMA_MANAGER_TEST_SHARED): the real Prisma CLI cannot be run here"
    if SHARED is None
    else "bench/corpus_sync.py is not in this copy of the repository"
    if SCRIPT is None
    else "SCHEMA_MANAGER_TEST_POSTGRES_URL is not set"
    if not POSTGRES_URL
    else "node and npm are needed to run the Prisma CLI"
    if not (shutil.which("node") and shutil.which("npm"))
    else ""
)
pytestmark = [
    pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON),
    pytest.mark.django_db(databases=[]),
]


def compare(*folders: Path, apply_with: str) -> list[dict]:
    parts = urlsplit(POSTGRES_URL)
    server = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    assert SHARED is not None
    assert SCRIPT is not None
    oracle = str(SHARED / "tools" / "prisma-oracle.sh")
    command = [sys.executable, str(SCRIPT), *map(str, folders), "--json", "--server", server]
    command += ["--apply", apply_with, "--oracle", oracle]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=SCRIPT.parents[1],
    )
    assert done.stdout.startswith("["), done.stdout + done.stderr
    return json.loads(done.stdout)


def failures(results: list[dict]) -> list[str]:
    found = []
    for result in results:
        for key in result["different"]:
            found.append(f"{result['name']}: {result['diffs'][key]}")
        for key in result["only_prisma"] + result["only_ours"]:
            found.append(f"{result['name']}: only one side has {key}")
        if not result["valid"]:
            found.append(f"{result['name']}: prisma validate: {result['validate_output']}")
        if not result["same_order"]:
            found.append(f"{result['name']}: the blocks are in another order")
    return found


def test_the_golden_features_are_what_prisma_db_pull_writes(tmp_path):
    """The golden file's SQL (relations, indexes, defaults, comments) against the real CLI."""
    folder = tmp_path / "migrations" / "20240101000000_pull"
    folder.mkdir(parents=True)
    shutil.copy(GOLDEN / "pull.postgresql.sql", folder / "migration.sql")
    (tmp_path / "migrations" / "migration_lock.toml").write_text('provider = "postgresql"\n')

    results = compare(tmp_path / "migrations", apply_with="psql")

    assert failures(results) == []
    assert results[0]["identical"] >= 21
    # Over Prisma's own file (re-introspection) too, but for one deliberate difference: db pull
    # then drops the @ignore of list fields to a model that file marks @@ignore, the sync keeps
    # it so that a second sync changes nothing.
    assert results[0]["repull_different"] == ["model parent_single"]


ONE_TO_ONE_IN_ANOTHER_ORDER = """
CREATE TABLE "Parent" (id TEXT NOT NULL, org TEXT NOT NULL,
    CONSTRAINT "Parent_pkey" PRIMARY KEY (id));
CREATE UNIQUE INDEX "Parent_id_org_key" ON "Parent" (id, org);
CREATE TABLE "Child" (id TEXT NOT NULL, "parentId" TEXT, org TEXT NOT NULL,
    CONSTRAINT "Child_pkey" PRIMARY KEY (id));
CREATE UNIQUE INDEX "Child_org_parentId_key" ON "Child" (org, "parentId");
ALTER TABLE "Child" ADD CONSTRAINT "Child_parentId_org_fkey" FOREIGN KEY ("parentId", org)
    REFERENCES "Parent" (id, org);
"""


def test_a_relation_unique_only_in_another_order_is_one_to_many_so_the_file_is_valid(tmp_path):
    """db pull makes it one-to-one, which its own validator then refuses (the unique index
    must list the relation's fields in their order): the sync writes the one-to-many
    relation that ``prisma validate`` accepts, the only blocks that differ from db pull's."""
    folder = tmp_path / "migrations" / "20240101000000_pull"
    folder.mkdir(parents=True)
    (folder / "migration.sql").write_text(ONE_TO_ONE_IN_ANOTHER_ORDER)
    (tmp_path / "migrations" / "migration_lock.toml").write_text('provider = "postgresql"\n')

    [result] = compare(tmp_path / "migrations", apply_with="psql")

    assert result["valid"], result["validate_output"]
    assert sorted(result["different"]) == ["model Parent"]
    assert "Child[]" in result["diffs"]["model Parent"]


@pytest.mark.skipif(
    SHARED is None or not (SHARED / "corpora").is_dir(), reason="no shared/corpora here"
)
def test_the_shared_histories_sync_as_prisma_db_pull_writes_them():
    """Every public history in shared/corpora, deployed by Prisma: all blocks identical, valid.

    About 40 s for the two histories there (Prisma's deploy is most of it).
    """
    assert SHARED is not None
    corpora = sorted(
        path / "migrations"
        for path in (SHARED / "corpora").iterdir()
        if (path / "migrations").is_dir()
    )

    results = compare(*corpora, apply_with="prisma")

    assert failures(results) == []
    assert all(result["blocks"] > 0 for result in results)
