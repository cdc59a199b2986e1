"""The confirmation page tells, per engine and script, whether an apply or rollback runs in one
transaction, and what a failure leaves behind; and what it tells is what happens."""

from __future__ import annotations

import html
import re

import pytest

from schema_manager import services
from tests.admin_support import CHANGELIST, confirm_as_shown, stored
from tests.conftest import TRANSACTIONAL_ENGINES, Targets

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ONE_TRANSACTION = " in one transaction and "
NOTHING_REMAINS = "On any error nothing of it remains."
DDL_COMMITS = "one at a time, not in one transaction: MySQL/MariaDB commits each DDL statement"
OUTSIDE = "one at a time, outside a transaction"
ROWS_STAY = "rows they inserted, updated or deleted are not"
UNDONE = "what the statements that ran created or altered"


def consequence(client, action: str, *ids: str) -> str:
    """The "What will happen" of the confirmation page of ``action`` (one migration)."""
    page = client.post(CHANGELIST, {"action": action, "_selected_action": list(ids)})
    assert page.status_code == 200
    [found] = re.findall(r'<dd class="sm-consequence[^"]*">(.*?)</dd>', page.content.decode(), re.S)
    return html.unescape(found)


def test_an_apply_says_how_the_script_runs_on_the_engine(targets: Targets, admin_client):
    stored("001_a", "CREATE TABLE a (id INTEGER);\nINSERT INTO a VALUES (1);\n")

    said = consequence(admin_client, "apply_to_staging", "001_a")

    assert "Runs 2 statement(s)" in said
    if targets.engine == "mysql":
        assert DDL_COMMITS in said
        assert UNDONE in said
        assert ROWS_STAY in said
        assert ONE_TRANSACTION not in said
        assert NOTHING_REMAINS not in said
    else:
        assert ONE_TRANSACTION in said
        assert NOTHING_REMAINS in said
        assert OUTSIDE not in said
    assert targets.ledger("staging") == []  # the page changes nothing


def test_what_the_page_says_a_failure_leaves_is_what_it_leaves(targets: Targets, admin_client):
    # The second statement fails: on every engine the table the first made is gone after.
    stored("001_a", "CREATE TABLE a (id INTEGER);\nCREATE TABLE a (id INTEGER);\n")

    said = consequence(admin_client, "apply_to_staging", "001_a")
    done = confirm_as_shown(admin_client, "apply_to_staging", "001_a")

    assert done.status_code == 302
    assert "a" not in targets.tables("staging")
    assert targets.ledger("staging") == []  # nothing remains: no row (history keeps it)
    assert (NOTHING_REMAINS in said) is (targets.engine != "mysql")
    assert (UNDONE in said) is (targets.engine == "mysql")


def test_on_mysql_rows_a_failed_migration_changed_are_not_undone(mysql_targets, admin_client):
    mysql_targets.execute("staging", "CREATE TABLE keep (id INTEGER)")
    stored("001_a", "INSERT INTO keep VALUES (1);\nCREATE TABLE keep (id INTEGER);\n")

    said = consequence(admin_client, "apply_to_staging", "001_a")
    confirm_as_shown(admin_client, "apply_to_staging", "001_a")

    assert ROWS_STAY in said
    assert "left failed in _prisma_migrations" in said
    assert mysql_targets.fetch("staging", "SELECT id FROM keep") == [(1,)]
    [row] = mysql_targets.ledger("staging")
    assert row["finished_at"] is None
    assert row["rolled_back_at"] is None


def test_a_script_that_cannot_run_in_a_transaction_says_so(postgres_targets, admin_client):
    postgres_targets.execute("staging", "CREATE TABLE t (id INTEGER)")
    stored("001_index", "CREATE INDEX CONCURRENTLY t_id ON t (id);\n")
    stored(
        "002_declared",
        "-- schema-manager: no-transaction\n"
        "CREATE TABLE u (id INTEGER);\nINSERT INTO u VALUES (1);\n",
    )

    for migration_id in ("001_index", "002_declared"):
        said = consequence(admin_client, "apply_to_staging", migration_id)
        assert OUTSIDE in said
        assert "cannot run inside one" in said
        assert UNDONE in said
        assert ROWS_STAY in said
        assert NOTHING_REMAINS not in said


@pytest.mark.parametrize("engine", TRANSACTIONAL_ENGINES, indirect=True)
def test_a_rollback_in_one_transaction_says_nothing_of_it_remains(targets, admin_client):
    migration = stored("001_a", "CREATE TABLE a (id INTEGER);\n", rollback_sql="DROP TABLE a;\n")
    [applied] = services.apply([migration], "staging")
    assert applied.success, applied.message

    said = consequence(admin_client, "rollback_in_staging", "001_a")

    assert "Runs the rollback script (1 statement(s))" in said
    assert ONE_TRANSACTION in said
    assert NOTHING_REMAINS in said


def test_a_rollback_on_mysql_says_what_ran_is_not_undone(mysql_targets, admin_client):
    migration = stored(
        "001_a",
        "CREATE TABLE a (id INTEGER);\nCREATE TABLE b (id INTEGER);\n",
        rollback_sql="DROP TABLE b;\nDROP TABLE missing;\n",
    )
    [applied] = services.apply([migration], "staging")
    assert applied.success, applied.message

    said = consequence(admin_client, "rollback_in_staging", "001_a")
    confirm_as_shown(admin_client, "rollback_in_staging", "001_a")

    assert DDL_COMMITS in said
    assert "the statements that ran are not undone" in said
    assert NOTHING_REMAINS not in said
    # What the page said: the first statement's drop stays, the migration stays applied.
    assert "b" not in mysql_targets.tables("staging")
    assert "a" in mysql_targets.tables("staging")
    [row] = mysql_targets.ledger("staging")
    assert row["rolled_back_at"] is None


def test_a_script_with_its_own_transactions_is_said_to_keep_what_it_committed(
    targets: Targets, admin_client
):
    # Its first block commits; the second fails: the page says the first stays, and it does.
    stored(
        "001_a",
        "BEGIN;\nCREATE TABLE kept (id INTEGER);\nCOMMIT;\n"
        "BEGIN;\nINSERT INTO kept VALUES (1);\nINSERT INTO missing VALUES (1);\nCOMMIT;\n",
    )

    said = consequence(admin_client, "apply_to_staging", "001_a")
    confirm_as_shown(admin_client, "apply_to_staging", "001_a")

    assert "as written, not in one transaction" in said
    assert "what the script's COMMITs committed before it stays applied" in said
    assert NOTHING_REMAINS not in said
    assert "kept" in targets.tables("staging")
    assert targets.fetch("staging", "SELECT id FROM kept") == []
    [row] = targets.ledger("staging")
    assert (row["finished_at"], row["rolled_back_at"]) == (None, None)
