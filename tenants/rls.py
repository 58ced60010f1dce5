"""The second wall: PostgreSQL row-level security.

The app connects as a role that owns nothing (settings: DHO_DB_APP_ROLE); migrations run as the
owner (DHO_DB_AS_OWNER=1). Every table with a `municipality_id` column has RLS enabled and forced,
with the policy `dho_scope`: a row is visible and writable only when its municipality is in the list
the current transaction set with SET LOCAL (`dho.municipalities`). No list set: no rows. SET LOCAL
ends with the transaction, so a pooled connection never carries one request's scope into the next.

Who sets the scope: pages and the API from the user (dho.scope), the gateways from their centre
(measurements.api), Celery tasks and management commands by `system_scope(name)`, which is named and
written to the audit log. The ORM keeps its own municipality filters: they decide what a user sees
and let PostgreSQL use the indexes; this wall only catches what they would miss.

The policies are put on by a post_migrate receiver (`walls_ensure`), so a table added later with a
`municipality_id` gets one on the next `migrate`; tests/tenants/test_rls.py walks pg_class to prove it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction

log = logging.getLogger(__name__)

SCOPE_SETTING = "dho.municipalities"
POLICY = "dho_scope"
AUDIT_TABLE = "tenants_auditevent"

# A scalar subquery, so PostgreSQL reads the setting once per query (an InitPlan), not once per row.
IN_SCOPE = "municipality_id = ANY ((SELECT dho_scope())::bigint[])"
# Events of no municipality (a login, a gateway's rejected batch) are not any patient's.
NULL_OR_IN_SCOPE = f"municipality_id IS NULL OR {IN_SCOPE}"
# Who-may-see-what itself: a user's memberships and the centres' agreements are read to work out the
# scope (before there is one) and the inhabitants are public statistics. No patient data; forced RLS
# all the same, so the pg_class walk has no exceptions to trust.
CONFIGURATION_TABLES = {"tenants_membership", "tenants_agreement", "tenants_population"}
# The rows the scope is computed from: dho_app reads them and writes them only through the owner's
# audited function dho_configuration_write (tenants.configuration), never with INSERT/UPDATE/DELETE.
READ_ONLY_TABLES = {
    "tenants_membership",
    "tenants_agreement",
    "patients_patientuserobjectpermission",
    "patients_patientgroupobjectpermission",
}
# A table with patient data but no municipality of its own whose parent is not a foreign key the walk
# can follow: the quarantine belongs to the gateway's centre, seen by whoever reaches the centre's host.
PARENT_POLICIES = {
    "measurements_quarantineditem": (
        "EXISTS (SELECT 1 FROM tenants_centre c"
        " WHERE c.id = centre_id AND c.host_id = ANY ((SELECT dho_scope())::bigint[]))"
    ),
}


def _literal(municipality_ids: Iterable[int]) -> str:
    return "{" + ",".join(str(int(m)) for m in sorted(set(municipality_ids))) + "}"


def current_scope(using: str = "default") -> list[int] | None:
    """The municipalities the current transaction may see; None when no scope is set."""
    raw = _raw(using)
    if not raw:
        return None
    return [int(m) for m in raw.strip("{}").split(",") if m]


def _set(raw: str, using: str) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [SCOPE_SETTING, raw])


def scope_statement(sql: str, params: list, session_clear: bool = False) -> tuple[str, list]:
    """The statement that sets the scope to the ids a query returns, and its parameters: worked out and
    set in one round trip (every request). `session_clear`: it also clears a session-wide value (see
    session_scope_clear). tests/dho/test_pooler.py runs it through PgBouncer in transaction mode."""
    # Our own query (the reach, or the ORM's SQL), its values as parameters.
    clear = "set_config(%s, '', false), " if session_clear else ""
    statement = (
        f"SELECT {clear}set_config(%s, COALESCE((SELECT array_agg(DISTINCT m ORDER BY m)::text"  # noqa: S608
        f" FROM ({sql}) AS reach(m)), '{{}}'), true)"
    )
    return statement, [SCOPE_SETTING] * (2 if session_clear else 1) + list(params)


def _set_from_query(sql: str, params: list, using: str, session_clear: bool = False) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute(*scope_statement(sql, params, session_clear))


def in_transaction_check(using: str = "default") -> None:
    """Refuse to set a scope outside a transaction (for a statement that sets it as a side effect)."""
    _in_transaction(using)


def _in_transaction(using: str) -> None:
    # Outside a transaction SET LOCAL would last one statement.
    if not connections[using].in_atomic_block:
        raise RuntimeError("Omfanget kan bare settes i en åpen transaksjon (bruk scoped()).")


def scope_set(municipality_ids: Iterable[int], using: str = "default") -> None:
    """SET LOCAL the scope inside the transaction that is open (an authentication class does this
    inside the request's transaction, which dho.scope opened)."""
    _in_transaction(using)
    _set(_literal(municipality_ids), using)


def scope_set_to_query(sql: str, params: list, using: str = "default") -> None:
    """scope_set() with the municipality ids a query (one id column, %s parameters) returns."""
    _in_transaction(using)
    _set_from_query(sql, params, using)


@contextlib.contextmanager
def _scoped(apply, using: str) -> Iterator[None]:
    outer = connections[using].in_atomic_block
    with transaction.atomic(using=using):
        previous = _raw(using) if outer else ""
        apply()
        yield
        if outer:
            _set(previous, using)


def scoped(municipality_ids: Iterable[int], using: str = "default"):
    """A transaction (a savepoint inside one) in which the database shows only these municipalities.
    Inside an outer transaction the scope before is set back afterwards; after an error the
    savepoint's rollback undoes the SET LOCAL by itself."""
    return _scoped(lambda: _set(_literal(municipality_ids), using), using)


def scoped_to_query(sql: str, params: list, using: str = "default", session_clear: bool = False):
    """scoped() with the municipality ids a query returns (one round trip for both). A request's
    scope (dho.scope) also clears a session-wide value in that statement: a reused connection
    starts every request with nothing but the request's own scope, at no extra round trip."""
    return _scoped(lambda: _set_from_query(sql, params, using, session_clear), using)


def session_scope_clear(sender=None, **kwargs) -> None:
    """Celery's task_prerun: a reused connection starts with no scope. SET LOCAL ends with its
    transaction, but a session-wide set_config(…, false) outlives COMMIT; whoever set one, the next
    task on this connection does not inherit it. (A request clears it in its scope's statement.)

    Behind a pooler in transaction mode (docs/operations.md, «Connection pooler») this statement runs
    in a transaction of its own, on whichever server connection is free, and the task's transactions
    may run on others: it guarantees nothing there, and needs to guarantee nothing. The platform never
    sets a session-wide scope (only SET LOCAL, which ends with its transaction); the session-wide
    set_config here and in a request's statement only ever set the empty value, which shows no rows,
    so whichever server connection keeps it, the next transaction on it starts with no scope."""
    conn = connections["default"]
    if conn.connection is None or conn.in_atomic_block or conn.vendor != "postgresql":
        return  # a new connection has none; inside a transaction the caller's scope stands
    with conn.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, '', false)", [SCOPE_SETTING])


def _raw(using: str) -> str:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [SCOPE_SETTING])
        return cursor.fetchone()[0] or ""


@contextlib.contextmanager
def system_scope(name: str, using: str = "default") -> Iterator[None]:
    """Every municipality, for a Celery task or a management command that works for all of them.
    Named and audited (`system:<name>` in the audit log), never a bypass: the same policy, the same
    role, and the list is the municipalities that exist now."""
    from tenants.configuration import acting_as
    from tenants.models import AuditAction, AuditEvent, Municipality

    with (
        scoped(Municipality.objects.using(using).values_list("pk", flat=True), using=using),
        acting_as(f"system:{name}"[:150]),
    ):
        AuditEvent.objects.using(using).create(
            username=f"system:{name}"[:150], action=AuditAction.VIEW, object_type="system_scope", object_id=name[:64]
        )
        yield


def connection_use(role: str) -> None:
    """Reconnect the default connection as the tables' "owner" or as the "app" role from its next
    query. For tests and benchmarks, which set up as the owner and then run as the app; the platform
    never switches (settings.DHO_DB_AS_OWNER decides once per process)."""
    credentials = {"owner": settings.DHO_DB_OWNER, "app": settings.DHO_DB_APP}[role]
    connection.close()
    for settings_dict in {id(d): d for d in (connection.settings_dict, settings.DATABASES["default"])}.values():
        settings_dict.update(credentials)


# --- the walls themselves: policies, the app role and its grants (post_migrate) ------------------

WALLED_TABLES_SQL = """
SELECT c.relname, a.attnotnull, c.relrowsecurity AND c.relforcerowsecurity,
       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'municipality_id' AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p')
 ORDER BY c.relname
"""

UNGRANTED_TABLES_SQL = """
SELECT c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND (NOT has_table_privilege(%(role)s, c.oid, 'SELECT')
        OR (c.relname = %(audit)s
            AND has_table_privilege(%(role)s, c.oid, 'UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')))
"""


# Tables without a municipality_id whose rows belong to a walled row: a NOT NULL foreign key to a
# table that has the policy. (table, column, parent table, parent key, RLS forced, has the policy);
# walked again until nothing new turns up, so a row of a row of a walled row is walled too.
CHILD_TABLES_SQL = """
SELECT c.relname, a.attname, p.relname, pa.attname, c.relrowsecurity AND c.relforcerowsecurity,
       EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = c.oid AND pol.polname = %s)
  FROM pg_constraint k
  JOIN pg_class c ON c.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
  JOIN pg_class p ON p.oid = k.confrelid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1]
  JOIN pg_attribute pa ON pa.attrelid = p.oid AND pa.attnum = k.confkey[1]
 WHERE k.contype = 'f' AND array_length(k.conkey, 1) = 1 AND a.attnotnull AND c.oid <> p.oid
   AND EXISTS (SELECT 1 FROM pg_policy pp WHERE pp.polrelid = p.oid AND pp.polname = %s)
   AND NOT EXISTS (SELECT 1 FROM pg_attribute m WHERE m.attrelid = c.oid AND m.attname = 'municipality_id'
                   AND NOT m.attisdropped)
 ORDER BY c.relname, a.attname
"""


def walled_tables(cursor) -> list[tuple[str, bool, bool, bool]]:
    """(table, municipality_id NOT NULL, RLS enabled and forced, has the dho_scope policy) for every
    table of the schema that carries a municipality_id."""
    cursor.execute(WALLED_TABLES_SQL, [POLICY])
    return cursor.fetchall()


def policy_expression(table: str, not_null: bool) -> str:
    if table in CONFIGURATION_TABLES:
        return "true"
    return IN_SCOPE if not_null else NULL_OR_IN_SCOPE


def _wall_sql(table: str, not_null: bool, walled: bool, has_policy: bool) -> list[str]:
    qt = connection.ops.quote_name(table)
    expression = policy_expression(table, not_null)
    statements = []
    if not walled:
        statements += [f"ALTER TABLE {qt} ENABLE ROW LEVEL SECURITY", f"ALTER TABLE {qt} FORCE ROW LEVEL SECURITY"]
    if not has_policy:
        statements.append(f"CREATE POLICY {POLICY} ON {qt} USING ({expression}) WITH CHECK ({expression})")
    return statements


def app_role() -> str:
    return settings.DHO_DB_APP_ROLE


def _role_ensure(cursor, role: str) -> None:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone():
        return
    password = settings.DHO_DB_APP_PASSWORD
    q = connection.ops.quote_name(role)
    # Not a superuser, no BYPASSRLS, owns nothing: the policies apply to every query it makes.
    try:
        with transaction.atomic():
            cursor.execute(
                f"CREATE ROLE {q} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD %s",
                [password or None],
            )
    except DatabaseError as exc:
        raise RuntimeError(
            f"Databaserollen «{role}» finnes ikke, og eieren kan ikke opprette den ({exc}). Be databaseadministratoren "
            f"kjøre: CREATE ROLE {q} LOGIN PASSWORD '…' (uten SUPERUSER og BYPASSRLS), og kjør migrate på nytt."
        ) from exc
    log.warning("Opprettet databaserollen %s for appen (radnivåsikkerhet).", role)


def _grants_sql(role: str, tables: list[str]) -> list[str]:
    q = connection.ops.quote_name(role)
    statements = [f"GRANT USAGE ON SCHEMA {connection.ops.quote_name(_schema())} TO {q}"]
    for table in tables:
        qt = connection.ops.quote_name(table)
        if table == AUDIT_TABLE:
            # The audit log: written and read, never changed (item 2).
            statements.append(f"REVOKE ALL ON {qt} FROM {q}")
            statements.append(f"GRANT SELECT, INSERT ON {qt} TO {q}")
        elif table in READ_ONLY_TABLES:
            statements.append(f"GRANT SELECT ON {qt} TO {q}")  # written through dho_configuration_write
        elif table == "django_migrations":
            statements.append(f"GRANT SELECT ON {qt} TO {q}")  # `migrate --check`, never a migration
        else:
            statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {qt} TO {q}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {connection.ops.quote_name(_schema())} TO {q}")
    return statements


def _schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


def _child_walls(cursor) -> None:
    """Policies through the parent (CHILD_TABLES_SQL) and the explicit PARENT_POLICIES."""
    for table, expression in PARENT_POLICIES.items():
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        if cursor.fetchone()[0]:
            _wall_with(cursor, table, expression)
    while True:
        cursor.execute(CHILD_TABLES_SQL, [POLICY, POLICY])
        pending = {}
        for table, column, parent, key, walled, has_policy in cursor.fetchall():
            if not (walled and has_policy) and table not in pending:
                q = connection.ops.quote_name
                # Names from the catalogue, quoted: the parent's own policy decides, row by row.
                pending[table] = f"EXISTS (SELECT 1 FROM {q(parent)} parent WHERE parent.{q(key)} = {q(column)})"  # noqa: S608
        if not pending:
            return
        for table, expression in pending.items():
            _wall_with(cursor, table, expression)


def _wall_with(cursor, table: str, expression: str) -> None:
    cursor.execute(
        "SELECT c.relrowsecurity AND c.relforcerowsecurity,"
        " EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s)"
        " FROM pg_class c WHERE c.oid = %s::regclass",
        [POLICY, table],
    )
    walled, has_policy = cursor.fetchone()
    qt = connection.ops.quote_name(table)
    if not has_policy:
        cursor.execute(f"CREATE POLICY {POLICY} ON {qt} USING ({expression}) WITH CHECK ({expression})")
    if not walled:
        cursor.execute(f"ALTER TABLE {qt} ENABLE ROW LEVEL SECURITY")
        cursor.execute(f"ALTER TABLE {qt} FORCE ROW LEVEL SECURITY")


DEFINER_FUNCTIONS_SQL = """
SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = current_schema() AND p.prosecdef
   AND (has_function_privilege('public', p.oid, 'EXECUTE') OR NOT has_function_privilege(%s, p.oid, 'EXECUTE'))
"""


def _definer_grants(cursor, role: str) -> None:
    """A security-definer function runs as the owner: only the app's role may call one."""
    cursor.execute(DEFINER_FUNCTIONS_SQL, [role])
    q = connection.ops.quote_name(role)
    for (signature,) in cursor.fetchall():
        cursor.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        cursor.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {q}")


def _read_only_grants(cursor, role: str) -> None:
    q = connection.ops.quote_name(role)
    for table in READ_ONLY_TABLES:
        cursor.execute(
            "SELECT CASE WHEN to_regclass(%s) IS NULL THEN false"
            " ELSE has_table_privilege(%s, to_regclass(%s), 'INSERT, UPDATE, DELETE, TRUNCATE') END",
            [table, role, table],
        )
        if cursor.fetchone()[0]:
            cursor.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {connection.ops.quote_name(table)} FROM {q}")


# A partition (readings and answers by month, measurements/partitions.py) is read and written through
# its partitioned parent, whose policy applies; the app role holds no privilege on a partition itself,
# so no query can go around the parent's policy by naming one.
GRANTED_PARTITIONS_SQL = """
SELECT c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
 WHERE c.relispartition
   AND has_table_privilege(%s, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
"""


def _partition_revokes(cursor, role: str) -> None:
    cursor.execute(GRANTED_PARTITIONS_SQL, [role])
    q = connection.ops.quote_name
    for (table,) in cursor.fetchall():
        cursor.execute(f"REVOKE ALL ON {q(table)} FROM {q(role)}")


def walls_ensure(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate: the policy on every table with a municipality_id, the app role and its grants.
    Idempotent and cheap when nothing is missing (every test database reset sends post_migrate)."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    role = app_role()
    with conn.cursor() as cursor:
        missing = [row for row in walled_tables(cursor) if not (row[2] and row[3])]
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        role_exists = cursor.fetchone() is not None
        ungranted = []
        if role_exists:
            cursor.execute(UNGRANTED_TABLES_SQL, {"role": role, "audit": AUDIT_TABLE})
            ungranted = [r[0] for r in cursor.fetchall()]
        if missing or not role_exists or ungranted:
            with transaction.atomic(using=using):
                for table, not_null, walled, has_policy in missing:
                    for statement in _wall_sql(table, not_null, walled, has_policy):
                        cursor.execute(statement)
                _role_ensure(cursor, role)
                if not role_exists:
                    cursor.execute(UNGRANTED_TABLES_SQL, {"role": role, "audit": AUDIT_TABLE})
                    ungranted = [r[0] for r in cursor.fetchall()]
                for statement in _grants_sql(role, ungranted):
                    cursor.execute(statement)
        # After the tables with a municipality have theirs: the rows that belong to them, the
        # security-definer functions and the read-only configuration rows (each a no-op when done).
        with transaction.atomic(using=using):
            _child_walls(cursor)
            _definer_grants(cursor, role)
            _read_only_grants(cursor, role)
            _partition_revokes(cursor, role)
