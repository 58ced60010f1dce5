"""An alert event's patient as a column (`patient`, written by triage.services.events_record from now
on), filled for the events there are from their alerts in one UPDATE under a named system scope (the
wall hides every row from a migration that declares none), then required; and the index of a
period's events of one kind per kommune carries it, so insight's retries are counted per patient from
the index alone, without joining every alert."""

import django.db.models.deletion
from django.db import migrations, models

FILL = """
UPDATE triage_alertevent e
   SET patient_id = a.patient_id
  FROM triage_alert a
 WHERE a.id = e.alert_id AND e.patient_id IS NULL
"""

ANY_TO_FILL = "SELECT EXISTS (SELECT 1 FROM triage_alertevent WHERE patient_id IS NULL)"


def fill_from_alerts(apps, schema_editor):
    from tenants.rls import scoped, system_scope

    using = schema_editor.connection.alias
    everywhere = apps.get_model("tenants", "Municipality").objects.using(using).values_list("pk", flat=True)
    # Only a yes or no, before the audited scope: a database with nothing to fill (a new one, a
    # test's) gets no system-scope event in its audit log.
    with scoped(list(everywhere), using=using), schema_editor.connection.cursor() as cursor:
        cursor.execute(ANY_TO_FILL)
        if not cursor.fetchone()[0]:
            return
    with system_scope("migration_alert_event_patient", using=using), schema_editor.connection.cursor() as cursor:
        cursor.execute(FILL)


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0007_alert_first_action_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="alertevent",
            name="patient",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="patients.patient",
            ),
        ),
        migrations.RunPython(fill_from_alerts, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="alertevent",
            name="patient",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="patients.patient",
            ),
        ),
        migrations.RemoveIndex(
            model_name="alertevent",
            name="alert_event_area_kind_time",
        ),
        migrations.AddIndex(
            model_name="alertevent",
            index=models.Index(
                fields=["municipality", "kind", "at"], include=("patient",), name="alert_event_area_kind_time"
            ),
        ),
    ]
