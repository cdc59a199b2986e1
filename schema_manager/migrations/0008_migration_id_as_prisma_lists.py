from django.db import migrations, models

import schema_manager.models


class Migration(migrations.Migration):
    dependencies = [
        ("schema_manager", "0007_migration_kept_on_disk"),
    ]

    operations = [
        migrations.AlterField(
            model_name="migration",
            name="id",
            field=models.CharField(
                help_text="Its folder's name under migrations/, sorted by name: e.g. 001_add_users_table or 20240101120000_add_users.",
                max_length=255,
                primary_key=True,
                serialize=False,
                validators=[schema_manager.models.validate_migration_id],
                verbose_name="id",
            ),
        ),
    ]
