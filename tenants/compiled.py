"""ORM querysets compiled once and run many times with new values.

A gateway that forwards each measurement as it is taken sends a request per reading, and on that
path Django compiling the request's two querysets (the gateway's token with its scope, the patients
it may deliver for) cost more CPU than PostgreSQL took to run them: about 3 ms of a request's 10 on
these cores. A `CompiledQuery` compiles its queryset once per key with marker values standing in
for what changes from call to call, and then runs the same SQL with the real values. The queryset
stays the one place its rules are written (the same selectors and filters as everywhere else); the
rows come back through the compiler's converters, as the queryset's own would.

The key names what the compiled SQL holds besides the markers: the day, where a queryset compares
with today's date (an agreement in force). Each call site keeps the SQL of its few latest keys.
"""

from __future__ import annotations

import copy
import datetime
import threading
import uuid
from collections.abc import Callable, Hashable
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable

KEPT_KEYS = 4

# Marker values no real call passes: the nil uuid is no row's id, no row has a negative id, nothing
# was measured, stored or expires in 1900. A marker must be a single parameter of the compiled SQL;
# two markers of one query need two values (NO_ID, NO_OTHER_ID).
NO_UUID = uuid.UUID(int=0)
NO_ID = -7_000_001
NO_OTHER_ID = -7_000_002
LONG_AGO = datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)


class CompiledQuery:
    """`build(key, **markers)` → a queryset, in which each marker value (a value no real call passes:
    a negative id, a token that is no hash) stands for a parameter of each call. `rows` gives a
    values_list queryset's tuples, `objects` a model queryset's instances (select_related included;
    not prefetch_related)."""

    def __init__(self, build: Callable[..., QuerySet], **markers: Any):
        self._build = build
        self._markers = markers
        self._compiled: dict[Hashable, tuple] = {}
        self._lock = threading.Lock()  # gunicorn's threads share the module's instances

    def _compile(self, key: Hashable) -> tuple:
        queryset = self._build(key, **self._markers)
        compiler = queryset.query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()
        slots = {}
        for name, marker in self._markers.items():
            found = [i for i, param in enumerate(params) if type(param) is type(marker) and param == marker]
            if len(found) != 1:
                raise ValueError(f"the marker of {name!r} is {len(found)} parameters of the compiled query, not one")
            slots[name] = found[0]
        return queryset, compiler, sql, tuple(params), slots

    def _entry(self, key: Hashable) -> tuple:
        entry = self._compiled.get(key)
        if entry is None:
            entry = self._compile(key)
            with self._lock:
                if len(self._compiled) >= KEPT_KEYS:
                    self._compiled.clear()
                self._compiled[key] = entry
        return entry

    def _bound(self, params: tuple, slots: dict, values: dict) -> list:
        bound = list(params)
        for name, index in slots.items():
            bound[index] = values[name]
        return bound

    def rows(self, key: Hashable, **values: Any) -> list[tuple]:
        """The queryset's rows for these values, as its values_list would give them."""
        queryset, compiler, sql, params, slots = self._entry(key)
        # Through Django's cursor wrapper: the query log, the execute wrappers and the scope checks
        # see it as any other statement.
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(sql, self._bound(params, slots, values))
            fetched = cursor.fetchall()
        return list(compiler.results_iter(results=[fetched], tuple_expected=True))

    def objects(self, key: Hashable, **values: Any) -> list:
        """The queryset's model instances for these values, made by Django's own ModelIterable from
        a copy of the compiled compiler: its SQL is the one compiled, its connection this thread's."""
        queryset, compiler, sql, params, slots = self._entry(key)
        run = copy.copy(compiler)
        run.connection = connections[queryset.db]  # the compiler's own is the compiling thread's
        bound = self._bound(params, slots, values)
        run.as_sql = lambda *args, **kwargs: (sql, bound)
        return list(ModelIterable(_Compiled(queryset, run)))

    def first(self, key: Hashable, **values: Any):
        """The first of `objects`, or None (a queryset of one row by its id or its key)."""
        found = self.objects(key, **values)
        return found[0] if found else None


class _Compiled:
    """What ModelIterable reads of a queryset, with the compiler already made."""

    def __init__(self, queryset: QuerySet, compiler):
        self.db, self.model, self._known_related_objects = queryset.db, queryset.model, {}
        self.query = self
        self._compiler = compiler

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        return self._compiler
