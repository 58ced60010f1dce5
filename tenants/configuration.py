"""Writes of the rows a user's database scope is computed from (memberships, agreements, and the
fastlege's and specialist's object permissions on patients).

The app's database role may read these rows but not write them (tenants.rls.READ_ONLY_TABLES): a
model that holds them saves and deletes through a security-definer function of the owner, which
writes the row and an audit event about it in the same statement, so no write of the scope goes
unlogged (tenants/migrations/0008, patients/migrations/0008). QuerySet.update()/delete() on these
tables fail with a permission error by design: change them one row at a time, through the model.

Who is logged: `actor`, set per request by dho.scope (the user) and by tenants.rls.system_scope
(`system:<name>`).
"""

from __future__ import annotations

import contextlib
import contextvars
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models

actor = contextvars.ContextVar("dho_actor", default="system")
# The audit log's object_type of these writes: the table written.
AUDITED_TABLES = (
    "tenants_membership",
    "tenants_agreement",
    "patients_patientuserobjectpermission",
    "patients_patientgroupobjectpermission",
)


@contextlib.contextmanager
def acting_as(name: str):
    token = actor.set(name)
    try:
        yield
    finally:
        actor.reset(token)


def _row(obj: models.Model, adding: bool, connection) -> dict:
    fields = [f for f in obj._meta.concrete_fields if not f.primary_key]
    values = {f.column: f.get_db_prep_save(f.pre_save(obj, adding), connection) for f in fields}
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def _call(function: str, table: str, action: str, pk, row: dict, using: str):
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT {function}(%s, %s, %s, %s::jsonb, %s)",
            [table, action, pk, json.dumps(row, cls=DjangoJSONEncoder), actor.get()],
        )
        return cursor.fetchone()[0]


class WrittenThroughFunction(models.Model):
    """A row written only through the owner's audited function (the module docstring)."""

    write_function = "dho_configuration_write"

    class Meta:
        abstract = True

    def save(self, *args, using=None, **kwargs):
        using = using or "default"
        adding = self._state.adding or self.pk is None
        row = _row(self, adding, connections[using])
        self.pk = _call(self.write_function, self._meta.db_table, "insert" if adding else "update", self.pk, row, using)
        self._state.adding, self._state.db = False, using

    def delete(self, *args, using=None, **kwargs):
        using = using or self._state.db or "default"
        _call(self.write_function, self._meta.db_table, "delete", self.pk, {}, using)
        deleted = self.pk
        self.pk = None
        return 1, {self._meta.label: 1 if deleted else 0}
