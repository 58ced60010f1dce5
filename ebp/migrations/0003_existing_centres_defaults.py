"""Centres that existed before the EBP app get the built-in templates and default thresholds too."""

from django.db import migrations


def forwards(apps, schema_editor):
    from ebp import defaults

    Centre = apps.get_model("tenants", "Centre")
    PlanTemplate = apps.get_model("ebp", "PlanTemplate")
    CentreThresholds = apps.get_model("ebp", "CentreThresholds")
    for centre in Centre.objects.all():
        for diagnosis, spec in defaults.TEMPLATES.items():
            content = defaults.template_content(diagnosis).model_dump(mode="json")
            PlanTemplate.objects.get_or_create(
                centre=centre, diagnosis=diagnosis, defaults={"name": spec["name"], "content": content}
            )
        CentreThresholds.objects.get_or_create(centre=centre, defaults={"thresholds": defaults.default_thresholds()})


class Migration(migrations.Migration):
    dependencies = [("ebp", "0002_frozen_versions_trigger"), ("tenants", "0002_audit_append_only_trigger")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
