"""Safe raw-SQL schema migrations for Django, in Prisma Migrate's formats.

``import schema_manager`` works before Django is set up: the names it exports are resolved
on first access (PEP 562), so importing the package loads no models. ``SchemaManager``,
``Migration`` and ``VersionRecord`` are (or use) Django models, so like any model they can
only be imported once ``django.setup()`` has run (a clear error says so before);
``MigrationResult`` and ``ValidationResult`` can be imported at any time.
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


# The exports that import the app's models.
_NEED_APPS = frozenset({"SchemaManager", "Migration", "VersionRecord"})


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'schema_manager' has no attribute {name!r}")
    if name in _NEED_APPS:
        _require_apps(name)
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _require_apps(name: str) -> None:
    """Say what to do, where Django would only say "Apps aren't loaded yet"."""
    from django.apps import apps
    from django.core.exceptions import AppRegistryNotReady

    if not apps.apps_ready:
        raise AppRegistryNotReady(
            f"schema_manager.{name} uses Django models: call django.setup() (with "
            "DJANGO_SETTINGS_MODULE set) before importing it, or import it inside a function."
        )
