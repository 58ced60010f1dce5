"""A patient's alerts and journal notes by (patient, time desc): the patient page reads the newest
thirty of each, and with the foreign key's index on the patient alone PostgreSQL fetched every one of
the patient's rows (a heap page each, years of them for a patient followed long) and sorted them to
keep thirty. The new index is read in order and stopped at thirty. It has the patient first, so the
foreign key's own index is dropped (a lookup by patient alone uses the new one).

The SQL is written out (SeparateDatabaseAndState): AlterField of a foreign key would also drop and
make the constraint again, which checks every row. Built CONCURRENTLY (alerts go on being raised
meanwhile), so not in a transaction; each old index is dropped after the new one is valid.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = [
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "alert_patient_opened" ON "triage_alert" ("patient_id", "opened_at" DESC)',
    'DROP INDEX CONCURRENTLY IF EXISTS "triage_alert_patient_id_9a307c18"',
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "journal_note_patient_time" ON "triage_journalnote" ("patient_id", "created_at" DESC)',
    'DROP INDEX CONCURRENTLY IF EXISTS "triage_journalnote_patient_id_93ec71c2"',
]
BACKWARD = [
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "triage_alert_patient_id_9a307c18" ON "triage_alert" ("patient_id")',
    'DROP INDEX CONCURRENTLY IF EXISTS "alert_patient_opened"',
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "triage_journalnote_patient_id_93ec71c2" ON "triage_journalnote" ("patient_id")',
    'DROP INDEX CONCURRENTLY IF EXISTS "journal_note_patient_time"',
]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("patients", "0010_patient_phone_next_of_kin"),
        ("triage", "0009_alert_event_history_covering"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="alert",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="alerts",
                        to="patients.patient",
                    ),
                ),
                migrations.AlterField(
                    model_name="journalnote",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="journal_notes",
                        to="patients.patient",
                    ),
                ),
                migrations.AddIndex(
                    model_name="alert",
                    index=models.Index(fields=["patient", "-opened_at"], name="alert_patient_opened"),
                ),
                migrations.AddIndex(
                    model_name="journalnote",
                    index=models.Index(fields=["patient", "-created_at"], name="journal_note_patient_time"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(sql=FORWARD, reverse_sql=BACKWARD),
            ],
        ),
    ]
