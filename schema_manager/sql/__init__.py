"""Pure SQL analysis: splitting, rollback generation and safety rules. No database access."""

from .directives import Directives, parse_directives
from .rollback import RollbackScript, generate_rollback
from .rule_checks import Finding, check_migration_id, check_sql
from .rule_table import RULES, Rule
from .statements import SqlInputError, Statement, parse_statements

__all__ = [
    "RULES",
    "Directives",
    "Finding",
    "RollbackScript",
    "Rule",
    "SqlInputError",
    "Statement",
    "check_migration_id",
    "check_sql",
    "generate_rollback",
    "parse_directives",
    "parse_statements",
]
