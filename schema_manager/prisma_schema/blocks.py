"""The top-level blocks of an existing ``schema.prisma``, to keep its configuration verbatim."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..exceptions import SchemaManagerError

_BLOCK_START = re.compile(r"^\s*(\w+)\s+(\w+)\s*\{")
_PROVIDER = re.compile(r'^\s*provider\s*=\s*"([^"]*)"', re.MULTILINE)
# Blocks that describe the database: rewritten by each sync. Everything else is kept.
GENERATED_KINDS = frozenset({"model", "view", "enum", "type"})


class PrismaSchemaError(SchemaManagerError):
    """The existing schema.prisma cannot be read or does not fit the target."""


@dataclass(frozen=True)
class Item:
    """A block with the comment lines right above it, or a free run of comment lines."""

    kind: str  # "generator", "datasource", "model", ..., or "comment"
    text: str


def parse(text: str) -> list[Item]:
    items: list[Item] = []
    comments: list[str] = []
    lines = text.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped:
            if comments:
                items.append(Item("comment", "\n".join(comments)))
                comments = []
            index += 1
            continue
        if stripped.startswith("//"):
            comments.append(line.rstrip())
            index += 1
            continue
        match = _BLOCK_START.match(line)
        if not match:
            raise PrismaSchemaError(
                f"Cannot read line {index + 1} of the Prisma schema: {stripped!r} is not a "
                "block (generator, datasource, model, enum, view, type) or a comment."
            )
        end = _block_end(lines, index)
        items.append(Item(match.group(1), "\n".join([*comments, *lines[index : end + 1]])))
        comments = []
        index = end + 1
    if comments:
        items.append(Item("comment", "\n".join(comments)))
    return items


def _block_end(lines: list[str], start: int) -> int:
    depth = 0
    for number in range(start, len(lines)):
        code = _without_strings_and_comments(lines[number])
        depth += code.count("{") - code.count("}")
        if depth <= 0:
            return number
    raise PrismaSchemaError(f"The Prisma schema's block on line {start + 1} is never closed.")


def _without_strings_and_comments(line: str) -> str:
    line = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
    return line.split("//", 1)[0]


def datasource_provider(items: list[Item]) -> str | None:
    for item in items:
        if item.kind == "datasource":
            match = _PROVIDER.search(item.text)
            return match.group(1) if match else None
    return None


def preview_features(items: list[Item]) -> set[str]:
    features: set[str] = set()
    for item in items:
        if item.kind == "generator":
            match = re.search(r"previewFeatures\s*=\s*\[([^\]]*)\]", item.text)
            if match:
                features.update(re.findall(r'"([^"]+)"', match.group(1)))
    return features


def default_items(provider: str) -> list[Item]:
    """The blocks ``prisma init`` writes, for a schema file that does not exist yet."""
    url = 'env("DATABASE_URL")'
    return [
        Item("generator", 'generator client {\n  provider = "prisma-client-js"\n}'),
        Item("datasource", f'datasource db {{\n  provider = "{provider}"\n  url      = {url}\n}}'),
    ]
