"""``ScriptAnalysis``: a script's analysis as stored, by checksum (see ``analyses``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ScriptAnalysis(models.Model):
    """What analysing a script found, kept by the script's checksum (see ``analyses.py``).

    ``context`` names everything else the result depends on (the target's engine, the rule
    severities in force, the analyser's own code), so a row is only ever reused for the
    same question."""

    checksum = models.CharField(_("checksum"), max_length=64)
    context = models.CharField(_("context"), max_length=64)
    findings = models.JSONField(_("findings"), default=list)
    stepwise = models.BooleanField(_("runs statement by statement"), default=False)
    statements = models.PositiveIntegerField(_("statements"), default=0)
    cuts = models.JSONField(
        _("cuts"),
        default=list,
        help_text=_(
            "For a large script: where to cut it into queries of whole statements, as "
            "[offset, statements before it] pairs, so that it runs without being split again."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("script analysis")
        verbose_name_plural = _("script analyses")
        constraints = [
            models.UniqueConstraint(
                fields=["checksum", "context"], name="schema_manager_analysis_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.checksum[:12]} ({self.context[:8]})"
