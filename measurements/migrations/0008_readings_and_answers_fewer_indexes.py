"""Fewer indexes on the readings and answers, which every insert and every scoring update writes
(scoring's update changes scored_at, which the partial `*_unscored` index names, so it is never a HOT
update and writes a new entry in each index). Dropped: the foreign keys' own indexes on patient (the
(patient, type/questionnaire, time) index has patient first), integration (the idempotency key has
it first) and plan version (no query reads by it; a plan version is never deleted). The alert id is
indexed only where set: most rows raise no alert. docs/readings-and-fhir.md, «The indexes».

The SQL is written out (SeparateDatabaseAndState): AlterField of a foreign key would also drop and
make again the foreign key itself, which checks every row of every month. An index dropped on the
partitioned parent goes from every partition with it; one made there is made on each.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = [
    'DROP INDEX IF EXISTS "measurements_reading_patient_id_c51a3826"',
    'DROP INDEX IF EXISTS "measurements_reading_integration_id_049fe5e9"',
    'DROP INDEX IF EXISTS "measurements_reading_plan_version_id_e968d19d"',
    'DROP INDEX IF EXISTS "measurements_reading_alert_id_0ef51e12"',
    'CREATE INDEX IF NOT EXISTS "reading_alert" ON "measurements_reading" ("alert_id") WHERE "alert_id" IS NOT NULL',
    'DROP INDEX IF EXISTS "measurements_answer_patient_id_e5746f79"',
    'DROP INDEX IF EXISTS "measurements_answer_integration_id_09f97b3e"',
    'DROP INDEX IF EXISTS "measurements_answer_plan_version_id_1b41138a"',
    'DROP INDEX IF EXISTS "measurements_answer_alert_id_581955d6"',
    'CREATE INDEX IF NOT EXISTS "answer_alert" ON "measurements_answer" ("alert_id") WHERE "alert_id" IS NOT NULL',
]
BACKWARD = [
    'CREATE INDEX IF NOT EXISTS "measurements_reading_patient_id_c51a3826" ON "measurements_reading" ("patient_id")',
    'CREATE INDEX IF NOT EXISTS "measurements_reading_integration_id_049fe5e9" ON "measurements_reading" ("integration_id")',
    'CREATE INDEX IF NOT EXISTS "measurements_reading_plan_version_id_e968d19d" ON "measurements_reading" ("plan_version_id")',
    'CREATE INDEX IF NOT EXISTS "measurements_reading_alert_id_0ef51e12" ON "measurements_reading" ("alert_id")',
    'DROP INDEX IF EXISTS "reading_alert"',
    'CREATE INDEX IF NOT EXISTS "measurements_answer_patient_id_e5746f79" ON "measurements_answer" ("patient_id")',
    'CREATE INDEX IF NOT EXISTS "measurements_answer_integration_id_09f97b3e" ON "measurements_answer" ("integration_id")',
    'CREATE INDEX IF NOT EXISTS "measurements_answer_plan_version_id_1b41138a" ON "measurements_answer" ("plan_version_id")',
    'CREATE INDEX IF NOT EXISTS "measurements_answer_alert_id_581955d6" ON "measurements_answer" ("alert_id")',
    'DROP INDEX IF EXISTS "answer_alert"',
]


class Migration(migrations.Migration):
    dependencies = [
        ("ebp", "0003_existing_centres_defaults"),
        ("measurements", "0007_readings_and_answers_partitioned_by_month"),
        ("patients", "0010_patient_phone_next_of_kin"),
        ("tenants", "0016_helseid_login"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="answer",
                    name="alert_id",
                    field=models.UUIDField(blank=True, null=True),
                ),
                migrations.AlterField(
                    model_name="answer",
                    name="integration",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="measurements.integration",
                    ),
                ),
                migrations.AlterField(
                    model_name="answer",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="answers",
                        to="patients.patient",
                    ),
                ),
                migrations.AlterField(
                    model_name="answer",
                    name="plan_version",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ebp.planversion",
                    ),
                ),
                migrations.AlterField(
                    model_name="reading",
                    name="alert_id",
                    field=models.UUIDField(blank=True, null=True),
                ),
                migrations.AlterField(
                    model_name="reading",
                    name="integration",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="measurements.integration",
                    ),
                ),
                migrations.AlterField(
                    model_name="reading",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="readings",
                        to="patients.patient",
                    ),
                ),
                migrations.AlterField(
                    model_name="reading",
                    name="plan_version",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ebp.planversion",
                    ),
                ),
                migrations.AddIndex(
                    model_name="answer",
                    index=models.Index(
                        condition=models.Q(("alert_id__isnull", False)), fields=["alert_id"], name="answer_alert"
                    ),
                ),
                migrations.AddIndex(
                    model_name="reading",
                    index=models.Index(
                        condition=models.Q(("alert_id__isnull", False)), fields=["alert_id"], name="reading_alert"
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(sql=FORWARD, reverse_sql=BACKWARD),
            ],
        ),
    ]
