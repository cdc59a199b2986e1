"""Operators' workflow: fake applies, prompts, rollback --to, status states, scaffolding,
the migrations directory, drift, promotion order and the system checks."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.core.management import CommandError
from django.test import override_settings

from schema_manager import Migration, SchemaManager, services
from schema_manager.exceptions import AppliedMigrationError
from schema_manager.models import VersionRecord
from schema_manager.slugs import UntranslatableName, slugify
from schema_manager.workspace import Workspace
from tests.commands.test_commands import demo_env, manage
from tests.conftest import TRANSACTIONAL_ENGINES
from tests.settings import POSTGRES_SCHEMAS
from tests.utils import run_command, write_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

PROVIDER = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql"}


def status_of(environment: str = "development") -> dict[str, dict]:
    out, _, _ = run_command("schema_migration_status", "--format", "json", "-e", environment)
    return {m["migration_id"]: m for m in json.loads(out)["migrations"]}


def settings_with(**changes):
    from django.conf import settings

    return override_settings(SCHEMA_MANAGER={**settings.SCHEMA_MANAGER, **changes})


# -- apply --fake, prompts ---------------------------------------------------------------------


def test_fake_records_without_running_and_history_says_so(targets, migrations_dir):
    write_migration(migrations_dir, "001_users", "CREATE TABLE users (id INTEGER);")

    out, _, _ = run_command("apply_schema_migration", "--all", "--fake")

    assert "001_users ... faked: recorded as applied, SQL not run" in out
    assert "Done in development: 0 applied, 1 faked" in out
    assert "users" not in targets.tables()
    [row] = targets.ledger()
    # As `prisma migrate resolve --applied` writes it.
    assert row["finished_at"] is not None
    assert row["started_at"] == row["finished_at"]
    assert (row["logs"], row["rolled_back_at"], row["applied_steps_count"]) == ("", None, 0)
    [record] = VersionRecord.objects.all()
    assert (record.status, record.faked) == ("applied", True)
    assert status_of()["001_users"]["faked"] is True
    text, _, _ = run_command("schema_migration_status")
    assert "(faked)" in text
    text, _, _ = run_command("schema_migration_history")
    assert "(faked)" in text.splitlines()[1]


def test_apply_output_is_verbosity_gated(targets, migrations_dir):
    targets.execute("development", "CREATE TABLE old (id INTEGER)")
    write_migration(migrations_dir, "001_a", "CREATE TABLE a (id INTEGER);")
    write_migration(
        migrations_dir, "002_b", "DROP TABLE old;", down="CREATE TABLE old (id INTEGER);"
    )

    out, err, _ = run_command("apply_schema_migration", "001_a", "-v", "0")
    assert (out, err) == ("", "")
    out, _, _ = run_command("apply_schema_migration", "002_b", "-v", "2")
    assert out.splitlines()[1].startswith("  002_b ... applied (1 statement(s), ")
    assert out.splitlines()[2].startswith("    warning: ")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_destructive_migration_prompts_in_development_unless_noinput(
    targets, migrations_dir, monkeypatch
):
    targets.execute("development", "CREATE TABLE old (id INTEGER)")
    write_migration(
        migrations_dir, "001_drop", "DROP TABLE old;", down="CREATE TABLE old (id INTEGER);"
    )
    monkeypatch.setattr("sys.stdin", _Terminal())
    answers = iter(["n"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))

    with pytest.raises(CommandError, match="001_drop was not applied: declined at the prompt"):
        run_command("apply_schema_migration", "--all")
    assert "old" in targets.tables()

    # --noinput never asks (input would raise StopIteration).
    run_command("apply_schema_migration", "--all", "--noinput")
    assert "old" not in targets.tables()


def test_production_never_prompts_and_blocks_destructive(targets, migrations_dir, monkeypatch):
    write_migration(migrations_dir, "001_drop", "DROP TABLE IF EXISTS old;")
    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("prompted in production"))

    with pytest.raises(CommandError, match=r"001_drop was not applied to production.*Blocked"):
        run_command("apply_schema_migration", "--all", "-e", "production")
    run_command("apply_schema_migration", "--all", "-e", "production", "--fake")  # runs nothing
    write_migration(migrations_dir, "002_drop", "DROP TABLE IF EXISTS older;")
    run_command("apply_schema_migration", "--all", "-e", "production", "--allow-destructive")
    ledger = targets.ledger("production")
    assert [(r["migration_name"], r["applied_steps_count"]) for r in ledger] == [
        ("001_drop", 0),
        ("002_drop", 1),
    ]


# -- rollback --to -----------------------------------------------------------------------------


def test_rollback_to_rolls_back_later_migrations_newest_first(targets, migrations_dir):
    for number, table in enumerate("abc", start=1):
        write_migration(
            migrations_dir, f"00{number}_{table}", f"CREATE TABLE {table} (id INTEGER);"
        )
    run_command("apply_schema_migration", "--all")

    out, _, _ = run_command("rollback_schema_migration", "--to", "001_a", "--dry-run")
    assert [line for line in out.splitlines() if line.startswith("Would")] == [
        "Would roll back 003_c with:",
        "Would roll back 002_b with:",
    ]
    assert {"b", "c"} <= targets.tables()

    out, _, _ = run_command("rollback_schema_migration", "--to", "001_a")
    lines = out.splitlines()
    assert lines[0].startswith("  [1/2] 003_c ... rolled back")
    assert lines[1].startswith("  [2/2] 002_b ... rolled back")
    assert lines[2] == "Rolled back 2 migration(s) in development."
    assert "a" in targets.tables()
    assert not {"b", "c"} & targets.tables()

    out, _, _ = run_command("rollback_schema_migration", "--to", "001_a")
    assert out.strip() == "Nothing is applied after 001_a in development."
    with pytest.raises(CommandError, match="'002_b' is not applied in development"):
        run_command("rollback_schema_migration", "--to", "002_b")
    with pytest.raises(CommandError, match="or pass --to ID \\(not both\\)"):
        run_command("rollback_schema_migration", "001_a", "--to", "001_a")


# -- status ------------------------------------------------------------------------------------


def test_status_every_state_all_environments_and_check(targets, migrations_dir):
    write_migration(migrations_dir, "001_a", "CREATE TABLE a (id INTEGER);")
    write_migration(migrations_dir, "002_b", "CREATE TABLE b (id INTEGER);")
    run_command("apply_schema_migration", "--all", "-e", "staging")
    # A row Prisma (or anyone) wrote for a migration we have nowhere.
    targets.execute(
        "staging",
        "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, "
        f"started_at, applied_steps_count) VALUES ('{uuid.uuid4()}', '{'0' * 64}', "
        "CURRENT_TIMESTAMP, '000_elsewhere', CURRENT_TIMESTAMP, 1)",
    )

    with pytest.raises(SystemExit) as exited:
        run_command("schema_migration_status", "--all-environments", "--check")
    assert exited.value.code == 1

    out, _, _ = run_command("schema_migration_status", "--all-environments")
    assert "development (" in out
    assert "production (" in out
    staging = out.split("staging (")[1].split("production (")[0]
    assert "[  missing  ] 000_elsewhere" in staging
    assert "not on disk nor in the catalogue" in staging
    assert re.search(r"\[  applied  \] 001_a  applied [\d-]+ [\d:]+ (by \S+ )?in \d", staging)

    out, _, _ = run_command("schema_migration_status", "--all-environments", "--format", "json")
    environments = {e["environment"]: e for e in json.loads(out)["environments"]}
    assert set(environments) == {"development", "staging", "production"}
    states = {m["migration_id"]: m for m in environments["staging"]["migrations"]}
    assert {k: v["state"] for k, v in states.items()} == {
        "000_elsewhere": "missing",
        "001_a": "applied",
        "002_b": "applied",
    }
    assert states["001_a"]["on_disk"]
    assert states["001_a"]["execution_time"] is not None
    assert states["001_a"]["applied_checksum"] == states["001_a"]["current_checksum"]

    # Staging alone: nothing pending or modified (a migration we lack is not a CI failure).
    run_command("schema_migration_status", "-e", "staging", "--check")


# -- create_schema_migration -------------------------------------------------------------------


# What Prisma 6.19's `migrate dev --name NAME` makes of each name (its bundled slug function
# run with Node on these inputs).
PRISMA_SLUGS = [
    ("añadir_ñandú", "anadir_nandu"),
    ("Add Users -- table!", "add_users_table"),
    ("Add Users & Posts", "add_users_and_posts"),
    ("addUsersTable", "add_users_table"),
    ("  --Hello World!! ", "hello_world"),
    ("ÄÖÜ straße", "ae_oe_ue_strasse"),
    ("user's table", "users_table"),
    ("I'm here", "i_m_here"),
    ("HTMLParser2", "html_parser2"),
    ("IDs2FA", "ids2_fa"),
    ("USERSTable", "users_table"),
    ("_leading", "leading"),
    ("ÆØ æø", "aeo_aeo"),
    ("Łódź", "lodz"),
    ("Crème brûlée", "creme_brulee"),
    ("Ðð Þþ", "dd_t_hth"),
    ("İstanbul ılık", "istanbul_ilik"),  # noqa: RUF001 (a Turkish dotless i)
    ("dvořák", "dvorak"),
    ("Ångström", "angstroem"),
    ("€5 price", "e5_price"),
    ("l·l", "ll"),
    ("x" * 300, "x" * 200),
]


@pytest.mark.parametrize(("name", "slug"), PRISMA_SLUGS)
def test_slug_follows_prisma(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize("name", ["Привет мир", "日本語", "œuvre"])
def test_a_name_with_letters_outside_the_latin_alphabets_is_refused(name):
    with pytest.raises(UntranslatableName, match="write the name in Latin letters"):
        slugify(name)


def test_create_says_when_it_changed_a_name(targets):
    out, _, _ = run_command("create_schema_migration", "añadir_ñandú")
    [folder] = Workspace().directory.path.iterdir()
    assert re.fullmatch(r"\d{14}_anadir_nandu", folder.name)
    assert out.splitlines() == [
        f"Created {folder}",
        "The name 'añadir_ñandú' became 'anadir_nandu', as Prisma names migration folders.",
    ]
    with pytest.raises(CommandError, match="Migration name 'Привет' has characters"):
        run_command("create_schema_migration", "Привет")


def test_an_empty_migration_applies_and_rolls_back_as_prisma_applies_it(targets):
    run_command("create_schema_migration", "nothing yet")
    [folder] = Workspace().directory.path.iterdir()

    out, _, _ = run_command("apply_schema_migration", "--all", "-e", "staging")

    assert f"{folder.name} ... applied (0 statement(s)" in out
    [row] = targets.ledger("staging")
    assert row["migration_name"] == folder.name
    assert row["finished_at"] is not None
    # MySQL counts the statements run, one by one: none here.
    assert row["applied_steps_count"] == (0 if targets.engine == "mysql" else 1)
    file_bytes = (folder / "migration.sql").read_bytes()
    assert file_bytes == b"-- This is an empty migration.\n"
    assert row["checksum"] == hashlib.sha256(file_bytes).hexdigest()
    [record] = SchemaManager().get_version_history("staging")
    assert record.status == "applied"

    result = SchemaManager().rollback_migration_sync(folder.name)
    assert result.success, result.error
    assert result.environment == "staging"


def test_create_scaffolds_a_folder_that_apply_picks_up(targets, tmp_path):
    sql_file = tmp_path / "up.sql"
    sql_file.write_bytes(b"CREATE TABLE widgets (id INTEGER);\n")
    down_file = tmp_path / "down.sql"
    down_file.write_bytes(b"DROP TABLE widgets;\n")

    out, _, _ = run_command(
        "create_schema_migration", "Add widgets", "--sql", str(sql_file), "--down", str(down_file)
    )

    [folder] = Workspace().directory.path.iterdir()
    assert re.fullmatch(r"\d{14}_add_widgets", folder.name)
    assert out.strip() == f"Created {folder}"
    assert (folder / "migration.sql").read_bytes() == sql_file.read_bytes()
    assert (folder / "down.sql").read_bytes() == down_file.read_bytes()
    run_command("apply_schema_migration", "--all")
    assert "widgets" in targets.tables()
    assert Migration.objects.get(pk=folder.name).rollback_sql == "DROP TABLE widgets;\n"

    run_command("create_schema_migration", "empty one")
    [empty] = [p for p in folder.parent.iterdir() if p.name.endswith("_empty_one")]
    assert (empty / "migration.sql").read_text() == "-- This is an empty migration.\n"
    assert not (empty / "down.sql").exists()
    # Prisma names a migration without letters or digits '<timestamp>_', and applies it.
    out, _, _ = run_command("create_schema_migration", "!!!")
    [unnamed] = [p for p in folder.parent.iterdir() if p.name.endswith("_")]
    assert re.fullmatch(r"\d{14}_", unnamed.name)
    assert "The name '!!!' became ''" in out
    out, _, _ = run_command("apply_schema_migration", "--all")
    assert unnamed.name in out
    assert unnamed.name in {row["migration_name"] for row in targets.ledger()}
    with pytest.raises(CommandError, match="Cannot read"):
        run_command("create_schema_migration", "x", "--sql", str(tmp_path / "nope.sql"))


# -- the migrations directory ------------------------------------------------------------------


def test_development_apply_writes_folder_and_lock_staging_writes_nothing(
    targets, manager, tmp_path
):
    directory = Workspace().directory
    migration = Migration(
        id="20240105000000_add_tags", name="add_tags", sql="CREATE TABLE tags (id INTEGER);"
    )
    assert manager.apply_migration_sync(migration, "staging").success
    assert not directory.path.exists()

    assert manager.apply_migration_sync(migration, "development").success

    folder = directory.path / migration.id
    assert (folder / "migration.sql").read_bytes() == b"CREATE TABLE tags (id INTEGER);\n"
    cascade = " CASCADE" if targets.engine == "postgresql" else ""
    assert (folder / "down.sql").read_text() == f"DROP TABLE IF EXISTS tags{cascade};\n"
    assert (directory.path / "migration_lock.toml").read_text() == (
        "# Please do not edit this file manually\n"
        "# It should be added in your version-control system (e.g., Git)\n"
        f'provider = "{PROVIDER[targets.engine]}"\n'
    )
    [row] = targets.ledger()
    assert row["checksum"] == hashlib.sha256((folder / "migration.sql").read_bytes()).hexdigest()
    # Written once: the folder is now the source, read back unchanged.
    assert services.import_folders().imported == []
    assert status_of()[migration.id]["state"] == "applied"


def test_writing_environments_are_a_setting(targets, manager):
    with settings_with(
        ENVIRONMENTS={"development": targets.alias("development")}, WRITE_FILES_ENVIRONMENTS=[]
    ):
        migration = Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER);")
        assert manager.apply_migration_sync(migration).success
        assert not Workspace().directory.path.exists()


# The folder's SQL quotes names as Prisma does for PostgreSQL and SQLite (MySQL uses backticks).
@pytest.mark.parametrize("engine", TRANSACTIONAL_ENGINES, indirect=True)
def test_folder_written_like_prisma_migrate_dev_gets_prismas_ledger_row(targets, migrations_dir):
    sql = (
        '-- CreateTable\nCREATE TABLE "User" (\n    "id" INTEGER NOT NULL,\n    "email" TEXT\n);\n'
    )
    folder = write_migration(migrations_dir, "20240601093000_init", sql)
    (migrations_dir / "migration_lock.toml").write_text(
        "# Please do not edit this file manually\n"
        "# It should be added in your version-control system (e.g., Git)\n"
        f'provider = "{PROVIDER[targets.engine]}"'
    )

    run_command("apply_schema_migration", "--all")

    [row] = targets.ledger()
    assert uuid.UUID(row["id"]).version == 4
    assert len(row["id"]) == 36
    assert row["checksum"] == hashlib.sha256((folder / "migration.sql").read_bytes()).hexdigest()
    assert row["migration_name"] == "20240601093000_init"
    assert row["finished_at"] is not None
    assert row["started_at"] is not None
    assert (row["logs"], row["rolled_back_at"], row["applied_steps_count"]) == (None, None, 1)
    assert sorted(p.name for p in folder.iterdir()) == ["migration.sql"]  # untouched
    assert not [m for m in run_checks() if m.id.startswith("schema_manager")]


# -- drift -------------------------------------------------------------------------------------


def test_edited_applied_migration_is_modified_and_refused(targets, migrations_dir):
    folder = write_migration(migrations_dir, "001_users", "CREATE TABLE users (id INTEGER);\n")
    run_command("apply_schema_migration", "--all")
    old = hashlib.sha256((folder / "migration.sql").read_bytes()).hexdigest()
    (folder / "migration.sql").write_bytes(b"CREATE TABLE users (id INTEGER, name TEXT);\n")
    new = hashlib.sha256((folder / "migration.sql").read_bytes()).hexdigest()

    for environment in ("development", "staging"):
        state = status_of(environment)["001_users"]
        assert state["state"] == "modified"
        assert (state["applied_checksum"], state["current_checksum"]) == (old, new)
    out, _, _ = run_command("schema_migration_status")
    assert f"applied with checksum {old}, SQL now has checksum {new}" in out
    out, _, _ = run_command("schema_migration_status", "-e", "staging")
    assert f"applied in another environment with checksum {old}, SQL now has" in out
    with pytest.raises(SystemExit):
        run_command("schema_migration_status", "-e", "development", "--check")

    write_migration(migrations_dir, "000_first", "CREATE TABLE first (id INTEGER);")
    with pytest.raises(CommandError, match="Refusing to apply: Migration '001_users' was modified"):
        run_command("apply_schema_migration", "--all", "-e", "staging")
    assert "first" not in targets.tables("staging")  # refused before anything ran
    for environment in ("staging", "development"):
        with pytest.raises(CommandError) as refused:
            run_command("apply_schema_migration", "001_users", "-e", environment)
        assert "'001_users' was modified" in str(refused.value)
        assert old in str(refused.value)
        assert new in str(refused.value)
    assert targets.ledger("staging") == []
    assert Migration.objects.get(pk="001_users").checksum == old
    write_migration(migrations_dir, "002_more", "CREATE TABLE more (id INTEGER);")
    with pytest.raises(
        CommandError,
        match=f"Refusing to apply: Migration '001_users' is applied in development with "
        f"checksum {old}",
    ):
        run_command("apply_schema_migration", "--all")
    assert "more" not in targets.tables()

    # Restoring the file ends the drift.
    (folder / "migration.sql").write_bytes(b"CREATE TABLE users (id INTEGER);\n")
    run_command("apply_schema_migration", "--all", "-e", "staging")
    assert "users" in targets.tables("staging")


def test_unapplied_folder_edit_updates_the_catalogue(targets, migrations_dir):
    folder = write_migration(migrations_dir, "001_users", "CREATE TABLE users (id INTEGER);")
    run_command("schema_migration_status")
    (folder / "migration.sql").write_bytes(b"CREATE TABLE people (id INTEGER);")
    run_command("apply_schema_migration", "--all")
    assert "people" in targets.tables()


def test_applied_migration_cannot_be_edited_through_the_api(targets, manager):
    migration = Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER);")
    assert manager.apply_migration_sync(migration, "staging").success

    stored = Migration.objects.get(pk="001_t")
    stored.sql = "CREATE TABLE t (id INTEGER, x TEXT);"
    with pytest.raises(AppliedMigrationError, match="'001_t' is applied in staging") as caught:
        stored.save()
    assert stored.checksum in str(caught.value) or "applied checksum" in str(caught.value)
    with pytest.raises(ValidationError, match="cannot change"):
        stored.full_clean()
    assert Migration.objects.get(pk="001_t").sql == "CREATE TABLE t (id INTEGER);\n"
    stored.refresh_from_db()
    stored.name = "renamed"
    stored.save()  # other fields stay editable

    assert manager.rollback_migration_sync("001_t", "staging").success
    stored.sql = "CREATE TABLE t (id INTEGER, x TEXT);"
    stored.save()  # rolled back everywhere: editable again

    assert manager.apply_migration_sync(stored, "production").success
    overwrite = Migration(id="001_t", name="t", sql="CREATE TABLE t (y TEXT);")
    with pytest.raises(AppliedMigrationError, match="is applied in production"):
        overwrite.save()  # an unsaved instance with a stored id would overwrite the row


# -- promotion order ---------------------------------------------------------------------------


def test_promotion_order_requires_the_previous_environment(targets, migrations_dir):
    write_migration(migrations_dir, "001_users", "CREATE TABLE users (id INTEGER);")
    with settings_with(PROMOTION_ORDER=["development", "staging", "production"]):
        with pytest.raises(CommandError) as refused:
            run_command("apply_schema_migration", "--all", "-e", "production")
        assert "'001_users' has not been applied in staging" in str(refused.value)
        assert "PROMOTION_ORDER" in str(refused.value)
        with pytest.raises(CommandError, match="not been applied in development"):
            run_command("apply_schema_migration", "--all", "-e", "staging")
        assert targets.ledger("production") == []
        assert targets.ledger("staging") == []

        for environment in ("development", "staging", "production"):
            run_command("apply_schema_migration", "--all", "-e", environment)
            assert "users" in targets.tables(environment)


def test_promotion_order_is_off_by_default(targets, manager):
    migration = Migration(id="001_t", name="t", sql="CREATE TABLE t (id INTEGER);")
    assert manager.apply_migration_sync(migration, "production").success


# -- system checks -----------------------------------------------------------------------------


def test_check_lock_provider_differs_from_an_engine(targets, migrations_dir):
    other = "postgresql" if targets.engine == "sqlite" else "sqlite"
    (migrations_dir / "migration_lock.toml").write_text(f'provider = "{other}"\n')
    warnings = [m for m in run_checks() if m.id == "schema_manager.W001"]
    assert len(warnings) == 3  # one per environment
    assert f"names provider {other!r}" in warnings[0].msg


def test_check_promotion_order_names_configured_environments(targets):
    with settings_with(PROMOTION_ORDER=["development", "qa"]):
        [error] = [m for m in run_checks() if m.id == "schema_manager.E005"]
        assert "'qa'" in error.msg


def test_check_directory_that_cannot_be_created(targets, tmp_path):
    (tmp_path / "blocker").write_text("a file, not a directory")
    with settings_with(PRISMA_SCHEMA_PATH=tmp_path / "blocker" / "prisma" / "schema.prisma"):
        [error] = [m for m in run_checks() if m.id == "schema_manager.E004"]
        assert "cannot be created" in error.msg
        assert "is a file" in error.msg
        with settings_with(WRITE_FILES_ENVIRONMENTS=[]):
            assert not [m for m in run_checks() if m.id == "schema_manager.E004"]


# -- as real processes -------------------------------------------------------------------------


def test_processes_create_fake_check_and_drift(tmp_path):
    schema = tmp_path / "prisma" / "schema.prisma"
    env = {**demo_env(tmp_path), "PRISMA_SCHEMA_PATH": str(schema)}
    assert manage(env, "migrate", "-v0").returncode == 0
    up = tmp_path / "up.sql"
    up.write_text("CREATE TABLE widgets (id INTEGER);\n")

    created = manage(env, "create_schema_migration", "add widgets", "--sql", str(up))
    assert created.returncode == 0, created.stderr
    [folder] = (tmp_path / "prisma" / "migrations").iterdir()

    pending = manage(env, "schema_migration_status", "--check")
    assert (pending.returncode, pending.stderr) == (1, "")
    assert f"[  pending  ] {folder.name}" in pending.stdout

    faked = manage(env, "apply_schema_migration", "--all", "--fake", "--noinput", "-e", "staging")
    assert faked.returncode == 0, faked.stderr
    assert "1 faked" in faked.stdout
    applied = manage(env, "apply_schema_migration", "--all", "--noinput")
    assert applied.returncode == 0, applied.stderr
    clean = manage(env, "schema_migration_status", "--check", "-v0")
    assert (clean.returncode, clean.stderr) == (0, "")

    (folder / "migration.sql").write_text("CREATE TABLE gadgets (id INTEGER);\n")
    drifted = manage(env, "apply_schema_migration", folder.name, "-e", "production")
    assert drifted.returncode == 1
    [line] = drifted.stderr.strip().splitlines()
    assert line.startswith(f"CommandError: Migration '{folder.name}' was modified: it was applied")
    assert manage(env, "schema_migration_status", "--check").returncode == 1


def test_processes_status_check_on_postgresql(postgres_targets, tmp_path):
    from tests.guide.test_integration_guide import _postgres_url

    env = demo_env(
        tmp_path, {"DEVELOPMENT_DATABASE_URL": _postgres_url(POSTGRES_SCHEMAS["development"])}
    )
    env["PRISMA_SCHEMA_PATH"] = str(tmp_path / "prisma" / "schema.prisma")
    assert manage(env, "migrate", "-v0").returncode == 0
    write_migration(tmp_path / "prisma" / "migrations", "001_a", "CREATE TABLE a (id INTEGER);")

    assert manage(env, "schema_migration_status", "--check").returncode == 1
    applied = manage(env, "apply_schema_migration", "--all")
    assert applied.returncode == 0, applied.stderr
    status = manage(env, "schema_migration_status", "--check", "--format", "json")
    assert status.returncode == 0, status.stderr
    [state] = json.loads(status.stdout)["migrations"]
    assert (state["migration_id"], state["state"]) == ("001_a", "applied")
    assert (tmp_path / "prisma" / "migrations" / "migration_lock.toml").exists() is False
    assert "a" in postgres_targets.tables()


def test_settings_checks_run_without_naming_databases(targets):
    with settings_with(ENVIRONMENTS={"development": "nowhere"}):
        assert "schema_manager.E001" in {m.id for m in run_checks()}


# Prisma lists every folder under migrations/ as a migration named after it (an empty
# ``--name`` gives '<timestamp>_'); what cannot be a folder's name or is unsafe to show is refused.
PRISMA_FOLDER_NAMES = [
    "20240101000000_",
    "20240102000000_Add Users",
    "20240103000000_v1.2-hotfix",
    "20240104000000_café",
]


def test_every_folder_name_prisma_lists_applies_and_rolls_back(targets, migrations_dir):
    for number, name in enumerate(PRISMA_FOLDER_NAMES):
        write_migration(migrations_dir, name, f"CREATE TABLE t{number} (id INTEGER);")

    out, _, _ = run_command("apply_schema_migration", "--all")

    assert [row["migration_name"] for row in targets.ledger()] == PRISMA_FOLDER_NAMES
    assert all(name in out for name in PRISMA_FOLDER_NAMES)
    assert {"t0", "t1", "t2", "t3"} <= set(targets.tables())
    assert {status_of()[name]["state"] for name in PRISMA_FOLDER_NAMES} == {"applied"}
    run_command("rollback_schema_migration", PRISMA_FOLDER_NAMES[-1])
    run_command("rollback_schema_migration", PRISMA_FOLDER_NAMES[0])
    assert "t3" not in targets.tables()
    assert "t0" not in targets.tables()


def test_folders_apply_in_prisma_s_order_not_by_code_point(targets, migrations_dir):
    """Prisma sorts folder names with localeCompare: '1_a' before '10_a' ('_' sorts before
    digits), 'a_b' before 'B_a' (case after letters); code points put them the other way."""
    write_migration(migrations_dir, "1_a", "CREATE TABLE t (id INTEGER);")
    write_migration(migrations_dir, "10_a", "ALTER TABLE t ADD COLUMN x INTEGER;")
    write_migration(migrations_dir, "a_b", "ALTER TABLE t ADD COLUMN y INTEGER;")
    write_migration(migrations_dir, "B_a", "CREATE TABLE u (id INTEGER);")

    run_command("apply_schema_migration", "--all")

    order = ["1_a", "10_a", "a_b", "B_a"]
    assert [row["migration_name"] for row in targets.ledger()] == order
    assert list(status_of()) == order
    run_command("rollback_schema_migration", "--to", "1_a")
    assert [row["migration_name"] for row in targets.ledger()] == ["1_a"]


def test_a_folder_name_unsafe_to_show_is_refused_naming_it(targets, migrations_dir):
    write_migration(migrations_dir, "20240101000000_ok", "CREATE TABLE ok (id INTEGER);")
    write_migration(migrations_dir, "20240102000000_\x1b[2Jx", "CREATE TABLE bad (id INTEGER);")

    with pytest.raises(CommandError) as refused:
        run_command("apply_schema_migration", "--all")

    assert "'20240102000000_\\x1b[2Jx'" in str(refused.value)
    assert "control, text-direction or undecodable character (U+001B)" in str(refused.value)
    assert "bad" not in targets.tables()


def test_empty_migration_files_apply_as_prisma_records_them(targets, migrations_dir):
    """`prisma migrate deploy` runs an empty or blank migration.sql and records it applied."""
    for name, sql in [("001_empty", ""), ("002_blank", "\n  \n"), ("003_comment", "-- none\n")]:
        folder = migrations_dir / name
        folder.mkdir()
        (folder / "migration.sql").write_text(sql)

    out, _, _ = run_command("apply_schema_migration", "--all")

    rows = targets.ledger()
    assert [row["migration_name"] for row in rows] == ["001_empty", "002_blank", "003_comment"]
    assert all(row["finished_at"] for row in rows)
    assert rows[0]["checksum"] == hashlib.sha256(b"").hexdigest()
    assert "3 applied" in out
    run_command("rollback_schema_migration", "002_blank")
    assert [row["migration_name"] for row in targets.ledger()] == ["001_empty", "003_comment"]
