"""The world (tests/world.py) built once per worker, not once per test.

Most tests start from the same world of two centres, six kommuner, a user per role and a patient per
kommune. Making it takes ~150 queries; made for each of a thousand tests, it was the suite's largest
single cost. So each pytest-xdist worker keeps two databases: its test database, empty as a test
expects it, and beside it a copy made from it after the migrations (`…_world`) in which the world is
committed once. A test that asks for `world` runs on the copy, any other on the empty one: the
connection is pointed at the right one before the test's fixtures start (nothing is open then), so
a test's transaction, its live server's threads and the Celery workers it starts all see it.

A test's changes are still rolled back (pytest-django's transaction per test), and it gets its own
copy of the Python objects (what Django's `setUpTestData` does), so what one test changes is never
another's. A transactional test (live server, Celery worker) empties the database when it ends, the
world included: the next test that asks for it builds it again. So does a test that commits rows
beside its transaction (tests/database_roles.py `owner_psycopg`): the copy is emptied first.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from django.db.models.signals import post_save

from tenants.models import Municipality
from tests.database_roles import (
    _municipality_made,
    _scope_all,
    committed_beside,
    owner_connection,
    pooled_connections_close,
    server_connect,
)

WORLD_SUFFIX = "_world"
WORLD_IDS_FROM = 1_000_000_000  # the copy's sequences start here (an int column holds up to 2,147,483,647)


class WorldDatabase:
    """Which of the worker's two databases the connection uses, and the world built in the copy."""

    def __init__(self):
        self.empty_name: str | None = None  # the test database pytest-django made and migrated
        self.world: SimpleNamespace | None = None  # the built world's objects; None: not in the copy now
        self.stray_rows = False  # a test committed rows into the copy beside its transaction

    @property
    def ready(self) -> bool:
        return self.empty_name is not None

    @property
    def world_name(self) -> str:
        return f"{self.empty_name}{WORLD_SUFFIX}"

    def create(self) -> None:
        """The copy of the freshly migrated test database (as its owner, on the server itself; no one
        may be connected to it, a pooler's idle connection neither)."""
        self.empty_name = connection.settings_dict["NAME"]
        connection.close()
        with server_connect() as server:
            server.execute(f'DROP DATABASE IF EXISTS "{self.world_name}" WITH (FORCE)')
            pooled_connections_close(server, self.empty_name)
            server.execute(f'CREATE DATABASE "{self.world_name}" TEMPLATE "{self.empty_name}" STRATEGY FILE_COPY')
        with server_connect(self.world_name) as copy_:
            # Ids stay unique across the worker's two databases, as they were in one: what outlives a
            # test (the stand-ins' received documents, Redis keys) is keyed by ids.
            for (sequence,) in copy_.execute("SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences"):
                copy_.execute("SELECT setval(%s, %s)", [sequence, WORLD_IDS_FROM])

    def drop(self) -> None:
        self.use(world=False)
        with server_connect() as server:
            server.execute(f'DROP DATABASE IF EXISTS "{self.world_name}" WITH (FORCE)')

    def use(self, *, world: bool) -> bool:
        """Points the connection at the copy or the empty database; True if it changed."""
        name = self.world_name if world else self.empty_name
        if connection.settings_dict["NAME"] == name:
            return False
        if connection.in_atomic_block:
            raise RuntimeError(f"the test database cannot change to {name} inside a transaction")
        connection.close()
        for settings_dict in {id(d): d for d in (connection.settings_dict, settings.DATABASES["default"])}.values():
            settings_dict["NAME"] = name  # the live server's threads read the same dict
        return True

    def committed_beside(self, dbname: str) -> None:
        if self.ready and dbname == self.world_name:
            self.stray_rows = True

    def empty(self) -> None:
        """Empties the copy as a transactional test's end does (as the owner: TRUNCATE)."""
        from django.core.management import call_command

        with owner_connection():
            call_command(
                "flush", verbosity=0, interactive=False, reset_sequences=False, inhibit_post_migrate=False
            )  # as TransactionTestCase: ids are never given twice (caches keyed by id outlive a test)
        self.world, self.stray_rows = None, False

    def build(self) -> None:
        from tests.world import world_build

        if Municipality.objects.exists():
            # Rows the copy kept though no world is known in it (a build or a transactional test's
            # reset cut short, under load or behind a pooler): emptied, or the build meets its own
            # unique keys (tenants_centre_slug_key) in every later test of the worker.
            self.empty()
        # The test scope grows with each municipality made (as tests/database_roles.py's does, under a
        # receiver name of its own: the test's receivers stay connected after the build).
        post_save.connect(_municipality_made, sender=Municipality, dispatch_uid="world_build")
        try:
            _scope_all()
            self.world = world_build()
        finally:
            post_save.disconnect(sender=Municipality, dispatch_uid="world_build")

    def copy(self) -> SimpleNamespace:
        assert self.world is not None and connection.settings_dict["NAME"] == self.world_name
        return copy.deepcopy(self.world)


_state = WorldDatabase()
committed_beside.append(_state.committed_beside)


def _wants_world(names) -> bool:
    return "world" in names


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture of the test (a module's seeded demo opens its transaction early): the
    database it wants. The first database test of a run comes before the copy exists; its fixtures
    choose below."""
    if _state.ready:
        _state.use(world=_wants_world(item.fixturenames))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The migrated test database (tests/database_roles.py), then its copy for the world."""
    with django_db_blocker.unblock():
        _state.create()
    yield
    with django_db_blocker.unblock():
        _state.drop()  # pytest-django then drops the test database it made


@pytest.fixture
def _database_chosen(request, django_db_setup, django_db_blocker):
    """The database the test wants, and the world in the copy if a test emptied it. The hook above
    chose the database already, except for the run's first database test (the copy did not exist)."""
    wants_world = _wants_world(request.fixturenames)
    with django_db_blocker.unblock():
        changed = _state.use(world=wants_world)
        if wants_world and _state.stray_rows:
            _state.empty()
        if wants_world and _state.world is None:
            _state.build()
        elif changed:
            _scope_all()  # the test scope (tests/database_roles.py) on the new connection


@pytest.fixture
def _django_db_helper(request, _database_chosen, _django_db_helper):
    """pytest-django's transaction (or reset) per test, started on the database chosen first. A
    transactional test empties its database when it ends: if that was the copy, the world is gone."""
    transactional = not connection.in_atomic_block
    yield
    if transactional and connection.settings_dict["NAME"] == _state.world_name:
        _state.world = None


@pytest.fixture
def world_database(_database_chosen) -> WorldDatabase:
    return _state
