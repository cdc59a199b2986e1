"""What the public API returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import VersionRecord
    from .sql import Finding


@dataclass
class MigrationResult:
    """The outcome of one apply or rollback in one environment."""

    success: bool
    migration_id: str
    environment: str
    message: str
    error: str | None = None
    execution_time: float = 0.0
    operation: str = "apply"
    statements_run: int = 0
    # True when a failure's changes were undone (the transaction was rolled back).
    rollback_executed: bool = False
    # True when nothing had to be done (already applied with the same checksum).
    skipped: bool = False
    rollback_script: str = ""
    warnings: list[str] = field(default_factory=list)
    record: VersionRecord | None = field(default=None, repr=False)


@dataclass
class ValidationResult:
    """Errors block an apply; warnings are shown and (outside protected environments) allowed."""

    is_valid: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list, repr=False)
