"""``-- schema-manager: ...`` comment directives in a migration script.

Two directives, each on a comment line of its own, anywhere in the script:

- ``-- schema-manager: no-transaction`` runs the migration statement by statement outside a
  transaction (needed for ``CREATE INDEX CONCURRENTLY`` and friends);
- ``-- schema-manager: allow <rule-id>[, <rule-id> ...]`` allows the named validation rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"^\s*--\s*schema-manager\s*:\s*(?P<body>.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Directives:
    no_transaction: bool
    allowed_rules: frozenset[str]


def parse_directives(sql: str) -> Directives:
    """The directives declared by comment lines of ``sql`` (unknown ones are ignored)."""
    no_transaction = False
    allowed: set[str] = set()
    for line in sql.splitlines():
        match = _DIRECTIVE.match(line)
        if match is None:
            continue
        body = match.group("body")
        keyword, _, rest = body.partition(" ")
        keyword = keyword.lower()
        if keyword == "no-transaction" and not rest.strip():
            no_transaction = True
        elif keyword == "allow":
            allowed.update(rule.strip().lower() for rule in rest.split(",") if rule.strip())
    return Directives(no_transaction=no_transaction, allowed_rules=frozenset(allowed))
