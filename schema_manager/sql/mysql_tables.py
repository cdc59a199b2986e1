"""Reading MySQL/MariaDB's ``SHOW CREATE TABLE`` text (pure): each column's definition, as
the server writes it, for putting a column back exactly as it was."""

from __future__ import annotations


def column_definitions(create: str) -> dict[str, tuple[str, str]]:
    """Each column of ``create`` by lower-cased name: (its whole line, its definition after
    the name: type, nullability, default, comment). Keys and constraints are left out."""
    found = {}
    for line in create.splitlines()[1:]:
        line = line.strip().rstrip(",")
        if not line.startswith("`"):
            continue  # keys and constraints
        end = 1
        while True:  # the closing backquote of the name (a doubled one is part of it)
            end = line.index("`", end)
            if line[end + 1 : end + 2] != "`":
                break
            end += 2
        found[line[1:end].replace("``", "`").lower()] = (line, line[end + 1 :].strip())
    return found
