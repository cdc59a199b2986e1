"""Directives a migration gives in comment lines: ``-- schema-manager: <directive>``.

-- schema-manager: no-transaction
-- schema-manager: allow drop-column, rename-column
-- schema-manager: accept-data-loss
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"^[ \t]*--[ \t]*schema-manager:[ \t]*(.*?)[ \t]*\r?$", re.MULTILINE)
_ALLOW = re.compile(r"allow[ \t]+(.+)\Z", re.IGNORECASE)


@dataclass(frozen=True)
class Directives:
    no_transaction: bool
    allowed_rules: frozenset[str]
    # The migration accepts losing what it removes where archiving it is refused (over the
    # archive cap, or a statement that cannot be archived).
    accept_data_loss: bool = False


def parse_directives(sql: str) -> Directives:
    """The directives of ``sql``'s comment lines; unknown directives are ignored."""
    no_transaction = accept_data_loss = False
    allowed: set[str] = set()
    for match in _DIRECTIVE.finditer(sql):
        directive = match.group(1)
        if directive.lower() == "no-transaction":
            no_transaction = True
        elif directive.lower() == "accept-data-loss":
            accept_data_loss = True
        elif allow := _ALLOW.match(directive):
            allowed.update(
                rule.strip().lower() for rule in allow.group(1).split(",") if rule.strip()
            )
    return Directives(no_transaction, frozenset(allowed), accept_data_loss)
