"""Set-based writes for the hot paths: one `INSERT … SELECT FROM unnest(…)` or `UPDATE … FROM
unnest(…)` per batch, with the table, columns and types read from the model's `_meta`.

Why not `bulk_create`/`bulk_update`: a 1,000-row gateway batch through `bulk_create` is a statement
with 13,000 parameters, and `bulk_update` builds CASE chains ten times slower than one unnest. Why
not hand-written SQL: a column list copied by hand breaks ingest at run time the day a model gets a
new non-null field. Here every concrete field the caller does not give is filled from its default
(else NULL or a blank string, as a Django model instance would have it), and a field with none of
those is refused with its name before any SQL is sent. A column with one value for every row (the
batch's integration, its time received, a blank default) is one parameter, not an array of a
thousand copies: half a gateway batch's columns are such.

tenants is the bottom layer, so every app may use this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import psycopg
from django.db import connection, models
from django.db.models.expressions import RawSQL
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


class _Constant:
    """One value for every row: bound once as a scalar, not repeated into an array of `count`
    (a gateway batch's integration, its time received and the blank columns are half its columns)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _column(field: models.Field, value, count: int) -> list | _Constant:
    """A caller's list, or one value (a constant) for every row."""
    if isinstance(value, list | tuple):
        if len(value) != count:
            raise ValueError(f"{field.name}: {len(value)} verdier, ventet {count}")
        return list(value)
    return _Constant(value)


def _default_column(model, field: models.Field, count: int) -> list | _Constant | None:
    """Values for a field the caller left out, or None when the database should fill it."""
    if field.primary_key and isinstance(field, models.AutoField):
        return None  # the sequence
    if getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
        return None  # the database's own default
    if field.has_default():
        if callable(field.default):
            return [field.get_default() for _ in range(count)]  # uuid4, timezone.now: one per row
        return _Constant(field.get_default())
    if field.null:
        return _Constant(None)
    if field.empty_strings_allowed:
        return _Constant("")  # a blank text field, as Django's own model instances have it
    raise BulkColumnError(f"{model._meta.db_table}.{field.column} mangler verdi og har ingen standardverdi")


def _count(values: Mapping) -> int:
    lengths = {len(v) for v in values.values() if isinstance(v, list | tuple)}
    if len(lengths) != 1:
        raise ValueError("Gi minst én kolonne som liste, og alle lister like lange")
    return lengths.pop()


def _columns(model, values: Mapping, *, fill_defaults: bool) -> tuple[list[models.Field], list]:
    """The fields and, for each, its list of values or a _Constant."""
    fields = _fields(model)
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"{model.__name__} har ingen felt {', '.join(sorted(unknown))}")
    count = _count(values)
    chosen = [fields[name] for name in values]
    columns = [_column(f, values[name], count) for f, name in zip(chosen, values, strict=True)]
    if fill_defaults:
        given = {f.attname for f in chosen}
        for field in model._meta.concrete_fields:
            if field.attname in given:
                continue
            column = _default_column(model, field, count)
            if column is not None:
                chosen.append(field)
                columns.append(column)
    return chosen, columns


def _adapt(field: models.Field, column: list | _Constant) -> object:
    """The parameter for a column: a list of values (an array) or one value."""
    if not isinstance(field, models.JSONField):
        return column.value if isinstance(column, _Constant) else column
    if isinstance(column, _Constant):
        return None if column.value is None else Jsonb(column.value)
    return [None if v is None else Jsonb(v) for v in column]


def _scalar_type(field: models.Field) -> str:
    db_type = field.db_type(connection)
    return "text" if db_type.startswith("varchar") else db_type


def _bound(fields: list[models.Field], columns: list) -> tuple[dict, dict, dict]:
    """→ (the array columns: attname → unnest's column name, the constants: attname → their
    placeholder, the parameters by name). Every value is a named parameter (`%(p3)b`), so the
    statement may name them in any order."""
    arrays, constants, params = {}, {}, {}
    for i, (field, column) in enumerate(zip(fields, columns, strict=True)):
        params[f"p{i}"] = _adapt(field, column)
        if isinstance(column, _Constant):
            constants[field.attname] = f"%(p{i})b::{_scalar_type(field)}"
        else:
            arrays[field.attname] = (f"v{i}", f"%(p{i})b::{_array_type(field)}")
    return arrays, constants, params


def _unnest(arrays: dict) -> str:
    return f"unnest({', '.join(p for _, p in arrays.values())}) AS v({', '.join(n for n, _ in arrays.values())})"


class _BinaryArrayCursor(psycopg.Cursor):
    """Binds its parameters on the server (`%b`: PostgreSQL's binary format) and never prepares.

    Django's cursors bind on the client: a 1,000-row batch's arrays are quoted into the SQL text
    element by element in Python, which cost a gateway batch more CPU than its validation did (about
    30 ms per statement of thirteen 1,000-element arrays, 8 ms in binary). An unnamed, unprepared
    statement is what PgBouncer in transaction mode allows (docs/operations.md, «Connection pooler»)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=False, binary=binary)


def _execute(sql: str, params: dict, fetch: bool) -> list[tuple]:
    """Run `sql` with its parameters bound in binary, through Django's cursor wrapper (its execute
    wrappers and, in debug and tests, its query log see the statement as they see every other)."""
    connection.ensure_connection()
    with connection._prepare_cursor(_BinaryArrayCursor(connection.connection)) as cursor:
        cursor.execute(sql, params)
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
    fields, columns = _columns(model, values, fill_defaults=True)
    if not _count(values):
        return []
    arrays, constants, params = _bound(fields, columns)
    column = {f.attname: connection.ops.quote_name(f.column) for f in fields}
    selected = {**{name: f"v.{alias}" for name, (alias, _) in arrays.items()}, **constants}
    # Names come from the model's _meta and the caller's constants; every value is a parameter.
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(column[name] for name in selected)}) "  # noqa: S608
        f"SELECT {', '.join(selected.values())} FROM {_unnest(arrays)}"
    )
    if on_conflict:
        sql += f" ON CONFLICT {on_conflict}"
    if returning:
        sql += " RETURNING " + ", ".join(connection.ops.quote_name(_fields(model)[r].column) for r in returning)
    return _execute(sql, params, fetch=bool(returning))


def bulk_update(model, values: Mapping[str, object], *, key: str | tuple[str, ...] = "id") -> None:
    """Set the given columns of the rows whose `key` is in `values[key]`, in one UPDATE … FROM unnest.
    Only the columns given are written (a column left out keeps its value); a column given one value
    is set to it in every row. A partitioned table is keyed by its id and its partition column
    (`key=("id", "measured_at")`): matched by id alone, PostgreSQL hash-joins the rows against a
    sequential scan of every partition; with both, each row is one primary-key probe in its own partition."""
    keys = (key,) if isinstance(key, str) else key
    missing = [k for k in keys if k not in values]
    if missing:
        raise ValueError(f"bulk_update trenger nøkkelkolonnen {', '.join(missing)}")
    fields, columns = _columns(model, values, fill_defaults=False)
    if not _count(values):
        return
    arrays, constants, params = _bound(fields, columns)
    value_of = {**{name: f"v.{alias}" for name, (alias, _) in arrays.items()}, **constants}
    column = {f.attname: connection.ops.quote_name(f.column) for f in fields}
    key_names = [_fields(model)[k].attname for k in keys]
    assignments = ", ".join(f"{column[name]} = {value}" for name, value in value_of.items() if name not in key_names)
    match = " AND ".join(f"t.{column[name]} = {value_of[name]}" for name in key_names)
    sql = (
        f"UPDATE {model._meta.db_table} AS t SET {assignments} "  # noqa: S608 names from _meta only
        f"FROM {_unnest(arrays)} WHERE {match}"
    )
    _execute(sql, params, fetch=False)


def column_values(objects: Iterable, attnames: Sequence[str]) -> dict[str, list]:
    """Model instances → the column-wise mapping bulk_update takes."""
    objects = list(objects)
    return {name: [getattr(o, name) for o in objects] for name in attnames}


def uuid_array(ids: Iterable) -> RawSQL:
    """A batch's ids as one array parameter, for `pk__in=` / `<field>__in=`: `__in` with a list compiles
    (and quotes) a parameter per id, which for a batch of hundreds cost more than the query."""
    return RawSQL("SELECT unnest(%s::uuid[])", [list(ids)])
