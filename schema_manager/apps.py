from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchemaManagerConfig(AppConfig):
    name = "schema_manager"
    verbose_name = _("Schema migrations")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from . import checks  # noqa: F401  (registers the system checks)
        from .change_requests.voiding import migration_saved
        from .fleets import checks as fleet_checks  # noqa: F401
        from .models import Migration
        from .prisma_schema import checks as prisma_checks  # noqa: F401

        post_save.connect(migration_saved, sender=Migration, dispatch_uid="sm_void_pins")
