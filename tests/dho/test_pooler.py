"""The platform behind PgBouncer in transaction mode (dho/pooler.py, docs/operations.md «Connection pooler»).

A pooler of one server connection per database and role stands in front of the test PostgreSQL: every
transaction through it runs on that one connection, so whatever one transaction left on it, the next
would find. The scope a request sets (tenants/rls.py: SET LOCAL, in the same statement as the clearing
of a session-wide value) must be gone in the next transaction, for the same client and for another.
Skips, saying why, where pgbouncer is not installed (scripts/ensure-pgbouncer.sh installs it as root).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from dho import pooler as pgbouncer
from dho.scope import reach_query
from tenants import rls
from tests.conftest import verified_client

pytestmark = pytest.mark.skipif(pgbouncer.binary() is None, reason=pgbouncer.INSTALL_HINT)


def test_the_connection_binds_on_the_client_and_prepares_nothing(db):
    # Django's psycopg backend: client-side binding (ClientCursor) unless OPTIONS server_side_binding,
    # and no prepared statements (prepare_threshold None): nothing a statement leaves on the server.
    connection.ensure_connection()
    assert issubclass(connection.connection.cursor_factory, psycopg.ClientCursor)
    assert connection.connection.prepare_threshold is None
    with connection.cursor() as cursor:
        for _ in range(10):  # psycopg would prepare a statement after 5 runs with a threshold
            cursor.execute("SELECT count(*) FROM tenants_municipality WHERE id > %s", [0])
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 0


def _server_url(role: dict, dbname: str) -> str:
    """The test PostgreSQL itself (past the pooler `make test-pooler` runs the suite through, if any)."""
    d = connection.settings_dict
    address = settings.DHO_DB_DIRECT or {"HOST": d["HOST"], "PORT": d["PORT"]}
    host = (address["HOST"] or "localhost").replace("/", "%2F")
    password = f":{role['PASSWORD']}" if role["PASSWORD"] else ""
    return f"postgres://{role['USER']}{password}@{host}:{address['PORT'] or 5432}/{dbname}"


@pytest.fixture
def pooler_of_one():
    """PgBouncer in transaction mode with one server connection per database and role."""
    roles = {settings.DHO_DB_OWNER["USER"]: settings.DHO_DB_OWNER["PASSWORD"] or ""}
    roles[settings.DHO_DB_APP["USER"]] = settings.DHO_DB_APP["PASSWORD"] or ""
    running = pgbouncer.start(_server_url(settings.DHO_DB_OWNER, "postgres"), roles, pool_size=1)
    yield running
    running.stop()


def _app_through(running, dbname: str) -> str:
    return running.url(_server_url(settings.DHO_DB_APP, dbname))


def _request_like(client: psycopg.Connection, user) -> tuple[int, list[str], str]:
    """One transaction as a request makes it: the statement dho.scope.ScopeMiddleware runs (the user's
    reach as SET LOCAL, a session-wide value cleared), then a read of the patients. Returns the server
    connection's pid, the names seen and the scope setting inside."""
    with client.transaction():
        client.execute(*rls.scope_statement(*reach_query(user), session_clear=True))
        pid = client.execute("SELECT pg_backend_pid()").fetchone()[0]
        names = [name for (name,) in client.execute("SELECT name FROM patients_patient ORDER BY name")]
        scope = client.execute("SELECT current_setting(%s, true)", [rls.SCOPE_SETTING]).fetchone()[0]
    return pid, names, scope


def _after(client: psycopg.Connection) -> tuple[int, str, int]:
    """A transaction that sets nothing: its server connection's pid, the scope setting, the patients seen."""
    with client.transaction():
        pid = client.execute("SELECT pg_backend_pid()").fetchone()[0]
        scope = client.execute("SELECT current_setting(%s, true)", [rls.SCOPE_SETTING]).fetchone()[0]
        count = client.execute("SELECT count(*) FROM patients_patient").fetchone()[0]
    return pid, scope or "", count


def test_a_transactions_scope_never_reaches_the_next_on_the_same_server_connection(world, pooler_of_one):
    url = _app_through(pooler_of_one, connection.settings_dict["NAME"])  # the world, committed in its copy
    with psycopg.connect(url) as first, psycopg.connect(url) as second:
        assert first.info.port == second.info.port == pooler_of_one.port  # both through the pooler
        pid, names, scope = _request_like(first, world.u.nurse_agder)
        # Inside: the centre's kommuner (Arendal hosts it, Grimstad's patient is the only one).
        assert (names, scope) == (["Tove Grimstad"], rls._literal([world.m.arendal.pk, world.m.grimstad.pk]))
        # The same client's next transaction, on the pool's one server connection: nothing carried over.
        assert _after(first) == (pid, "", 0)
        # Another client on that same server connection: nothing either.
        assert _after(second) == (pid, "", 0)
        # And a request of another user there sees its own scope only, never the first one's.
        pid_again, names, _scope = _request_like(second, world.u.nurse_nordrefollo)
        assert (pid_again, names) == (pid, ["Vigdis Nordre Follo"])
        assert _after(first) == (pid, "", 0)


@contextlib.contextmanager
def _default_connection_through(running):
    """The default connection (the test client's requests) through the pooler, as the settings with
    DHO_DB_POOLER=pgbouncer make it; back to where it was afterwards."""
    before = {key: connection.settings_dict.get(key) for key in ("HOST", "PORT", "DISABLE_SERVER_SIDE_CURSORS")}
    through = {"HOST": "127.0.0.1", "PORT": running.port, "DISABLE_SERVER_SIDE_CURSORS": True}
    dicts = {id(d): d for d in (connection.settings_dict, settings.DATABASES["default"])}.values()
    connection.close()
    for settings_dict in dicts:
        settings_dict.update(through)
    try:
        yield
    finally:
        connection.close()
        for settings_dict in dicts:
            settings_dict.update(before)


def test_pages_work_through_the_pooler_and_each_request_has_its_own_scope(transactional_db, world, pooler_of_one):
    page = reverse("patients:detail", kwargs={"patient_id": world.p.grimstad.pk})
    with _default_connection_through(pooler_of_one):
        nurse = verified_client(world.u.nurse_agder)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")  # the one server connection of the app role
            assert connection.connection.info.port == pooler_of_one.port
        response = nurse.get(page)
        assert response.status_code == 200 and "Tove Grimstad" in response.content.decode()
        # The next request on the same server connection, by a nurse of another kommune: outside her
        # scope. (Between requests the suite sets its session-wide test scope of every kommune again,
        # tests/database_roles.py, on that same connection: the request's statement clears it first.)
        assert verified_client(world.u.nurse_nordrefollo).get(page).status_code == 404
        assert nurse.get(page).status_code == 200


def test_the_test_threads_new_connection_keeps_the_test_scope_once_a_loop_runs_in_the_thread(world, monkeypatch):
    """Behind `make test-pooler`: a browser test starts Playwright's sync API, whose asyncio loop then
    runs in the test thread for the rest of the session, and Django serves the thread another
    connection object (asgiref's Local keeps a running loop's connections apart). The test scope
    (tests/database_roles.py, SessionScopeBehindPooler) must follow it there, or the statements of
    every later test of the worker land on pooled server connections with no scope, or another's."""
    import asyncio

    from django.db import connections

    from measurements.models import Reading
    from patients.models import Patient
    from tests.database_roles import SessionScopeBehindPooler

    if settings.DHO_DB_DIRECT is None:
        pytest.skip("behind a pooler only (make test-pooler): a session keeps the scope itself")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # as tests/browser/conftest.py
    running = asyncio._get_running_loop()  # a browser test of this worker may have started Playwright already
    before = connections["default"]
    loop = asyncio.new_event_loop()
    asyncio._set_running_loop(loop)  # what Playwright's sync API leaves in the thread
    during = connections["default"]
    try:
        assert during is not before or running is not None
        # The world is committed in its copy: a new connection (autocommit) sees it in the test scope,
        # each statement in a transaction of its own, on whichever server connection is free.
        for _ in range(5):
            assert Patient.objects.filter(pk=world.p.gjerdrum.pk).exists()
            assert not Reading.objects.exists()
        assert [w for w in during.execute_wrappers if isinstance(w, SessionScopeBehindPooler)]
    finally:
        if during is not before:
            during.close()
        asyncio._set_running_loop(running)  # the thread as it was (Playwright's loop, if it runs)
        loop.close()


def test_with_services_pooler_hands_the_command_a_pooled_and_a_direct_address_and_stops_it(db):
    # What `make test-pooler` runs, against this run's PostgreSQL and Redis (configured: none is started).
    direct = _server_url(settings.DHO_DB_OWNER, "postgres")
    env = {k: v for k, v in os.environ.items() if k not in ("DHO_DIRECT_DATABASE_URL", "DHO_DB_POOLER", "DHO_POOLER")}
    env |= {"DATABASE_URL": direct, "REDIS_URL": settings.REDIS_URL}
    show = "import os; print(*(os.environ[k] for k in ('DATABASE_URL', 'DHO_DIRECT_DATABASE_URL', 'DHO_DB_POOLER')))"
    command = [sys.executable, "-m", "dho.embedded", "with-services", "--pooler", "--", sys.executable, "-c", show]
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=pgbouncer.START_TIMEOUT + 60
    )
    assert result.returncode == 0, result.stderr
    pooled, handed_direct, kind = result.stdout.split()
    assert (handed_direct, kind) == (direct, "pgbouncer")
    port = pgbouncer.Address.of(pooled).port
    assert pooled == direct.replace(direct.split("@")[1].split("/")[0], f"127.0.0.1:{port}")
    with pytest.raises(psycopg.OperationalError):  # stopped with the command
        psycopg.connect(pooled, connect_timeout=2)


@pytest.mark.parametrize(
    "url, host, port",
    [
        ("postgres://postgres@%2Fsrv%2Fdho%2Fvar%2Fpg:5432/postgres", "/srv/dho/var/pg", 5432),  # a socket, a port
        ("postgres://postgres@%2Fsrv%2Fpg/dho", "/srv/pg", 5432),  # a socket, the default port
        ("postgres://dho_app:secret@127.0.0.1:6432/dho", "127.0.0.1", 6432),
        ("postgres://dho@localhost/dho", "localhost", 5432),
    ],
)
def test_the_upstream_address_is_read_from_every_form_of_url(url, host, port):
    assert pgbouncer.Address.of(url) == pgbouncer.Address(host, port)
