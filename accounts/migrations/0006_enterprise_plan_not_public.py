"""The Enterprise plan is assigned by the operator, not bought on the pricing page.

It was seeded public with a price of 0, so the pricing page offered it as "Free".
"""

from django.db import migrations


def hide(apps, schema_editor):
    apps.get_model("accounts", "Plan").objects.filter(slug="enterprise").update(is_public=False)


def show(apps, schema_editor):
    apps.get_model("accounts", "Plan").objects.filter(slug="enterprise").update(is_public=True)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_analytics_audit_suspension")]

    operations = [migrations.RunPython(hide, show)]
