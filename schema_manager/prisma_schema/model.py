"""The neutral description of a database that introspection produces and the writer reads."""

from __future__ import annotations

from dataclasses import dataclass, field

# Referential actions, spelled as Prisma spells them.
NO_ACTION, RESTRICT, CASCADE, SET_NULL, SET_DEFAULT = (
    "NoAction",
    "Restrict",
    "Cascade",
    "SetNull",
    "SetDefault",
)


@dataclass(frozen=True)
class Column:
    name: str
    # The vendor's type name, lowercase (PostgreSQL: pg_type.typname of the element for arrays;
    # SQLite: the declared type).
    db_type: str
    nullable: bool
    # The default as the database shows it (pg_get_expr, PRAGMA table_info), or None.
    default: str | None = None
    autoincrement: bool = False
    identity: bool = False  # PostgreSQL: GENERATED ... AS IDENTITY
    array: bool = False
    # Type modifiers: (length,), (precision,), (precision, scale); empty when none.
    params: tuple[int, ...] = ()
    # The database's full spelling of the type, for Unsupported("...").
    full_type: str = ""
    is_enum: bool = False


@dataclass(frozen=True)
class IndexColumn:
    name: str
    descending: bool = False
    # PostgreSQL: the operator class when it is not the type's default one (GIN, GiST...).
    opclass: str | None = None
    # PostgreSQL: NULLS FIRST on an ascending column, NULLS LAST on a descending one.
    unusual_nulls: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool
    method: str = "btree"  # PostgreSQL's access method: btree, hash, gin, gist, spgist, brin
    deferrable: bool = False  # a DEFERRABLE (or INITIALLY DEFERRED) unique or key constraint

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


@dataclass(frozen=True)
class PrimaryKey:
    columns: tuple[str, ...]
    name: str | None = None  # SQLite primary keys have no name


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    referenced_table: str
    referenced_columns: tuple[str, ...]
    on_delete: str = NO_ACTION
    on_update: str = NO_ACTION
    name: str | None = None  # SQLite foreign keys have no name
    deferrable: bool = False


@dataclass
class Table:
    name: str
    columns: list[Column] = field(default_factory=list)
    primary_key: PrimaryKey | None = None
    # Unique and plain indexes (unique constraints included), in the database's order.
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    # PostgreSQL features Prisma cannot describe and notes in a comment above the model.
    has_expression_index: bool = False
    is_partitioned: bool = False  # a partitioned table with partitions (not listed themselves)
    has_subclass: bool = False  # a table others inherit from
    has_check_constraints: bool = False
    has_exclusion_constraints: bool = False
    has_row_level_security: bool = False
    has_comments: bool = False  # COMMENT ON the table or one of its columns

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    def has_identifier(self, usable=lambda column: True) -> bool:
        """A primary key or a unique index over required (and usable) columns: Prisma needs one."""
        keys = [self.primary_key.columns] if self.primary_key else []
        keys += [index.column_names for index in self.indexes if index.unique]
        return any(
            all(not self.column(n).nullable and usable(self.column(n)) for n in key) for key in keys
        )


@dataclass(frozen=True)
class Enum:
    name: str
    values: tuple[str, ...]


@dataclass
class Database:
    """Tables (sorted by name), views, and enums of one schema of one target."""

    provider: str  # Prisma's datasource provider: "postgresql", "sqlite"
    tables: list[Table] = field(default_factory=list)
    views: list[Table] = field(default_factory=list)
    enums: list[Enum] = field(default_factory=list)
