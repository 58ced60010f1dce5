"""The suite runs as the app's real database role, under row-level security.

The test database is created and migrated as the owner (DATABASE_URL's role), as `migrate` is in
production; then every test connects as the app role (settings.DHO_DB_APP_ROLE), which owns nothing
and bypasses nothing. Resetting the database after a transactional test (TRUNCATE) is the owner's
work again. Pages and the API set their scope as in production (dho.scope); code a test calls
directly runs in a test scope of every municipality the test has made (`tests_scope`), as a Celery
task's system scope would. A test that wants no scope, or a user's, sets it (tenants.rls.scoped).
"""

from __future__ import annotations

import contextlib
import re
import threading

import pytest
from django.conf import settings
from django.core.management.commands import flush as flush_command
from django.core.signals import request_finished
from django.db import connection, connections, transaction
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from django.db.backends.signals import connection_created
from django.db.models.signals import post_save
from django.test import TransactionTestCase

from tenants import rls
from tenants.models import Municipality


@contextlib.contextmanager
def owner_connection():
    """The default connection as the tables' owner for the block (DDL, a reset), then the app role."""
    rls.connection_use("owner")
    try:
        yield connection
    finally:
        rls.connection_use("app")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, app_role_first):
    """The test database is created and migrated as its owner (each pytest-xdist worker its own:
    pytest-django suffixes the name with the worker's id, `test_…_gw0`), on the server itself when the
    run goes through a pooler (`make test-pooler`), as production's `migrate` does."""
    rls.connection_use("owner")
    address_use(direct=True)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, app_role_first, django_db_blocker):
    """pytest-django's setup (as the owner, see above), then the app role for every test (through the
    pooler, if any); the owner on the server itself again to drop the database at the end."""
    app_role_first.release()  # migrated: the app role exists now
    with django_db_blocker.unblock(), owner_connection():
        migrated_rows_remember()  # what a transactional test's reset keeps (below)
    rls.connection_use("app")
    address_use(direct=False)
    _test_thread["ident"] = threading.get_ident()
    behind = SessionScopeBehindPooler() if settings.DHO_DB_DIRECT is not None else None
    if behind is not None:
        behind.attach(connection)
        connection_created.connect(behind.on_connection_created, dispatch_uid="tests_scope_behind_pooler")
    yield
    if behind is not None:
        connection_created.disconnect(dispatch_uid="tests_scope_behind_pooler")
        behind.detach(connection)
    rls.connection_use("owner")
    address_use(direct=True)
    with server_connect() as server:
        sessions_end(server, connection.settings_dict["NAME"])


# --- behind a pooler (`make test-pooler`, dho/pooler.py; settings.DHO_DB_DIRECT) ----------------------
# The tests run through PgBouncer in transaction mode; a database is created, copied and dropped on the
# server itself, where no pooled connection stands in the way (CREATE DATABASE … TEMPLATE and DROP
# DATABASE refuse while one is open), and the session-wide advisory lock below is taken there (through
# the pooler it would stay with a server connection after the client let go).

_pooled_address: dict = {}
# The thread the tests run in (pytest's): its connection is the test's, any other thread's (a live
# server's request, a test's own threads) is the platform's.
_test_thread: dict = {"ident": None}


def in_test_thread() -> bool:
    return threading.get_ident() == _test_thread["ident"]


def address_use(*, direct: bool) -> None:
    """Points the default connection at the server itself or back at the pooler; nothing without one."""
    if settings.DHO_DB_DIRECT is None:
        return
    default = settings.DATABASES["default"]
    _pooled_address.setdefault("address", {"HOST": default["HOST"], "PORT": default["PORT"]})
    address = settings.DHO_DB_DIRECT if direct else _pooled_address["address"]
    connection.close()
    for settings_dict in {id(d): d for d in (connection.settings_dict, default)}.values():
        settings_dict.update(address)


def server_connect(dbname: str = "postgres"):
    """A connection as the tables' owner to the server itself (past the pooler, if any), autocommit."""
    import psycopg

    d, owner = settings.DATABASES["default"], settings.DHO_DB_OWNER
    address = settings.DHO_DB_DIRECT or {"HOST": d["HOST"], "PORT": d["PORT"]}
    return psycopg.connect(
        host=address["HOST"] or None,
        port=address["PORT"] or None,
        dbname=dbname,
        user=owner["USER"] or None,
        password=owner["PASSWORD"] or None,
        autocommit=True,
    )


class SessionScopeBehindPooler:
    """The test scope below is session-wide; behind a pooler in transaction mode a session is one
    transaction long, and the test's next statement may run on another server connection (one a live
    server's request or a Celery task just used). So, on the test thread's connection only, the value
    the test sets session-wide is kept here and put in place, SET LOCAL, in each transaction the test
    starts: its statements in autocommit each get a transaction of their own, a test's transaction
    gets it before its first statement. A session-wide value set inside a transaction lasts, as on a
    session, only if the transaction commits (Django's on_commit: a savepoint rolled back drops it
    too); a test's rollback takes it back, as PostgreSQL does. What the test sees is what a session
    would show it; the platform's own code (requests, tasks) is not touched."""

    SESSION_WIDE = ("SELECT set_config(%s, %s, false)", "SELECT set_config(%s, '', false)")

    def __init__(self):
        self.committed: str | None = None  # the session-wide value outside a transaction; None: none yet
        self.scope: str | None = None  # the value in the current transaction

    # The test thread's connection is not always one object. Django keeps a thread's connections in an
    # asgiref Local that serves a thread with a running asyncio loop from another store: once a browser
    # test has started Playwright's sync API (its loop runs in this thread for the rest of the session),
    # `connection` is a new DatabaseWrapper, which gets the wrapper when it connects. A connection a
    # test makes of its own (connections.create_connection) is a session of its own and gets none.
    def attach(self, conn) -> None:
        if self not in conn.execute_wrappers:
            conn.execute_wrappers.append(self)

    def detach(self, conn) -> None:
        conn.execute_wrappers[:] = [w for w in conn.execute_wrappers if w is not self]

    def on_connection_created(self, sender=None, connection=None, **kwargs) -> None:
        if in_test_thread() and connection is connections["default"]:
            self.attach(connection)

    def __call__(self, execute, sql, params, many, context):
        import psycopg

        conn = context["connection"]
        raw = conn.connection
        if conn.settings_dict["USER"] != settings.DHO_DB_APP["USER"]:
            return execute(sql, params, many, context)
        idle = raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if idle:  # a new transaction: what an earlier one set and did not commit is gone
            self.scope = self.committed
        if self._record(conn, sql, params):  # SET LOCAL: nothing left behind on the server connection
            sql = sql.replace(", false)", ", true)", 1)
        if self.scope is None or not idle:
            return execute(sql, params, many, context)  # no scope yet, or inside a transaction that has it
        if conn.in_atomic_block:  # the first statement of the test's transaction: the scope first
            raw.execute("SELECT set_config(%s, %s, true)", [rls.SCOPE_SETTING, self.scope])
            return execute(sql, params, many, context)
        with raw.transaction():  # autocommit: this statement in a transaction with the scope
            raw.execute("SELECT set_config(%s, %s, true)", [rls.SCOPE_SETTING, self.scope])
            return execute(sql, params, many, context)

    def _record(self, conn, sql, params) -> bool:
        """Keeps a session-wide value the statement sets; True if it sets one."""
        if not (isinstance(sql, str) and isinstance(params, list | tuple) and list(params[:1]) == [rls.SCOPE_SETTING]):
            return False
        if sql.startswith(self.SESSION_WIDE[0]):
            value = params[1]
        elif sql.startswith(self.SESSION_WIDE[1]):  # a task's or a request's clearing
            value = ""
        else:
            return False
        self.scope = value

        def committed() -> None:
            self.committed = value

        if conn.in_atomic_block or conn.get_autocommit():
            conn.on_commit(committed)  # in autocommit: at once
        else:
            committed()  # manual transaction management: no on_commit; kept as it stands
        return True


def pooled_connections_close(server, dbname: str) -> None:
    """Ends the pooler's idle server connections to a database (before it is copied or dropped)."""
    if settings.DHO_DB_DIRECT is not None:
        server.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        )


def sessions_end(server, dbname: str) -> None:
    """Ends every other session on the test database before pytest-django drops it at the end of the
    run: the pooler's idle server connections, and any connection of this worker's that Django's
    teardown did not close (now and then one was left, and the drop failed with «database … is being
    accessed by other users», leaving the database behind)."""
    server.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [dbname],
    )


APP_ROLE_LOCK = 4_809_231_007  # an advisory lock key of the suite's own


@pytest.fixture(scope="session")
def app_role_first():
    """The app role is the server's, not a database's, and the first migrate creates it. Parallel
    workers (pytest-xdist) create their test databases at once: on a server without the role yet, one
    worker migrates (and creates it) while the others wait, so no two run CREATE ROLE together."""
    from types import SimpleNamespace

    role = settings.DHO_DB_APP_ROLE
    server = server_connect()  # past a pooler: the lock is the session's

    def role_exists() -> bool:
        return server.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is not None

    def release() -> None:
        server.close()  # ends the session, and its advisory lock with it

    if not role_exists():
        server.execute("SELECT pg_advisory_lock(%s)", [APP_ROLE_LOCK])  # held until this worker migrated
        if role_exists():  # another worker made it while this one waited
            release()
    yield SimpleNamespace(release=release)
    release()


# --- the test scope: every municipality there is, those a test makes included ----------------------


def _scope_all() -> None:
    ids = list(Municipality.objects.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        # Session-wide, not SET LOCAL: a transactional test's code runs in autocommit. Inside a test's
        # transaction it goes back with the rollback, as the municipalities do.
        cursor.execute("SELECT set_config(%s, %s, false)", [rls.SCOPE_SETTING, rls._literal(ids)])


def _scope_again(sender=None, **kwargs):
    # The platform clears a session-wide scope when a request starts (tenants.rls.session_scope_clear);
    # the test's own code after a request (a transactional test's) keeps its scope of every municipality.
    # Only the test thread's: a live server's request thread is the platform's, and behind a pooler a
    # session-wide value it set would stay on a pooled server connection for whoever comes next.
    if not in_test_thread():
        return
    if connection.connection is not None and not connection.in_atomic_block:
        _scope_all()


def _municipality_made(sender, instance, created, **kwargs):
    if created and kwargs.get("using", "default") == "default":
        _scope_all()


@contextlib.contextmanager
def every_municipality():
    """The test scope for the block: every municipality there is, and each one it makes."""
    _scope_all()
    post_save.connect(_municipality_made, sender=Municipality, dispatch_uid="tests_scope")
    request_finished.connect(_scope_again, dispatch_uid="tests_scope_again")
    try:
        yield
    finally:
        request_finished.disconnect(dispatch_uid="tests_scope_again")
        post_save.disconnect(sender=Municipality, dispatch_uid="tests_scope")


@pytest.fixture(autouse=True)
def tests_scope(request):
    """Code a test calls directly sees every municipality, those it makes included."""
    if not _has_db(request):
        yield  # no database in this test
        return
    request.getfixturevalue("django_db_setup")
    with contextlib.ExitStack() as stack:
        with request.getfixturevalue("django_db_blocker").unblock():
            stack.enter_context(every_municipality())  # before the test's own transaction, if it has one
        yield


def _has_db(request) -> bool:
    names = ("db", "transactional_db", "live_server", "django_db_reset_sequences", "django_db_serialized_rollback")
    return any(name in request.fixturenames for name in names) or request.node.get_closest_marker("django_db")


# --- a transactional test's reset: TRUNCATE is the owner's ------------------------------------------

_fixture_teardown = TransactionTestCase._fixture_teardown

STALE_TRANSACTIONS_SQL = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND usename = %s
   AND state LIKE 'idle in transaction%%'
"""


def _fixture_teardown_as_owner(self):
    with owner_connection():
        with connection.cursor() as cursor:
            # A worker a test stopped mid-task (SIGSTOP, a crash) may hold a lock TRUNCATE would wait on.
            cursor.execute(STALE_TRANSACTIONS_SQL, [settings.DHO_DB_APP_ROLE])
        _fixture_teardown(self)


TransactionTestCase._fixture_teardown = _fixture_teardown_as_owner


# --- the reset itself: the tables a test wrote, emptied -----------------------------------------------
# Django's flush is one TRUNCATE of every table, then post_migrate for every app (the content types and
# permissions made again). PostgreSQL makes new files for each table, index and TOAST table it truncates
# (the readings' and answers' monthly partitions included: over a thousand relations): 1–4 s, and the
# post_migrate another second, after every transactional test — the suite's largest single cost. A test
# writes to a few tables: those are found (one probe) and emptied with DELETE, the append-only and
# frozen-row triggers and the deferred foreign-key checks off for the transaction
# (session_replication_role, which only a superuser may set: any other owner keeps the TRUNCATE). The
# content types and permissions are the migrations' rows: kept as migrated (a row a test added is
# deleted; if one is gone, the whole TRUNCATE and post_migrate run), so post_migrate needs to run only
# for the row-level security walls (tenants.rls.walls_ensure, which restores a policy a test dropped).
# The emptied tables are vacuumed once their dead rows add up, as autovacuum would (a server may run
# without it). The database after the reset is the one TRUNCATE and post_migrate leave.

FLUSH_SQL = re.compile(r'^TRUNCATE ((?:"[^"]+"(?:, )?)+);$')
MIGRATED_ROWS = ('"django_content_type"', '"auth_permission"')
VACUUM_AFTER_ROWS = 20_000
_dead_rows: dict[str, int] = {}
_migrated_rows: dict[str, tuple[int, int]] = {}  # table → (count, highest id) right after the migrations
_post_migrate_walls_only = False


def migrated_rows_remember() -> None:
    with connection.cursor() as cursor:
        for table in MIGRATED_ROWS:
            cursor.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {table}")  # noqa: S608 – quoted names
            _migrated_rows[table] = tuple(cursor.fetchone())


def _execute_sql_flush(self, sql_list):
    global _post_migrate_walls_only
    match = FLUSH_SQL.match(sql_list[0]) if len(sql_list) == 1 else None
    tables = re.findall(r'"[^"]+"', match.group(1)) if match else []
    if not (match and _migrated_rows and set(MIGRATED_ROWS) <= set(tables) and _may_skip_triggers(self.connection)):
        return _execute_sql_flush_truncating(self, sql_list)
    with transaction.atomic(using=self.connection.alias, savepoint=False), self.connection.cursor() as cursor:
        if not _migrated_rows_intact(cursor):
            return _execute_sql_flush_truncating(self, sql_list)
        probe = " UNION ALL ".join(f"(SELECT {i} FROM {table} LIMIT 1)" for i, table in enumerate(tables))  # noqa: S608
        cursor.execute(probe)  # the tables as Django's flush quoted them
        written = [tables[i] for (i,) in cursor.fetchall() if tables[i] not in MIGRATED_ROWS]
        cursor.execute("SET LOCAL session_replication_role = replica")
        for table in written:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 – from the flush's own SQL
            _dead_rows[table] = _dead_rows.get(table, 0) + cursor.rowcount
    _post_migrate_walls_only = True
    _vacuum_when_bloated(self.connection)


def _migrated_rows_intact(cursor) -> bool:
    """The migrations' content types and permissions all there; a row a test added is deleted."""
    for table, (count, highest) in _migrated_rows.items():
        cursor.execute(f"DELETE FROM {table} WHERE id > %s", [highest])  # noqa: S608 – a constant
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 – a constant
        if cursor.fetchone()[0] != count:
            return False
    return True


def _vacuum_when_bloated(conn) -> None:
    bloated = [table for table, rows in _dead_rows.items() if rows >= VACUUM_AFTER_ROWS]
    if bloated:
        with conn.cursor() as cursor:
            cursor.execute(f"VACUUM {', '.join(bloated)}")
        for table in bloated:
            _dead_rows[table] = 0


def _may_skip_triggers(conn) -> bool:
    with conn.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return bool(cursor.fetchone()[0])


def _emit_post_migrate(verbosity, interactive, db, **kwargs):
    """After the DELETE reset: post_migrate for the tenants app only (its walls; the content types and
    permissions receivers find theirs as migrated)."""
    global _post_migrate_walls_only
    if not _post_migrate_walls_only:
        return _emit_post_migrate_everywhere(verbosity, interactive, db, **kwargs)
    _post_migrate_walls_only = False
    from django.apps import apps
    from django.db.models.signals import post_migrate

    tenants = apps.get_app_config("tenants")
    post_migrate.send(
        sender=tenants, app_config=tenants, verbosity=verbosity, interactive=interactive, using=db, **kwargs
    )


_execute_sql_flush_truncating = PostgresOperations.execute_sql_flush
PostgresOperations.execute_sql_flush = _execute_sql_flush
_emit_post_migrate_everywhere = flush_command.emit_post_migrate_signal
flush_command.emit_post_migrate_signal = _emit_post_migrate


# --- DRF's force_authenticate: the scope a real authentication class sets -------------------------


def _forced_with_scope():
    from rest_framework.request import ForcedAuthentication

    from dho.scope import scope_set_for

    authenticate = ForcedAuthentication.authenticate
    if getattr(authenticate, "sets_scope", False):
        return

    def scoped_authenticate(self, request):
        found = authenticate(self, request)
        if found and found[0] is not None:
            scope_set_for(found[0])
        return found

    scoped_authenticate.sets_scope = True
    ForcedAuthentication.authenticate = scoped_authenticate


_forced_with_scope()


# Called with the database's name when a test commits beside its own transaction: rows no rollback
# takes back (tests/world_database.py then empties the world's copy before its next test).
committed_beside: list = []


@contextlib.contextmanager
def owner_psycopg():
    """A connection of its own to the test database as the tables' owner, rolled back at the end: for
    DDL and for what only the owner may try, beside a test's own transaction."""
    import psycopg

    class OwnerConnection(psycopg.Connection):
        def commit(self) -> None:
            super().commit()
            for listener in committed_beside:
                listener(self.info.dbname)

    d = connection.settings_dict
    owner = OwnerConnection.connect(
        host=d["HOST"] or None,
        port=d["PORT"] or None,
        dbname=d["NAME"],
        user=settings.DHO_DB_OWNER["USER"] or None,
        password=settings.DHO_DB_OWNER["PASSWORD"] or None,
    )
    try:
        yield owner
    finally:
        owner.rollback()
        owner.close()


def superuser_make(user) -> None:
    """Only the owner makes a superuser (a trigger refuses the app's role): committed beside the
    test's transaction, so a transactional test's user is what it changes."""
    with owner_psycopg() as owner:
        owner.execute("UPDATE auth_user SET is_superuser = true, is_staff = true WHERE id = %s", [user.pk])
        owner.commit()
    user.refresh_from_db()
