"""Reading the integration guide's code blocks so the tests can run them as written."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integration-guide.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)


def sql_rollback_examples() -> list[tuple[str, str]]:
    """(statement, promised rollback) pairs from the guide's ```sql blocks."""
    examples = []
    for block in re.findall(r"```sql\n(.*?)```", GUIDE.read_text(), re.S):
        lines = [line.strip() for line in block.strip().splitlines()]
        statement = lines[0]
        rollback = next(line for line in lines if line.startswith("-- Rollback:"))
        examples.append((statement, rollback.removeprefix("-- Rollback:").strip()))
    return examples


def run_block(source: str, namespace: dict) -> None:
    """Run a block like a notebook cell: top-level ``await`` allowed."""
    code = compile(source, str(GUIDE), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(code, namespace)
    if inspect.iscoroutine(outcome):
        asyncio.run(outcome)
