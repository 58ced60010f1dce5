"""Set-based writes for the hot paths: one `INSERT … SELECT FROM unnest(…)` or `UPDATE … FROM
unnest(…)` per batch, with the table, columns and types read from the model's `_meta`.

Why not `bulk_create`/`bulk_update`: a 1,000-row gateway batch through `bulk_create` is a statement
with 13,000 parameters, and `bulk_update` builds CASE chains ten times slower than one unnest. Why
not hand-written SQL: a column list copied by hand breaks ingest at run time the day a model gets a
new non-null field. Here every concrete field the caller does not give is filled from its default
(else NULL or a blank string, as a Django model instance would have it), and a field with none of
those is refused with its name before any SQL is sent.

tenants is the bottom layer, so every app may use this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import psycopg
from django.db import connection, models
from django.db.models.fields import NOT_PROVIDED
from psycopg.types.json import Jsonb


class BulkColumnError(ValueError):
    """A column that the caller did not give has no default and may not be NULL."""


def _fields(model) -> dict[str, models.Field]:
    """Concrete fields by attname (`patient_id`) and by name (`patient`)."""
    fields = {}
    for field in model._meta.concrete_fields:
        fields[field.attname] = field
        fields.setdefault(field.name, field)
    return fields


def _array_type(field: models.Field) -> str:
    # varchar(n)[] and text[] take the same values; casting to text avoids a second length check.
    db_type = field.db_type(connection)
    return "text[]" if db_type.startswith("varchar") else f"{db_type}[]"


def _adapt(field: models.Field, values: list) -> list:
    if isinstance(field, models.JSONField):
        return [None if v is None else Jsonb(v) for v in values]
    return values


def _column(field: models.Field, value, count: int) -> list:
    """A caller's list, or one value (a constant) repeated for every row."""
    if isinstance(value, list | tuple):
        if len(value) != count:
            raise ValueError(f"{field.name}: {len(value)} verdier, ventet {count}")
        return list(value)
    return [value] * count


def _default_column(model, field: models.Field, count: int) -> list | None:
    """Values for a field the caller left out, or None when the database should fill it."""
    if field.primary_key and isinstance(field, models.AutoField):
        return None  # the sequence
    if getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
        return None  # the database's own default
    if field.has_default():
        if callable(field.default):
            return [field.get_default() for _ in range(count)]  # uuid4, timezone.now: one per row
        return [field.get_default()] * count
    if field.null:
        return [None] * count
    if field.empty_strings_allowed:
        return [""] * count  # a blank text field, as Django's own model instances have it
    raise BulkColumnError(f"{model._meta.db_table}.{field.column} mangler verdi og har ingen standardverdi")


def _count(values: Mapping) -> int:
    lengths = {len(v) for v in values.values() if isinstance(v, list | tuple)}
    if len(lengths) != 1:
        raise ValueError("Gi minst én kolonne som liste, og alle lister like lange")
    return lengths.pop()


def _arrays(model, values: Mapping, *, fill_defaults: bool) -> tuple[list[models.Field], list[list]]:
    fields = _fields(model)
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"{model.__name__} har ingen felt {', '.join(sorted(unknown))}")
    count = _count(values)
    chosen = [fields[name] for name in values]
    arrays = [_adapt(f, _column(f, values[name], count)) for f, name in zip(chosen, values, strict=True)]
    if fill_defaults:
        given = {f.attname for f in chosen}
        for field in model._meta.concrete_fields:
            if field.attname in given:
                continue
            column = _default_column(model, field, count)
            if column is not None:
                chosen.append(field)
                arrays.append(_adapt(field, column))
    return chosen, arrays


class _BinaryArrayCursor(psycopg.Cursor):
    """Binds its parameters on the server (`%b`: PostgreSQL's binary format) and never prepares.

    Django's cursors bind on the client: a 1,000-row batch's arrays are quoted into the SQL text
    element by element in Python, which cost a gateway batch more CPU than its validation did (about
    30 ms per statement of thirteen 1,000-element arrays, 8 ms in binary). An unnamed, unprepared
    statement is what PgBouncer in transaction mode allows (docs/operations.md, «Connection pooler»)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=False, binary=binary)


def _execute(sql: str, arrays: list, fetch: bool) -> list[tuple]:
    """Run `sql` with the arrays bound in binary, through Django's cursor wrapper (its execute
    wrappers and, in debug and tests, its query log see the statement as they see every other)."""
    connection.ensure_connection()
    with connection._prepare_cursor(_BinaryArrayCursor(connection.connection)) as cursor:
        cursor.execute(sql, arrays)
        return cursor.fetchall() if fetch else []


def bulk_insert(
    model,
    values: Mapping[str, object],
    *,
    on_conflict: str = "",
    returning: Sequence[str] = (),
) -> list[tuple]:
    """Insert rows given column-wise (`{"patient_id": [...], "received_at": now}`: a list per column,
    or one value for every row). Fields left out get their default. `on_conflict` is the SQL after
    ON CONFLICT (a constant of the caller's, never input); → the `returning` columns of inserted rows."""
    fields, arrays = _arrays(model, values, fill_defaults=True)
    if not arrays[0]:
        return []
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    unnest = ", ".join(f"%b::{_array_type(f)}" for f in fields)
    # Names come from the model's _meta and the caller's constants; every value is a parameter.
    sql = f"INSERT INTO {model._meta.db_table} ({columns}) SELECT * FROM unnest({unnest})"  # noqa: S608
    if on_conflict:
        sql += f" ON CONFLICT {on_conflict}"
    if returning:
        sql += " RETURNING " + ", ".join(connection.ops.quote_name(_fields(model)[r].column) for r in returning)
    return _execute(sql, arrays, fetch=bool(returning))


def bulk_update(model, values: Mapping[str, object], *, key: str | tuple[str, ...] = "id") -> None:
    """Set the given columns of the rows whose `key` is in `values[key]`, in one UPDATE … FROM unnest.
    Only the columns given are written (a column left out keeps its value). A partitioned table is
    keyed by its id and its partition column (`key=("id", "measured_at")`): matched by id alone,
    PostgreSQL hash-joins the rows against a sequential scan of every partition; with both, each row
    is one primary-key probe in its own partition."""
    keys = (key,) if isinstance(key, str) else key
    missing = [k for k in keys if k not in values]
    if missing:
        raise ValueError(f"bulk_update trenger nøkkelkolonnen {', '.join(missing)}")
    fields, arrays = _arrays(model, values, fill_defaults=False)
    if not arrays[0]:
        return
    q = connection.ops.quote_name
    names = [f"c{i}" for i in range(len(fields))]
    match = " AND ".join(f"t.{q(_fields(model)[k].column)} = v.{names[list(values).index(k)]}" for k in keys)
    assignments = ", ".join(
        f"{q(f.column)} = v.{n}" for f, n in zip(fields, names, strict=True) if f.attname not in keys
    )
    unnest = ", ".join(f"%b::{_array_type(f)}" for f in fields)
    sql = (
        f"UPDATE {model._meta.db_table} AS t SET {assignments} "  # noqa: S608 names from _meta only
        f"FROM unnest({unnest}) AS v({', '.join(names)}) WHERE {match}"
    )
    _execute(sql, arrays, fetch=False)


def column_values(objects: Iterable, attnames: Sequence[str]) -> dict[str, list]:
    """Model instances → the column-wise mapping bulk_update takes."""
    objects = list(objects)
    return {name: [getattr(o, name) for o in objects] for name in attnames}
