"""Simulations are computed, not stored: the drafts finance saved to simulate with go, and with them
the column that told them from the versions in effect. Only the centre's admin writes a price model."""

from django.db import migrations, models


def drafts_delete(apps, schema_editor):
    # A draft was never in effect, so no locked month refers to one.
    apps.get_model("billing", "PriceModel").objects.filter(is_draft=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(drafts_delete, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="pricemodel",
            name="price_model_one_per_month",
        ),
        migrations.RemoveField(
            model_name="pricemodel",
            name="is_draft",
        ),
        migrations.AddConstraint(
            model_name="pricemodel",
            constraint=models.UniqueConstraint(fields=("centre", "valid_from"), name="price_model_one_per_month"),
        ),
    ]
