"""The readings' index by patient carries what the reads by patient select (a covering index):
`reading_by_patient` (patient, type, measured_at desc) INCLUDE (municipality, value, systolic,
diastolic, colour) replaces `reading_patient_type_time` (the same key without them).

Why: a patient's readings arrive a few a day among everyone else's, so each one lies in a heap page of
its own. Ninety days of trend (about 360 readings) read about 370 heap pages; at 30,000 patients, when
those pages were not in memory, that was 25 ms of a patient page's query and 0.4 ms as an index-only
scan of a dozen index pages (docs/readings-and-fhir.md, «The indexes»). `municipality_id` is included
because the row-level security policy reads it: a column the policy needs and the index lacks sends
every row to the heap again.

Made without stopping ingest, as PostgreSQL's manual says for a partitioned table: the parent's index
ON ONLY the parent (invalid until every partition has one), each partition's CONCURRENTLY (writes go
on), then each attached, which makes the parent's valid. Then the old index goes. Not atomic:
CONCURRENTLY cannot run in a transaction. Run again after an interruption, it drops the invalid index
a broken CONCURRENTLY leaves and makes it again. A partition made later gets the index from the parent.
"""

from django.db import migrations, models

PARENT = "measurements_reading"
NAME = "reading_by_patient"
OLD = "reading_patient_type_time"
COLUMNS = (
    '("patient_id", "type", "measured_at" DESC) INCLUDE ("municipality_id", "value", "systolic", "diastolic", "colour")'
)


def _partitions(cursor) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
        [PARENT],
    )
    return [name for (name,) in cursor.fetchall()]


def _invalid_drop(cursor, index: str) -> None:
    cursor.execute(
        "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
        [index],
    )
    row = cursor.fetchone()
    if row and row[0]:
        cursor.execute(f'DROP INDEX CONCURRENTLY "{index}"')


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'CREATE INDEX IF NOT EXISTS "{NAME}" ON ONLY "{PARENT}" {COLUMNS}')
        for partition in _partitions(cursor):
            index = f"{partition}_by_patient"
            _invalid_drop(cursor, index)
            cursor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index}" ON "{partition}" {COLUMNS}')
            cursor.execute(
                "SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = %s::regclass AND c.relname = %s",
                [NAME, index],
            )
            if cursor.fetchone() is None:
                cursor.execute(f'ALTER INDEX "{NAME}" ATTACH PARTITION "{index}"')
        cursor.execute(f'DROP INDEX IF EXISTS "{OLD}"')


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'CREATE INDEX IF NOT EXISTS "{OLD}" ON "{PARENT}" ("patient_id", "type", "measured_at" DESC)')
        cursor.execute(f'DROP INDEX IF EXISTS "{NAME}"')


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("measurements", "0008_readings_and_answers_fewer_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="reading", name=OLD),
                migrations.AddIndex(
                    model_name="reading",
                    index=models.Index(
                        fields=["patient", "type", "-measured_at"],
                        include=("municipality", "value", "systolic", "diastolic", "colour"),
                        name=NAME,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]
