"""System checks on the Prisma schema sync settings."""

from __future__ import annotations

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from ..conf import app_settings
from .sync import READ_ONLY_ENVIRONMENTS


@register(Tags.compatibility)
def check_prisma_sync(app_configs=None, **kwargs) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    known = app_settings.ENVIRONMENTS
    never_written = READ_ONLY_ENVIRONMENTS | app_settings.PROTECTED_ENVIRONMENTS
    for environment in sorted(app_settings.PRISMA_SYNC_ENVIRONMENTS):
        if environment not in known:
            messages.append(
                Warning(
                    f"SCHEMA_MANAGER['PRISMA_SYNC_ENVIRONMENTS'] names {environment!r}, which "
                    "is not one of the configured environments.",
                    hint=f"Use one of: {', '.join(sorted(known))}.",
                    id="schema_manager.W801",
                )
            )
        elif environment in never_written:
            messages.append(
                Warning(
                    f"SCHEMA_MANAGER['PRISMA_SYNC_ENVIRONMENTS'] names {environment!r}, whose "
                    "schema.prisma is never written; each apply there will only warn.",
                    hint="Sync from development; use `sync_prisma_schema --check` elsewhere.",
                    id="schema_manager.W802",
                )
            )
    command = app_settings.raw("PRISMA_POST_SYNC_COMMAND")
    if command is not None and not (
        isinstance(command, (list, tuple)) and all(isinstance(part, str) for part in command)
    ):
        messages.append(
            Error(
                "SCHEMA_MANAGER['PRISMA_POST_SYNC_COMMAND'] must be a list of strings, "
                f"not {command!r}.",
                hint='For example ["npx", "prisma", "generate"].',
                id="schema_manager.E801",
            )
        )
    return messages
