"""The comments ``prisma db pull`` writes above a model for what migrations cannot express."""

from __future__ import annotations

from .identifiers import RESERVED_NAMES, type_name
from .kept_names import Naming
from .model import Table

# The comments db pull writes above a model, in its order (the table's trait, the comment).
_SETUP = "requires additional setup for migrations. Visit https://pris.ly/d/"
MODEL_COMMENTS = (
    (
        "is_partitioned",
        f"This table is a partition table and {_SETUP}partition-tables for more info.",
    ),
    ("has_subclass", f"This table has subclasses and {_SETUP}table-inheritance for more info."),
    (
        "has_check_constraints",
        f"This table contains check constraints and {_SETUP}check-constraints for more info.",
    ),
    (
        "has_exclusion_constraints",
        "This table contains exclusion constraints and "
        f"{_SETUP}exclusion-constraints for more info.",
    ),
    (
        "ignored",
        "The underlying table does not contain a valid unique identifier and can therefore "
        "currently not be handled by Prisma Client.",
    ),
    (
        "has_comments",
        "This model or at least one of its fields has comments in the database, and requires an "
        "additional setup for migrations: Read more: https://pris.ly/d/database-comments",
    ),
    (
        "non_default_deferring",
        "This model has constraints using non-default deferring rules and "
        f"{_SETUP}constraint-deferring for more info.",
    ),
    (
        "has_row_level_security",
        f"This model contains row level security and {_SETUP}row-level-security for more info.",
    ),
    (
        "non_default_null_position",
        "This model contains an index with non-default null sort order and "
        f"{_SETUP}default-index-null-ordering for more info.",
    ),
    (
        "has_expression_index",
        "This model contains an expression index which requires additional setup for "
        "migrations. Visit https://pris.ly/d/expression-indexes for more info.",
    ),
)
GENERATED_COMMENTS = frozenset(f"/// {text}" for _, text in MODEL_COMMENTS)
# Comments db pull writes only above a model that is new to the file (re-introspection keeps
# the file's own comments instead); the others are added whenever they apply.
_NEW_MODELS_ONLY = frozenset(
    {
        "is_partitioned",
        "has_subclass",
        "has_check_constraints",
        "has_exclusion_constraints",
        "has_comments",
        "non_default_deferring",
        "has_row_level_security",
    }
)


def model_comments(table: Table, ignored: bool, naming: Naming) -> list[str]:
    """The ``///`` lines above the model: the file's own, then Prisma's that apply."""
    existing = naming.exists(table.name)
    lines = naming.docs(table.name)
    if not existing:
        lines += renamed_comment("model", table.name)
    traits = {
        "ignored": ignored,
        "non_default_deferring": any(index.deferrable for index in table.indexes)
        or any(key.deferrable for key in table.foreign_keys),
        "non_default_null_position": any(
            column.unusual_nulls for index in table.indexes for column in index.columns
        ),
    }
    for trait, text in MODEL_COMMENTS:
        applies = traits[trait] if trait in traits else getattr(table, trait)
        if not applies or (existing and trait in _NEW_MODELS_ONLY):
            continue
        # Like db pull, a comment the documentation already holds is not added twice.
        if not any(text in line for line in lines):
            lines.append(f"/// {text}")
    return lines


def renamed_comment(kind: str, name: str) -> list[str]:
    """db pull's note on a model or view it renamed because its name is reserved."""
    if name not in RESERVED_NAMES:
        return []
    return [
        f"/// This {kind} has been renamed to '{type_name(name)}' during introspection, because "
        f"the original name '{name}' is reserved."
    ]
