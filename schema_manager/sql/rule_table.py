"""The safety rules: id, default severity, and what to do instead (detection: ``rule_detection``).

Ids are stable: settings (``SCHEMA_MANAGER["RULES"]``) and acknowledgement comments
(``-- schema-manager: allow <id>``) name them, and docs/validation.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

POSTGRESQL = frozenset({"postgresql"})
MYSQL = frozenset({"mysql"})
_BACK_UP = "Back the data up first or make the change additive."


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str  # what it catches, for the docs and admin
    advice: str  # what to do instead
    destructive: bool = False  # data loss: blocks in protected environments
    acknowledgeable: bool = True  # ``-- schema-manager: allow <id>`` may accept it
    dialects: frozenset[str] | None = None  # None: every dialect
    # For a destructive rule: why it matters, after what the statement does.
    consequence: str = "this cannot be undone by a rollback script"


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "drop-database", "error", "DROP DATABASE",
            "Migrations may never do that.", destructive=True, acknowledgeable=False,
        ),
        Rule("drop-table", "warning", "DROP TABLE", _BACK_UP, destructive=True),
        Rule("drop-column", "warning", "ALTER TABLE ... DROP COLUMN", _BACK_UP, destructive=True),
        Rule("drop-schema", "warning", "DROP SCHEMA", _BACK_UP, destructive=True),
        Rule("truncate", "warning", "TRUNCATE", _BACK_UP, destructive=True),
        Rule(
            "truncate-cascade", "warning", "TRUNCATE ... CASCADE",
            "Truncate the referencing tables by name, so the script says what it empties.",
            destructive=True,
        ),
        Rule(
            "delete-without-where", "warning",
            "DELETE without WHERE, or with a WHERE that is always true (true, 1=1, 'a'='a')",
            _BACK_UP, destructive=True,
        ),
        Rule(
            "update-without-where", "warning",
            "UPDATE without WHERE, or with a WHERE that is always true",
            _BACK_UP, destructive=True,
        ),
        Rule(
            "dynamic-sql", "warning",
            "SQL the rules cannot read before it runs: EXECUTE of SQL built at run time in a DO "
            "block or a routine's body, EXECUTE of a prepared statement, CALL of a procedure",
            "Review what it runs; where destructive statements block (production), it blocks "
            "too unless allowed (--allow-destructive).",
            destructive=True,
            consequence="the rules cannot see what that SQL does, so it may drop or delete data",
        ),
        Rule(
            "create-index-not-concurrently", "warning",
            "CREATE INDEX on an existing table without CONCURRENTLY",
            "It blocks writes to the table while it builds; use CREATE INDEX CONCURRENTLY in a "
            "migration marked '-- schema-manager: no-transaction'.",
            dialects=POSTGRESQL,
        ),
        Rule(
            "drop-index-not-concurrently", "warning", "DROP INDEX without CONCURRENTLY",
            "It locks the table against reads and writes; use DROP INDEX CONCURRENTLY in a "
            "migration marked '-- schema-manager: no-transaction'.",
            dialects=POSTGRESQL,
        ),
        Rule(
            "concurrently-in-transaction", "error",
            "CREATE/DROP/REINDEX ... CONCURRENTLY in a transactional migration",
            "PostgreSQL refuses it inside a transaction; put it alone in a migration marked "
            "'-- schema-manager: no-transaction'.",
            acknowledgeable=False, dialects=POSTGRESQL,
        ),
        Rule(
            "add-column-not-null-without-default", "warning",
            "ADD COLUMN ... NOT NULL without DEFAULT on an existing table",
            "It fails as soon as the table has a row; add a DEFAULT, or add the column "
            "nullable, backfill it, then set NOT NULL.",
        ),
        Rule(
            "set-not-null", "warning", "ALTER COLUMN ... SET NOT NULL on an existing table",
            "It scans the whole table under an exclusive lock; first ADD CONSTRAINT ... CHECK "
            "(col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it, then SET NOT NULL.",
            dialects=POSTGRESQL,
        ),
        Rule(
            "alter-column-type", "warning", "ALTER COLUMN ... TYPE on an existing table",
            "Most type changes rewrite the table under an exclusive lock; add a new column, "
            "backfill it in batches, and switch readers over.",
            dialects=POSTGRESQL,
        ),
        Rule(
            "foreign-key-without-not-valid", "warning",
            "ADD FOREIGN KEY on an existing table without NOT VALID",
            "Validation scans the table and locks both tables; add it NOT VALID, then "
            "VALIDATE CONSTRAINT in a later migration.",
            dialects=POSTGRESQL,
        ),
        Rule(
            "check-without-not-valid", "warning",
            "ADD CHECK on an existing table without NOT VALID",
            "Validation scans the table under an exclusive lock; add it NOT VALID, then "
            "VALIDATE CONSTRAINT in a later migration.",
            dialects=POSTGRESQL,
        ),
        Rule(
            "unique-without-using-index", "warning",
            "ADD UNIQUE / PRIMARY KEY on an existing table, not USING INDEX",
            "It builds the index while blocking writes; CREATE UNIQUE INDEX CONCURRENTLY "
            "first, then ADD CONSTRAINT ... UNIQUE (or PRIMARY KEY) USING INDEX.",
            dialects=POSTGRESQL,
        ),
        Rule(
            "rename-column", "warning", "RENAME COLUMN",
            "Running code still uses the old name; add the new column, write both, move "
            "readers, then drop the old one (expand and contract).",
        ),
        Rule(
            "rename-table", "warning", "ALTER TABLE ... RENAME TO",
            "Running code still uses the old name; create a view with the old name, or "
            "deploy code that handles both first.",
        ),
        Rule(
            "volatile-default", "warning",
            "ADD COLUMN with a volatile DEFAULT (random(), clock_timestamp(), "
            "gen_random_uuid(), nextval / serial, identity, stored generated)",
            "It rewrites the whole table under an exclusive lock; add the column without the "
            "default, set the default, and backfill existing rows in batches.",
            dialects=POSTGRESQL,
        ),
        Rule(
            "vacuum-full", "warning", "VACUUM FULL",
            "It rewrites the table under an exclusive lock (and cannot run in a transaction); "
            "run it by hand in a maintenance window, or use pg_repack.",
        ),
        Rule(
            "cluster", "warning", "CLUSTER",
            "It rewrites the table under an exclusive lock; run it by hand in a maintenance "
            "window, or use pg_repack.",
            dialects=POSTGRESQL,
        ),
        Rule(
            "transaction-control", "warning",
            "BEGIN / START TRANSACTION / COMMIT / ROLLBACK / END: the script controls its own "
            "transactions",
            "It runs as written, outside the tool's transaction, as prisma migrate deploy and "
            "psql run it: what its COMMITs commit stays if a later statement fails (the attempt "
            "is then left unresolved, as Prisma leaves it); for all or nothing, remove them and "
            "let the migration run in one transaction with its ledger row.",
        ),
        Rule(
            "session-setting", "error",
            "SET search_path / SCHEMA / ROLE / SESSION AUTHORIZATION, read-only transactions "
            "(SET SESSION CHARACTERISTICS, SET TRANSACTION READ ONLY, *read_only settings), "
            "set_config() of those, MySQL USE, SQLite PRAGMA query_only",
            "The ledger is read and written, and the next migrations run, in this same "
            "session; qualify names with their schema instead, and leave roles and read-only "
            "modes to the database's configuration.",
            acknowledgeable=False,
        ),
        Rule(
            "foreign-savepoint", "error",
            "RELEASE / ROLLBACK TO a savepoint the migration did not create",
            "The migration runs inside the tool's own transaction and savepoints; release or "
            "roll back only savepoints the migration creates itself.",
            acknowledgeable=False,
        ),
        Rule(
            "ledger-table", "error", "a statement naming _prisma_migrations (the ledger)",
            "The ledger is what makes a migration applied or pending: only schema_manager and "
            "Prisma write it; to resolve a migration use 'prisma migrate resolve' or "
            "rollback_schema_migration.",
            acknowledgeable=False,
        ),
        Rule(
            "advisory-unlock", "error",
            "pg_advisory_unlock / pg_advisory_unlock_all / pg_advisory_unlock_shared, MySQL "
            "RELEASE_LOCK / RELEASE_ALL_LOCKS",
            "Run by 'prisma migrate deploy', it releases the lock that keeps two appliers "
            "apart; on PostgreSQL take pg_advisory_xact_lock instead, which ends with the "
            "migration's transaction.",
            acknowledgeable=False,
        ),
        Rule(
            "mysql-table-copy", "warning",
            "MySQL ALTER TABLE that copies the table (MODIFY, CHANGE, CONVERT TO, primary key "
            "changes, ENGINE, ORDER BY, FORCE, ALGORITHM=COPY) or OPTIMIZE TABLE",
            "It blocks writes while the table is copied; add ALGORITHM=INSTANT or INPLACE with "
            "LOCK=NONE so MySQL refuses rather than copies, or use gh-ost / pt-online-schema-"
            "change.",
            dialects=MYSQL,
        ),
    )
}  # fmt: skip
