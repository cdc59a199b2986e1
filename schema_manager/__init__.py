"""Safe raw-SQL schema migrations for Django, in Prisma Migrate's formats.

``from schema_manager import SchemaManager, Migration`` works before Django's apps are ready:
the names are resolved on first access (PEP 562), so importing the package loads no models.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manager import SchemaManager as SchemaManager
    from .models import Migration as Migration
    from .models import VersionRecord as VersionRecord
    from .results import MigrationResult as MigrationResult
    from .results import ValidationResult as ValidationResult

__version__ = "0.1.0"

_EXPORTS = {
    "SchemaManager": "schema_manager.manager",
    "Migration": "schema_manager.models",
    "VersionRecord": "schema_manager.models",
    "MigrationResult": "schema_manager.results",
    "ValidationResult": "schema_manager.results",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'schema_manager' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
