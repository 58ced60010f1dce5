"""Readings and answers partitioned by month: measurements_reading by RANGE (measured_at),
measurements_answer by RANGE (answered_at), one partition per calendar month in Norway
(`measurements_reading_y2026m11`). Why, and what it costs: docs/readings-and-fhir.md, «Partitions and
retention».

Converted in place, in this migration's one transaction (ingest waits on the table's lock meanwhile):
the table is renamed, the partitioned parent made LIKE it (same columns in the same order, defaults,
CHECKs), the partitions made by `dho_partition_ensure` (below: the beat task makes next months' with
it too), every row moved with one INSERT … SELECT, the old table dropped, and then the keys, indexes
and foreign keys made again on the parent under their old names (an index on the parent makes one on
each partition). The id sequence goes on where the old identity stood (PostgreSQL 15 has no identity
column on a partitioned table: a sequence owned by the column instead).

Keys: PostgreSQL wants the partition key in every primary and unique key, so the primary key is
(id, measured_at) and a gateway's idempotency key (integration_id, external_id, measured_at). `id` is
still the model's pk: it comes from the one sequence, so it is unique in practice though no index
says so across partitions. A foreign key into a partitioned table must name its whole key: the two
that pointed here (triage_alertevent.reading_id / answer_id) are dropped and the columns stay as plain
indexed ids (triage 0003 was edited to match).

Row-level security: the parent gets the forced `dho_scope` policy and the app role's grants; the
partitions get the same forced policy and no grant at all, so the app role reads rows through the
parent's policy only (tests/measurements/test_partitions.py).
"""

from django.conf import settings
from django.db import migrations, models

ZONE = "Europe/Oslo"  # a month is a Norwegian calendar month
TABLES = {"measurements_reading": "measured_at", "measurements_answer": "answered_at"}
UNIQUE = {"measurements_reading": "reading_external_id_unique", "measurements_answer": "answer_external_id_unique"}
MONTHS_BEHIND, MONTHS_AHEAD = 13, 3  # an empty table still takes a year's late imports, and 3 months ahead

# The one maker of partitions, for this migration and for the beat task (measurements/partitions.py),
# which runs as the app role: a security-definer function of the owner (only the app role may call it,
# tenants.rls._definer_grants), for these two tables only. A new partition gets the parent's forced
# policy and no grant: the app role reads rows through the parent, never a partition directly.
FUNCTION = """
CREATE OR REPLACE FUNCTION dho_partition_ensure(p_parent text, p_month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_start date := date_trunc('month', p_month)::date;
    v_name text;
    v_policy text;
BEGIN
    IF p_parent NOT IN ('measurements_reading', 'measurements_answer') THEN
        RAISE EXCEPTION 'dho_partition_ensure: % er ikke en partisjonert tabell', p_parent;
    END IF;
    v_name := format('%s_y%sm%s', p_parent, to_char(v_start, 'YYYY'), to_char(v_start, 'MM'));
    IF to_regclass(format('public.%I', v_name)) IS NOT NULL THEN
        RETURN NULL;  -- made already
    END IF;
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
                   v_name, p_parent, v_start::timestamp AT TIME ZONE 'Europe/Oslo',
                   (v_start + 1 * interval '1 month')::timestamp AT TIME ZONE 'Europe/Oslo');
    SELECT pg_get_expr(polqual, polrelid) INTO v_policy FROM pg_policy
     WHERE polrelid = format('public.%I', p_parent)::regclass AND polname = 'dho_scope';
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', v_name);
    EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', v_name);
    IF v_policy IS NOT NULL THEN  -- else a new database: tenants.rls.walls_ensure puts it on after migrate
        EXECUTE format('CREATE POLICY dho_scope ON public.%I USING (%s) WITH CHECK (%s)', v_name, v_policy, v_policy);
    END IF;
    EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC', v_name);
    RETURN v_name;
END;
$$;
"""


def _rows(cursor, sql, params=()):
    cursor.execute(sql, params)
    return cursor.fetchall()


def _app_role_exists(cursor) -> bool:
    return bool(_rows(cursor, "SELECT 1 FROM pg_roles WHERE rolname = %s", [settings.DHO_DB_APP_ROLE]))


def _months(cursor, old: str, column: str) -> list:
    """The months to make: each month that has rows, and every month from a year back to 3 ahead."""
    return [
        month
        for (month,) in _rows(
            cursor,
            f"""SELECT DISTINCT date_trunc('month', {column} AT TIME ZONE %(zone)s)::date FROM {old}
                UNION
                SELECT generate_series(date_trunc('month', now() AT TIME ZONE %(zone)s) - %(behind)s * interval '1 month',
                                       date_trunc('month', now() AT TIME ZONE %(zone)s) + %(ahead)s * interval '1 month',
                                       interval '1 month')::date
                ORDER BY 1""",  # noqa: S608 names are this migration's constants
            {"zone": ZONE, "behind": MONTHS_BEHIND, "ahead": MONTHS_AHEAD},
        )
    ]


def _definitions(cursor, table: str) -> tuple[list[str], list[str], str | None]:
    """(CREATE INDEX statements, ADD CONSTRAINT … FOREIGN KEY statements, the policy's expression)
    of the table as it stands, to make again on the parent under the same names."""
    indexes = [
        sql
        for (sql,) in _rows(
            cursor,
            """SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
                WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
            [table],
        )
    ]
    foreign = [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for name, definition in _rows(
            cursor,
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
    ]
    policy = _rows(
        cursor,
        "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polrelid = %s::regclass AND polname = 'dho_scope'",
        [table],
    )
    return indexes, foreign, policy[0][0] if policy else None


def _references_drop(cursor, table: str) -> None:
    """Foreign keys from other tables into this one (triage_alertevent's, where triage 0003 once made them)."""
    for referrer, name in _rows(
        cursor,
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' AND confrelid = %s::regclass"
        " AND conrelid <> confrelid",
        [table],
    ):
        cursor.execute(f'ALTER TABLE {referrer} DROP CONSTRAINT "{name}"')


def _sequence_take_over(cursor, table: str, old: str) -> None:
    """A sequence owned by the new id column, standing where the old one stood."""
    (old_sequence,) = _rows(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [old])[0]
    last_value, is_called = _rows(cursor, f"SELECT last_value, is_called FROM {old_sequence}")[0]  # noqa: S608
    cursor.execute(f"ALTER SEQUENCE {old_sequence} RENAME TO {old}_id_seq")
    cursor.execute(f"CREATE SEQUENCE {table}_id_seq AS bigint OWNED BY {table}.id")
    cursor.execute("SELECT setval(%s, %s, %s)", [f"{table}_id_seq", last_value, is_called])
    cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq'::regclass)")


def _walls(cursor, table: str, policy: str | None) -> None:
    """The parent's forced policy (the old table's own expression) and the app role's grants; the
    partitions' grants revoked. A new database has no policy yet (and maybe no dho_scope() function):
    forced RLS with no policy admits no row until tenants.rls.walls_ensure puts it on after migrate."""
    cursor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    if policy:
        cursor.execute(f"CREATE POLICY dho_scope ON {table} USING ({policy}) WITH CHECK ({policy})")
    if _app_role_exists(cursor):  # a new database: tenants.rls.walls_ensure grants after migrate
        role = '"' + settings.DHO_DB_APP_ROLE.replace('"', '""') + '"'
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")
        cursor.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {role}")
        for (partition,) in _rows(
            cursor, "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", [table]
        ):
            cursor.execute(f"REVOKE ALL ON {partition} FROM {role}")


def _partition(cursor, table: str, column: str) -> None:
    old = f"{table}_unpartitioned"
    indexes, foreign, policy = _definitions(cursor, table)
    _references_drop(cursor, table)
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    cursor.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE"
        f" INCLUDING COMMENTS) PARTITION BY RANGE ({column})"
    )
    _sequence_take_over(cursor, table, old)
    # The parent's policy first: each partition copies it (dho_partition_ensure).
    _walls(cursor, table, policy)
    for month in _months(cursor, old, column):
        cursor.execute("SELECT dho_partition_ensure(%s, %s)", [table, month])
    cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608  same columns, same order (LIKE)
    cursor.execute(f"DROP TABLE {old}")
    # Keys and indexes after the rows: one sort per index instead of a billion-step insert.
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id, {column})")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {UNIQUE[table]} UNIQUE (integration_id, external_id, {column})")
    for statement in indexes + foreign:
        cursor.execute(statement)
    cursor.execute(f"ANALYZE {table}")


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FUNCTION)
        for table, column in TABLES.items():
            _partition(cursor, table, column)


def _unpartition(cursor, table: str, column: str) -> None:
    """Back to one plain table (the same steps the other way), identity and keys as Django made them."""
    old = f"{table}_partitioned"
    indexes, foreign, policy = _definitions(cursor, table)
    (sequence,) = _rows(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])[0]
    last_value, is_called = _rows(cursor, f"SELECT last_value, is_called FROM {sequence}")[0]  # noqa: S608
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    cursor.execute(f"ALTER TABLE {old} ALTER COLUMN id DROP DEFAULT")
    cursor.execute(f"DROP SEQUENCE {sequence}")
    cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)")
    cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
    cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608
    cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [table, last_value, is_called])
    cursor.execute(f"DROP TABLE {old}")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {UNIQUE[table]} UNIQUE (integration_id, external_id)")
    for statement in indexes + foreign:
        cursor.execute(statement.replace(" ON ONLY ", " ON "))
    cursor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    if policy:
        cursor.execute(f"CREATE POLICY dho_scope ON {table} USING ({policy}) WITH CHECK ({policy})")
    if _app_role_exists(cursor):
        role = '"' + settings.DHO_DB_APP_ROLE.replace('"', '""') + '"'
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table, column in TABLES.items():
            _unpartition(cursor, table, column)
        cursor.execute("DROP FUNCTION IF EXISTS dho_partition_ensure(text, date)")


class Migration(migrations.Migration):
    dependencies = [("measurements", "0006_answer_questionnaire_survey")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="reading", name="reading_external_id_unique"),
                migrations.AddConstraint(
                    model_name="reading",
                    constraint=models.UniqueConstraint(
                        fields=("integration", "external_id", "measured_at"), name="reading_external_id_unique"
                    ),
                ),
                migrations.RemoveConstraint(model_name="answer", name="answer_external_id_unique"),
                migrations.AddConstraint(
                    model_name="answer",
                    constraint=models.UniqueConstraint(
                        fields=("integration", "external_id", "answered_at"), name="answer_external_id_unique"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
