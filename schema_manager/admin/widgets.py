"""Form widgets of the migration change form: SQL in monospace, a "Generate rollback" button."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

CODE_ATTRS = {"class": "vLargeTextField sm-code-input", "rows": 12, "spellcheck": "false"}


class SQLTextarea(forms.Textarea):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({**CODE_ATTRS, **(attrs or {})})


class RollbackTextarea(SQLTextarea):
    """A SQL textarea with a button that fills it with the rollback generated from the SQL."""

    template_name = "schema_manager/widgets/rollback_textarea.html"

    def __init__(self, generate_url: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.generate_url = generate_url

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"].update(
            generate_url=self.generate_url,
            generate_label=_("Generate rollback from the SQL"),
            confirm_replace=_("Replace the rollback script with one generated from the SQL?"),
        )
        return context
