from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("schema_manager", "0002_versionrecord_faked"),
    ]

    operations = [
        migrations.AddField(
            model_name="versionrecord",
            name="recovery",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "—"),
                    ("rolled_back", "transaction rolled back"),
                    ("compensated", "compensated"),
                    ("incomplete", "compensation incomplete"),
                    ("interrupted", "interrupted"),
                ],
                default="",
                help_text="For a failed attempt: rolled back by the transaction, compensated by running the inverses of its completed statements (MySQL/MariaDB, no-transaction SQL), compensation incomplete (see the error for what remains), or interrupted (the process died).",
                max_length=16,
                verbose_name="recovery",
            ),
        ),
        migrations.AddConstraint(
            model_name="versionrecord",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    models.Q(("ledger_id", ""), _negated=True),
                    models.Q(("operation", "apply"), ("status", "rolled_back"), _connector="OR"),
                ),
                fields=("environment", "ledger_id", "operation"),
                name="sm_history_one_per_ledger_event",
            ),
        ),
    ]
