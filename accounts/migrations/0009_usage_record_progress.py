"""Progress on reserved usage rows (characters delivered, a heartbeat): a sweep finishes the ones left behind."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_plan_max_audio_seconds_per_request")]

    operations = [
        migrations.AddField(
            model_name="usagerecord",
            name="characters_delivered",
            field=models.PositiveIntegerField(
                default=0, help_text="Characters whose audio reached the client so far (while reserved)."
            ),
        ),
        migrations.AddField(
            model_name="usagerecord",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, help_text="Last progress of a reserved request.", null=True),
        ),
        migrations.AddIndex(
            model_name="usagerecord",
            index=models.Index(
                condition=models.Q(("status", "reserved")),
                fields=["heartbeat_at", "created_at"],
                name="usage_reserved_idx",
            ),
        ),
    ]
