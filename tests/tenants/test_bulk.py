"""tenants.bulk reads table, columns and types from the model, so a field added to a model cannot
break the hot paths' set-based writes: it gets its default, or a clear error names it."""

import contextlib
import datetime

import pytest
from django.db import connection, models
from django.utils import timezone

from measurements.models import Reading
from measurements.services import integration_create, readings_ingest
from tenants.bulk import BulkColumnError, bulk_insert, bulk_update
from tenants.models import AuditEvent
from tests.database_roles import owner_psycopg


@contextlib.contextmanager
def _extra_field(model, name: str, field: models.Field, column_sql: str):
    """A field added to the model and its table for the length of a test. Altering a table is its
    owner's right, not the app role's: the column is added and dropped by the owner, committed, so
    these tests are transactional (the app's connection never holds the table while it is altered)."""
    table = model._meta.db_table
    with owner_psycopg() as owner:
        owner.autocommit = True
        owner.execute(f"ALTER TABLE {table} ADD COLUMN {name} {column_sql}")
        field.contribute_to_class(model, name)
        try:
            yield
        finally:
            model._meta.local_fields.remove(field)
            model._meta._expire_cache()
            delattr(model, name)
            connection.close()  # let go of the table before the owner drops the column
            owner.execute(f"ALTER TABLE {table} DROP COLUMN {name}")


def _item(patient, ext="e1"):
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    return {"external_id": ext, "patient_id": str(patient.pk), "type": "spo2", "value": 95, "unit": "%",
            "measured_at": at}  # fmt: skip


def test_it_keeps_ingest_working_when_a_field_with_a_default_is_added(transactional_db, world):
    integration, _ = integration_create(centre=world.centres.ovre, name="gw")
    field = models.CharField(max_length=20, default="kilde-ukjent")
    with _extra_field(Reading, "source_note", field, "varchar(20) NOT NULL"):
        result = readings_ingest(integration=integration, items=[_item(world.p.gjerdrum)])[0]
        assert result.status == "created"
        with connection.cursor() as cursor:
            cursor.execute("SELECT source_note FROM measurements_reading WHERE id = %s", [result.id])
            assert cursor.fetchone() == ("kilde-ukjent",)


def test_it_names_a_new_field_that_has_no_value_and_no_default(transactional_db, world):
    integration, _ = integration_create(centre=world.centres.ovre, name="gw")
    field = models.IntegerField()
    with _extra_field(Reading, "batch_no", field, "integer NOT NULL"), pytest.raises(BulkColumnError) as refused:
        readings_ingest(integration=integration, items=[_item(world.p.gjerdrum)])
    assert "measurements_reading.batch_no" in str(refused.value)


def test_it_repeats_a_single_value_and_returns_the_inserted_rows(world):
    rows = bulk_insert(
        AuditEvent,
        {"action": "view", "object_type": "test", "object_id": ["a", "b", "c"], "username": "x"},
        returning=("object_id", "action"),
    )
    assert sorted(rows) == [("a", "view"), ("b", "view"), ("c", "view")]
    assert AuditEvent.objects.filter(object_type="test", role="", patient_id=None).count() == 3  # defaults


def test_it_updates_only_the_columns_given(world):
    integration, _ = integration_create(centre=world.centres.ovre, name="gw")
    ids = [r.id for r in readings_ingest(integration=integration, items=[_item(world.p.gjerdrum, e) for e in "ab"])]
    bulk_update(Reading, {"id": ids, "colour": ["red", "green"], "reason": "r"})
    got = dict(Reading.objects.filter(id__in=ids).values_list("external_id", "colour"))
    assert got == {"a": "red", "b": "green"}
    assert set(Reading.objects.filter(id__in=ids).values_list("value", "reason")) == {(95.0, "r")}


def test_it_matches_rows_by_every_key_column_given(world):
    """A partitioned table's rows are keyed by id and partition column: a row whose time differs is not
    the row meant, and is left alone."""
    integration, _ = integration_create(centre=world.centres.ovre, name="gw")
    ids = [r.id for r in readings_ingest(integration=integration, items=[_item(world.p.gjerdrum, e) for e in "ab"])]
    times = dict(Reading.objects.filter(id__in=ids).values_list("id", "measured_at"))
    wrong = times[ids[1]] - datetime.timedelta(seconds=1)
    bulk_update(
        Reading,
        {"id": ids, "measured_at": [times[ids[0]], wrong], "colour": "red"},
        key=("id", "measured_at"),
    )
    got = dict(Reading.objects.filter(id__in=ids).values_list("external_id", "colour"))
    assert got == {"a": "red", "b": ""}
    assert dict(Reading.objects.filter(id__in=ids).values_list("id", "measured_at")) == times  # keys not written
    with pytest.raises(ValueError, match="nøkkelkolonnen measured_at"):
        bulk_update(Reading, {"id": ids, "colour": "red"}, key=("id", "measured_at"))


def test_it_refuses_columns_the_model_does_not_have(world):
    with pytest.raises(ValueError, match="ingen felt nope"):
        bulk_insert(AuditEvent, {"nope": [1]})


def _parameters_sent():
    """The parameters of the statements run inside the block, as psycopg is given them."""
    sent: list = []

    def keep(execute, sql, params, many, context):
        sent.append(params)
        return execute(sql, params, many, context)

    return sent, connection.execute_wrapper(keep)


def test_a_value_for_every_row_is_sent_once_not_as_an_array_of_copies(world):
    """A gateway batch's integration, time received and blank columns are half its columns: each is
    one parameter, whatever the rows' count; the lists are arrays. The rows get the value all the same."""
    sent, capture = _parameters_sent()
    with capture:
        bulk_insert(AuditEvent, {"action": "view", "object_type": "konstant", "object_id": ["a", "b", "c"]})
    (params,) = sent
    values = list(params.values())
    assert ["a", "b", "c"] in values and "view" in values and "konstant" in values
    assert not [v for v in values if isinstance(v, list) and len(set(map(str, v))) == 1 and len(v) == 3]
    logged = AuditEvent.objects.filter(object_type="konstant")
    assert sorted(logged.values_list("object_id", "action", "username", "role")) == [
        ("a", "view", "", ""), ("b", "view", "", ""), ("c", "view", "", "")
    ]  # fmt: skip


def test_an_update_may_set_one_value_in_every_row_beside_each_rows_own(world):
    integration, _ = integration_create(centre=world.centres.ovre, name="gw")
    ids = [r.id for r in readings_ingest(integration=integration, items=[_item(world.p.gjerdrum, e) for e in "abc"])]
    sent, capture = _parameters_sent()
    with capture:
        bulk_update(Reading, {"reason": "samme", "id": ids, "colour": ["red", "yellow", "green"]})
    assert "samme" in sent[0].values()  # one value, not three
    got = sorted(Reading.objects.filter(id__in=ids).values_list("external_id", "colour", "reason"))
    assert got == [("a", "red", "samme"), ("b", "yellow", "samme"), ("c", "green", "samme")]


def test_every_value_comes_back_as_it_was_sent_through_the_array_literals(world):
    """The columns go to PostgreSQL as arrays bound in binary: text with quotes, backslashes, commas,
    braces, spaces, «NULL» as a word, a line break and non-ASCII, empty text, None, uuids, integers,
    floats and aware times each come back as they were given."""
    texts = ['a "quoted" word', "back\\slash\\", "comma, {brace}", "  spaces  ", "NULL", "", "æøå ÆØÅ", "x\ny"]
    n = len(texts)
    at = timezone.now().replace(microsecond=123456)
    patient = world.p.gjerdrum
    rows = bulk_insert(
        Reading,
        {"patient_id": [patient.pk] * n, "municipality_id": [patient.municipality_id] * n, "type": ["spo2"] * n,
         "external_id": texts, "value": [95.5, None, 0.1, 1e-7, 100.0, None, 93.25, -1.5],
         "measured_at": [at - datetime.timedelta(minutes=i) for i in range(n)], "original": texts},
        returning=("external_id", "value", "measured_at", "original"),
    )  # fmt: skip
    assert sorted(rows, key=lambda r: texts.index(r[0])) == [
        (text, value, at - datetime.timedelta(minutes=i), text)
        for i, (text, value) in enumerate(zip(texts, [95.5, None, 0.1, 1e-7, 100.0, None, 93.25, -1.5], strict=True))
    ]
