"""Errors raised by schema_manager. Each message is one sentence an operator can act on."""

from __future__ import annotations


class SchemaManagerError(Exception):
    """Base class of every error this app raises on purpose."""


class UnknownEnvironmentError(SchemaManagerError):
    def __init__(self, environment: str, known: list[str]) -> None:
        super().__init__(
            f"Unknown environment {environment!r}; configured environments are "
            f"{', '.join(repr(name) for name in known) or 'none'} (SCHEMA_MANAGER['ENVIRONMENTS'])."
        )
        self.environment = environment


class UnsupportedDatabaseError(SchemaManagerError):
    """The target's engine has no backend here."""


class LockTimeoutError(SchemaManagerError):
    """Another applier held the target's migration lock for longer than LOCK_WAIT."""


class MigrationStateError(SchemaManagerError):
    """The operation does not fit the migration's state on the target (e.g. not applied)."""


class NotAppliedError(MigrationStateError):
    """A rollback found the migration not applied (any more) on the target."""


class LedgerGuardError(MigrationStateError):
    """The ledger no longer holds what this run wrote there, or the run no longer holds the
    migration lock: it stops before writing to the ledger again."""


class AppliedMigrationError(MigrationStateError):
    """The SQL of a migration that is applied somewhere must not change."""


class CommitWithheld(SchemaManagerError):
    """What had to be done before a migration could commit on the target failed (writing
    the previous migration's history record): the migration was rolled back, not recorded."""


class MigrationFileError(SchemaManagerError):
    """A file or folder of the migrations directory that cannot be used as it is (a NUL
    byte, not UTF-8, not a regular file, a link out of the directory); the message names it
    by its path inside the directory."""


class LedgerUnusable(MigrationStateError):
    """The target's ``_prisma_migrations`` cannot serve as the ledger: it is another table of
    that name, or this role cannot read or write it. Found before anything runs."""


class HistoryNotWritten(SchemaManagerError):
    """The app's database refused the history record of an operation the target has
    committed. ``key`` and ``fields`` are the record's, ``cause`` the database's error."""

    def __init__(self, key: dict, fields: dict, cause: str) -> None:
        super().__init__(f"The history record could not be written: {cause}")
        self.key, self.fields, self.cause = key, fields, cause


class ChangeRequestError(SchemaManagerError):
    """A change request refused an operation or a decision: the message says which request,
    which migration and why; nothing ran and nothing changed."""


class ChangeScheduled(ChangeRequestError):
    """An approved change request arrived outside its environment's maintenance window: it is
    scheduled, and ``run_scheduled_change_requests`` runs it when the window opens."""
