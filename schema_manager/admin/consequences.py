"""What an apply or a rollback from the admin will do on its target, in the words of its
confirmation page: in one transaction, or statement by statement, and what a failure leaves
behind, as ``sql.transactional.atomicity`` decides for the engine and the script.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from ..sql.transactional import Atomicity
from ..targets import Target

VENDOR_NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite", "mysql": "MySQL/MariaDB"}


def vendor_name(target: Target) -> str:
    return VENDOR_NAMES.get(target.vendor, target.vendor)


def apply_consequence(
    atomicity: Atomicity, count: int, target: Target, *, own_transactions: bool = False
) -> str:
    """What applying a script of ``count`` statements does on ``target``, and what a failure
    leaves behind, as ``atomicity`` decides (``sql.transactional``); a script that controls
    its own transactions (``controls_transactions``) runs as written whatever the engine."""
    values = {"count": count, "alias": target.alias, "vendor": vendor_name(target)}
    if own_transactions:
        return (
            _(
                "Runs %(count)d statement(s) on %(alias)s (%(vendor)s) as written, not in one "
                "transaction: the script has its own BEGIN / COMMIT, which run as Prisma and "
                "psql run them. It is recorded as applied in _prisma_migrations and the version "
                "history once it has run. On an error, the block that failed is rolled back, "
                "but what the script's COMMITs committed before it stays applied: nothing "
                "undoes it, and the migration is left failed in _prisma_migrations (as Prisma "
                "leaves it), to check and resolve by hand."
            )
            % values
        )
    if atomicity is Atomicity.ONE_TRANSACTION:
        return (
            _(
                "Runs %(count)d statement(s) on %(alias)s (%(vendor)s) in one transaction and "
                "records it as applied in _prisma_migrations and the version history. On any error "
                "nothing of it remains."
            )
            % values
        )
    return " ".join(
        [
            _stepwise_reason(atomicity, count, values),
            _(
                "Its row in _prisma_migrations counts each statement as it commits; it is "
                "recorded as applied, in the version history too, once all have run. On an "
                "error, what the statements that ran created or altered (tables, columns, "
                "indexes, views, constraints, defaults) is undone, newest first; rows they "
                "inserted, updated or deleted are not. Where a statement cannot be undone, the "
                "migration is left failed in _prisma_migrations, naming the statements still in "
                "effect, to settle by hand."
            ),
        ]
    )


def rollback_consequence(atomicity: Atomicity, count: int, target: Target) -> str:
    """What running a rollback script of ``count`` statements does on ``target``."""
    values = {"count": count, "alias": target.alias, "vendor": vendor_name(target)}
    if atomicity is Atomicity.ONE_TRANSACTION:
        return (
            _(
                "Runs the rollback script (%(count)d statement(s)) on %(alias)s (%(vendor)s) in "
                "one transaction and marks the migration rolled back in _prisma_migrations; Prisma "
                "then sees it as pending. On any error nothing of it remains."
            )
            % values
        )
    return " ".join(
        [
            _stepwise_reason(atomicity, count, values),
            _(
                "The migration is marked rolled back in _prisma_migrations once all have run; "
                "Prisma then sees it as pending. On an error, the statements that ran are not "
                "undone: the migration stays applied and the message names what is still in "
                "effect."
            ),
        ]
    )


def _stepwise_reason(atomicity: Atomicity, count: int, values: dict[str, object]) -> str:
    if atomicity is Atomicity.DDL_COMMITS:
        return (
            _(
                "Runs %(count)d statement(s) on %(alias)s (%(vendor)s) one at a time, not in one "
                "transaction: %(vendor)s commits each DDL statement as it runs."
            )
            % values
        )
    return (
        _(
            "Runs %(count)d statement(s) on %(alias)s (%(vendor)s) one at a time, outside a "
            "transaction: the script declares no-transaction, or its statements cannot run inside "
            "one (such as CREATE INDEX CONCURRENTLY)."
        )
        % values
    )
