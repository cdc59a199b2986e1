from django.db import migrations, models


def mark_entries_with_a_folder(apps, schema_editor) -> None:
    """Entries imported before this field existed: those whose folder is on disk now."""
    from schema_manager.conf import app_settings
    from schema_manager.files import MigrationDirectory

    directory = MigrationDirectory.beside(app_settings.PRISMA_SCHEMA_PATH).path
    if not directory.is_dir():
        return
    folders = [entry.name for entry in directory.iterdir() if entry.is_dir()]
    Migration = apps.get_model("schema_manager", "Migration")
    for start in range(0, len(folders), 500):
        Migration.objects.using(schema_editor.connection.alias).filter(
            pk__in=folders[start : start + 500]
        ).update(kept_on_disk=True)


class Migration(migrations.Migration):
    dependencies = [
        ("schema_manager", "0006_versionrecord_verbose_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="migration",
            name="kept_on_disk",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="Its folder under migrations/ was imported or written. If that folder is deleted before the migration is applied anywhere, the migration is no longer planned.",
                verbose_name="kept on disk",
            ),
        ),
        migrations.RunPython(mark_entries_with_a_folder, migrations.RunPython.noop),
    ]
