"""Pure SQL analysis: splitting, rollback generation and safety rules. No database access."""

from .rollback import RollbackScript, generate_rollback
from .rules import Finding, check_migration_id, check_sql
from .statements import Statement, iter_statements, parse_statements, statements_of

__all__ = [
    "Finding",
    "RollbackScript",
    "Statement",
    "check_migration_id",
    "check_sql",
    "generate_rollback",
    "iter_statements",
    "parse_statements",
    "statements_of",
]
