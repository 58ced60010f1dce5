"""Two foreign-key indexes that an index with the same first column already serves: an event's alert
(alert_event_history is (alert, at)) and a contact's patient (contact_patient_time is (patient,
at desc)). Each cost every insert a second index entry and answered no query the other does not.
Written out as triage/0010 is (SeparateDatabaseAndState: AlterField of a foreign key would drop and
make the constraint again, checking every row), dropped CONCURRENTLY outside a transaction.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = [
    'DROP INDEX CONCURRENTLY IF EXISTS "triage_alertevent_alert_id_39ba72ac"',
    'DROP INDEX CONCURRENTLY IF EXISTS "triage_contact_patient_id_565fcc7a"',
]
BACKWARD = [
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "triage_alertevent_alert_id_39ba72ac" ON "triage_alertevent" ("alert_id")',
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "triage_contact_patient_id_565fcc7a" ON "triage_contact" ("patient_id")',
]


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [
        ("patients", "0010_patient_phone_next_of_kin"),
        ("triage", "0010_alert_and_journal_note_by_patient_and_time"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="alertevent",
                    name="alert",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="triage.alert",
                    ),
                ),
                migrations.AlterField(
                    model_name="contact",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="contacts",
                        to="patients.patient",
                    ),
                ),
            ],
            database_operations=[migrations.RunSQL(sql=FORWARD, reverse_sql=BACKWARD)],
        ),
    ]
