"""Export the evidence of one change request (JSON or HTML) for an auditor's sample."""

from __future__ import annotations

from pathlib import Path

from ...change_requests import evidence
from ._base import SchemaCommand


class Command(SchemaCommand):
    help = "Write the evidence of change request N: JSON (see evidence.schema.json) or HTML."

    def add_arguments(self, parser) -> None:
        parser.add_argument("number", metavar="N")
        parser.add_argument("--format", choices=["json", "html"], default="json")
        parser.add_argument("--output", "-o", metavar="FILE", help="Write here (default: stdout).")

    def handle(self, *args, number: str, **options) -> None:
        collected = evidence.collect(number)
        text = (
            evidence.to_json(collected)
            if options["format"] == "json"
            else evidence.to_html(collected)
        )
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text)
