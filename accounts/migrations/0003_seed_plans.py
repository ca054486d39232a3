from django.db import migrations

ALL_FORMATS = ["wav", "mp3", "opus", "flac", "pcm", "ulaw"]

PLANS = [
    # slug, name, $/month (cents), characters/month, per request, requests/min, concurrent, retention days, formats, API
    ("free", "Free", 0, 10_000, 1_000, 10, 1, 7, ["wav", "mp3"], True),
    ("starter", "Starter", 500, 30_000, 2_500, 30, 2, 30, ["wav", "mp3", "pcm"], True),
    ("creator", "Creator", 2200, 100_000, 5_000, 60, 3, 90, ["wav", "mp3", "pcm", "opus", "flac"], True),
    ("pro", "Pro", 9900, 500_000, 5_000, 120, 5, 180, ALL_FORMATS, True),
    ("enterprise", "Enterprise", 0, 5_000_000, 10_000, 600, 20, 365, ALL_FORMATS, True),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("accounts", "Plan")
    for order, (slug, name, price, monthly, per_request, rpm, concurrent, retention, formats, api) in enumerate(PLANS):
        Plan.objects.update_or_create(
            slug=slug,
            defaults=dict(
                name=name,
                sort_order=order,
                price_monthly_cents=price,
                monthly_characters=monthly,
                max_characters_per_request=per_request,
                requests_per_minute=rpm,
                concurrent_requests=concurrent,
                history_retention_days=retention,
                allowed_formats=formats,
                api_access=api,
            ),
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_tenants_plans_keys_ledger")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
