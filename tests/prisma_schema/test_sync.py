"""Prisma schema sync: golden files, the apply/rollback hook, the command, the file's blocks.

The expected files in tests/prisma_schema/golden/ are what `prisma db pull` (Prisma 6.19) writes for
the SQL beside them, after the header (generator and datasource blocks, comments) kept verbatim.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from schema_manager import Migration, SchemaManager
from schema_manager.prisma_schema import PrismaSchemaError, sync_schema
from schema_manager.prisma_schema.blocks import GENERATED_KINDS, parse
from schema_manager.workspace import Workspace
from tests.conftest import ENGINES, POSTGRES_SKIP_REASON
from tests.settings import POSTGRES_URL

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "prisma_schema" / "golden"


def golden(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


# The engines whose databases the sync reads; overrides conftest's `engine` for this module.
SYNC_ENGINES = [engine for engine in ENGINES if engine in ("sqlite", "postgresql")]


@pytest.fixture(params=SYNC_ENGINES)
def engine(request) -> str:
    if request.param == "postgresql" and not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)
    return request.param


@pytest.fixture
def schema_path(targets, manager: SchemaManager) -> Path:
    """The test's schema.prisma, holding only the golden header of the engine."""
    path = Workspace().prisma_schema_path
    path.parent.mkdir(parents=True)
    path.write_text(golden(f"header.{targets.engine}.prisma"), encoding="utf-8")
    return path


def configure(**values):
    return override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, **values})


@pytest.fixture
def sync_on(targets):
    with configure(PRISMA_SYNC_ENVIRONMENTS=["development"]):
        yield


def apply(manager: SchemaManager, migration_id: str, sql: str):
    result = manager.apply_migration_sync(Migration(id=migration_id, sql=sql))
    assert result.success, result.error
    return result


def check(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("sync_prisma_schema", "--check", *args, stdout=out, stderr=err)
    except SystemExit as exit:
        return int(exit.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


# -- golden files ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["relations", "types", "edges"])
def test_apply_in_development_writes_the_golden_schema(
    targets, schema_path, sync_on, manager, case
):
    result = apply(manager, f"001_{case}", golden(f"{case}.{targets.engine}.sql"))

    assert not [warning for warning in result.warnings if "Prisma" in warning]
    assert "_prisma_migrations" in targets.tables()
    assert schema_path.read_text(encoding="utf-8") == golden(f"{case}.{targets.engine}.prisma")
    # A second sync is db pull over the file the first wrote: it names the implicit
    # many-to-many relations the file has (edges' "_CategoryToPost") and changes nothing else;
    # a third finds nothing to change and leaves the file untouched.
    second = sync_schema("development", schema_path)
    assert second.changed is (case == "edges")
    if second.changed:
        named = schema_path.read_text(encoding="utf-8")
        assert named.count('@relation("CategoryToPost")') == 2
        assert named.replace(' @relation("CategoryToPost")', "") == golden(
            f"{case}.{targets.engine}.prisma"
        )
    before = schema_path.stat().st_mtime_ns
    assert sync_schema("development", schema_path).changed is False
    assert schema_path.stat().st_mtime_ns == before
    assert check()[0] == 0


def test_what_real_histories_use_is_written_as_prisma_db_pull_writes_it(postgres_targets, manager):
    """Relations Prisma names apart, index methods and operator classes, defaults, comments."""
    path = Workspace().prisma_schema_path
    path.parent.mkdir(parents=True)
    path.write_text(golden("header.postgresql.prisma"), encoding="utf-8")
    with configure(PRISMA_SYNC_ENVIRONMENTS=["development"]):
        apply(manager, "001_pull", golden("pull.postgresql.sql"))

    assert path.read_text(encoding="utf-8") == golden("pull.postgresql.prisma")


def test_names_docs_and_order_chosen_in_the_file_are_kept(postgres_targets, manager):
    """Re-introspection: renamed models, fields and relation fields survive a sync."""
    renamed = golden("relations.postgresql.renamed.prisma")
    path = Workspace().prisma_schema_path
    path.parent.mkdir(parents=True)
    path.write_text(renamed, encoding="utf-8")
    with configure(PRISMA_SYNC_ENVIRONMENTS=["development"]):
        apply(manager, "001_relations", golden("relations.postgresql.sql"))
        assert path.read_text(encoding="utf-8") == renamed

        apply(manager, "002_nickname", "ALTER TABLE users ADD COLUMN nickname TEXT;\n")

    text = path.read_text(encoding="utf-8")
    user = text[text.index("model User {") :].split("\n}\n", 1)[0]
    assert "  nickname                       String?\n" in user
    assert '  authoredPosts                  posts[]   @relation("Authorship")' in user
    assert '  @@map("users")' in user
    assert text.replace(user, "") == renamed.replace(
        renamed[renamed.index("model User {") :].split("\n}\n", 1)[0], ""
    )


MANY_TO_MANY = """
CREATE TABLE "Post" (id SERIAL PRIMARY KEY);
CREATE TABLE "Tag" (id SERIAL PRIMARY KEY);
CREATE TABLE "_PostToTag" (
    "A" INTEGER NOT NULL REFERENCES "Post" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    "B" INTEGER NOT NULL REFERENCES "Tag" (id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "_PostToTag_AB_unique" ON "_PostToTag" ("A", "B");
CREATE INDEX "_PostToTag_B_index" ON "_PostToTag" ("B");
"""


def _block(text: str, model: str) -> str:
    return text[text.index(f"model {model} {{") :].split("\n}\n", 1)[0]


def test_a_many_to_many_relation_the_file_has_gets_its_name_as_db_pull_writes_it(
    postgres_targets, manager
):
    """db pull leaves Prisma's default name out of an implicit many-to-many relation it
    finds, and writes it over a file that has the relation already (re-introspection),
    keeping the field names the file gives; after that, a sync changes nothing."""
    path = Workspace().prisma_schema_path
    path.parent.mkdir(parents=True)
    path.write_text(golden("header.postgresql.prisma"), encoding="utf-8")
    with configure(PRISMA_SYNC_ENVIRONMENTS=["development"]):
        apply(manager, "001_tags", MANY_TO_MANY)
    first = path.read_text(encoding="utf-8")
    assert "@relation" not in first
    # The team names Post's field as it likes, as Prisma lets it.
    post = _block(first, "Post")
    path.write_text(first.replace(post, post.replace("Tag Tag[]", "tags Tag[]")), "utf-8")

    assert sync_schema("development", path).changed is True
    again = path.read_text(encoding="utf-8")
    assert _block(again, "Post").split("\n")[2:] == ['  tags Tag[] @relation("PostToTag")']
    assert _block(again, "Tag").split("\n")[2:] == ['  Post Post[] @relation("PostToTag")']
    assert sync_schema("development", path).changed is False


# -- round trip, hooks, post-sync command --------------------------------------------------------

USERS = "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\n"
CHANGE_COLUMN = {
    "postgresql": "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(80);\n",
    "sqlite": "ALTER TABLE users ADD COLUMN email TEXT;\n",
}


def test_check_passes_after_a_sync_and_fails_after_a_column_change(targets, schema_path, manager):
    apply(manager, "001_users", USERS)
    call_command("sync_prisma_schema", stdout=StringIO())
    assert check() == (0, f"{schema_path} matches the development database.\n", "")

    apply(manager, "002_change_column", CHANGE_COLUMN[targets.engine])  # sync is off here
    status, out, err = check()

    assert status == 1
    assert out.startswith(f"--- {schema_path}\n+++ {schema_path} (from the development database)")
    changed = {"postgresql": "@db.VarChar(80)", "sqlite": "email String?"}[targets.engine]
    assert any(line.startswith("+") and changed in line for line in out.splitlines())
    assert "run sync_prisma_schema" in err
    out = StringIO()
    call_command("sync_prisma_schema", stdout=out)
    assert out.getvalue().startswith(f"Wrote {schema_path}")
    assert check()[0] == 0


def test_the_command_notes_what_prisma_cannot_use(targets, schema_path, manager):
    apply(manager, "001_log", "CREATE TABLE log (at DATE, note TEXT);\n")
    out = StringIO()
    call_command("sync_prisma_schema", stdout=out, no_color=True)
    assert out.getvalue().splitlines()[0] == (
        "  note: Model 'log' is ignored (@@ignore): its table has no valid unique identifier."
    )


def test_rollback_in_development_syncs_the_schema_back(targets, schema_path, sync_on, manager):
    apply(manager, "001_users", USERS)
    first = schema_path.read_text(encoding="utf-8")
    apply(manager, "002_add_phone", "ALTER TABLE users ADD COLUMN phone VARCHAR(20);\n")
    assert "phone" in schema_path.read_text(encoding="utf-8")

    result = manager.rollback_migration_sync("002_add_phone")

    assert result.success, result.error
    assert schema_path.read_text(encoding="utf-8") == first


def test_a_batch_syncs_the_schema_once_when_it_ends(targets, schema_path, sync_on):
    header = schema_path.read_text(encoding="utf-8")
    workspace = Workspace()
    manager = SchemaManager(workspace=workspace)
    with workspace.deferred_schema_sync():
        apply(manager, "001_users", USERS)
        apply(manager, "002_add_phone", "ALTER TABLE users ADD COLUMN phone VARCHAR(20);\n")
        assert schema_path.read_text(encoding="utf-8") == header  # not after each apply

    text = schema_path.read_text(encoding="utf-8")
    assert "model users" in text
    assert "phone" in text


def test_staging_and_production_are_never_written(targets, schema_path, manager):
    original = schema_path.read_text(encoding="utf-8")
    with configure(PRISMA_SYNC_ENVIRONMENTS=["development", "staging", "production"]):
        for environment in ("staging", "production"):
            result = manager.apply_migration_sync(
                Migration(id="001_users", sql=USERS), environment=environment
            )
            assert result.success, result.error
            assert any("never written" in warning for warning in result.warnings)
            with pytest.raises(CommandError, match="use --check there"):
                call_command("sync_prisma_schema", "-e", environment)

    assert schema_path.read_text(encoding="utf-8") == original
    assert check("-e", "staging")[0] == 1


def test_post_sync_command_runs_beside_the_prisma_folder(
    targets, schema_path, sync_on, manager, caplog
):
    script = "import pathlib; pathlib.Path('generated.txt').write_text('ok'); print('generated')"
    caplog.set_level(logging.INFO, logger="schema_manager.prisma_schema")
    with configure(
        PRISMA_SYNC_ENVIRONMENTS=["development"],
        PRISMA_POST_SYNC_COMMAND=[sys.executable, "-c", script],
    ):
        result = apply(manager, "001_users", USERS)

    assert result.warnings == []
    assert (schema_path.parent.parent / "generated.txt").read_text() == "ok"
    assert any("generated" in record.getMessage() for record in caplog.records)


def test_post_sync_command_failure_is_a_warning_and_the_migration_stands(
    targets, schema_path, sync_on, manager
):
    failing = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    with configure(PRISMA_SYNC_ENVIRONMENTS=["development"], PRISMA_POST_SYNC_COMMAND=failing):
        result = apply(manager, "001_users", USERS)

    assert result.success
    assert len(result.warnings) == 1
    assert "failed: exit status 3" in result.warnings[0]
    assert "users" in targets.tables()
    assert "model users {" in schema_path.read_text(encoding="utf-8")


def test_no_post_sync_command_without_a_change(targets, schema_path, sync_on, manager):
    apply(manager, "001_users", USERS)
    marker = schema_path.parent.parent / "ran.txt"
    script = f"open({str(marker)!r}, 'w').close()"
    with configure(PRISMA_POST_SYNC_COMMAND=[sys.executable, "-c", script]):
        assert sync_schema("development", schema_path).changed is False
    assert not marker.exists()


# -- bad input: a clear error, and nothing changes -------------------------------------------------


def test_a_datasource_of_another_provider_is_refused(targets, schema_path, sync_on, manager):
    other = {"postgresql": "sqlite", "sqlite": "postgresql"}[targets.engine]
    text = f'datasource db {{\n  provider = "{other}"\n  url      = "x"\n}}\n'
    schema_path.write_text(text, encoding="utf-8")

    with pytest.raises(CommandError, match=f"datasource provider is '{other}'"):
        call_command("sync_prisma_schema")
    result = apply(manager, "001_users", USERS)

    assert any("Prisma schema sync failed (the migration stands)" in w for w in result.warnings)
    assert schema_path.read_text(encoding="utf-8") == text


def test_an_unreadable_schema_file_is_refused(targets, schema_path):
    schema_path.write_text("generator client {\n  provider = 'x'\n", encoding="utf-8")
    with pytest.raises(CommandError, match="block on line 1 is never closed"):
        call_command("sync_prisma_schema")
    schema_path.write_text("this is not prisma\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Cannot read line 1"):
        call_command("sync_prisma_schema")
    assert schema_path.read_text(encoding="utf-8") == "this is not prisma\n"


def test_a_missing_file_gets_prismas_default_blocks(targets, manager):
    call_command("sync_prisma_schema", stdout=StringIO())
    text = Workspace().prisma_schema_path.read_text(encoding="utf-8")
    assert text == (
        'generator client {\n  provider = "prisma-client-js"\n}\n\n'
        f'datasource db {{\n  provider = "{targets.engine}"\n  url      = env("DATABASE_URL")\n}}\n'
    )


# -- the existing file's blocks (no database) ----------------------------------------------------


@pytest.mark.django_db(databases=[])
def test_blocks_keep_configuration_and_comments_and_drop_generated_blocks():
    text = (
        '// header\n\n// about the generator\ngenerator client {\n  provider = "x" // {\n}\n'
        '\r\n/// a model\nmodel a {\n  id Int @id\n  @@map("{")\n}\n\nenum e {\n  A\n}\n'
        'datasource db {\n  provider = "sqlite"\n  url = "file:{x}"\n}\n// trailing\n'
    )
    assert [item.kind for item in parse(text)] == [
        "comment",
        "generator",
        "model",
        "enum",
        "datasource",
        "comment",
    ]
    assert [item.text for item in parse(text) if item.kind not in GENERATED_KINDS] == [
        "// header",
        '// about the generator\ngenerator client {\n  provider = "x" // {\n}',
        'datasource db {\n  provider = "sqlite"\n  url = "file:{x}"\n}',
        "// trailing",
    ]
    with pytest.raises(PrismaSchemaError):
        parse("model a {\n")


def test_the_hook_never_creates_a_schema_file(targets, sync_on, manager):
    apply(manager, "001_users", USERS)
    assert not Workspace().prisma_schema_path.exists()


# -- validity, checked by Prisma's own CLI -------------------------------------------------------

PRISMA_CLI = os.environ.get("SCHEMA_MANAGER_TEST_PRISMA_CLI", "")
SCHEMA_FILES = [
    *sorted(path for path in GOLDEN.glob("*.prisma") if not path.name.startswith("header.")),
    ROOT / "prisma" / "schema.prisma",
]


@pytest.mark.django_db(databases=[])
@pytest.mark.skipif(
    not PRISMA_CLI,
    reason="SCHEMA_MANAGER_TEST_PRISMA_CLI is not set (the path of Prisma 6's `prisma` CLI, "
    "e.g. after `npm install --prefix DIR prisma@6`; .ci/run installs it)",
)
def test_schema_files_are_valid_and_formatted_prisma(tmp_path):
    """`prisma validate` accepts the golden files and the demo's (formatted as Prisma does)."""
    # Both commands run on Prisma's bundled wasm; naming an engine file stops the CLI from
    # downloading native engines that they never use.
    engine = tmp_path / "unused-engine"
    engine.touch()
    env = {
        **os.environ,
        "PRISMA_HIDE_UPDATE_MESSAGE": "1",
        "CHECKPOINT_DISABLE": "1",
        "PRISMA_SCHEMA_ENGINE_BINARY": str(engine),
        "PRISMA_QUERY_ENGINE_LIBRARY": str(engine),
        "DATABASE_URL": "postgresql://user@localhost:5432/db",
        "DEVELOPMENT_DATABASE_URL": "postgresql://user@localhost:5432/db",  # the demo's
    }
    runs = []
    for schema in SCHEMA_FILES:
        copy = tmp_path / schema.parent.name / schema.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(schema.read_bytes())
        runs.append((schema, copy, ["validate"]))
    # The golden files are Prisma's own output; format --check guards the demo's file too.
    runs.append((SCHEMA_FILES[-1], copy, ["format", "--check"]))

    def run(schema: Path, copy: Path, command: list[str]) -> str:
        done = subprocess.run(
            [PRISMA_CLI, *command, "--schema", str(copy)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            return f"prisma {' '.join(command)} {schema.name}: {done.stdout}{done.stderr}"
        return ""

    with ThreadPoolExecutor(max_workers=4) as pool:  # each run starts Node: ~2 s
        problems = [problem for problem in pool.map(lambda r: run(*r), runs) if problem]
    assert problems == []
    for schema in SCHEMA_FILES:
        assert (tmp_path / schema.parent.name / schema.name).read_bytes() == schema.read_bytes()


# -- system checks -----------------------------------------------------------------------------


@pytest.mark.django_db(databases=[])
def test_system_checks_on_the_sync_settings():
    from schema_manager.prisma_schema.checks import check_prisma_sync

    with configure(PRISMA_SYNC_ENVIRONMENTS=["development"], PRISMA_POST_SYNC_COMMAND=["true"]):
        assert check_prisma_sync() == []
    with configure(
        PRISMA_SYNC_ENVIRONMENTS=["qa", "production"],
        PRISMA_POST_SYNC_COMMAND="npx prisma generate",
    ):
        assert [message.id for message in check_prisma_sync()] == [
            "schema_manager.W802",
            "schema_manager.W801",
            "schema_manager.E801",
        ]


def test_an_unexpected_sync_error_is_a_warning_after_a_committed_apply(
    targets, schema_path, sync_on, manager, monkeypatch
):
    from schema_manager.prisma_schema import introspection

    def broken(alias):
        raise KeyError("surprise")

    monkeypatch.setattr(introspection, "introspect", broken)
    result = apply(manager, "001_users", USERS)

    assert result.success
    assert result.warnings == [
        "Prisma schema sync failed (the migration stands): KeyError: 'surprise'"
    ]
    assert "users" in targets.tables()
