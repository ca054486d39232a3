"""A per-plan ceiling on the audio one request may produce, set on the seeded plans."""

from django.db import migrations, models

# Seconds of audio per request, by plan slug. Plans an operator added keep the default.
CEILINGS = {"free": 300, "starter": 600, "creator": 900, "pro": 900, "enterprise": 1800}


def seed(apps, schema_editor):
    Plan = apps.get_model("accounts", "Plan")
    for slug, seconds in CEILINGS.items():
        Plan.objects.filter(slug=slug).update(max_audio_seconds_per_request=seconds)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_analytics_hourly_org_rollups")]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="max_audio_seconds_per_request",
            field=models.PositiveIntegerField(
                default=600,
                help_text="The most audio one request may produce, in seconds. A text that would speak longer ends "
                "with output_too_long, and its unspoken part is refunded.",
            ),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
