"""The tests' world: two centres, a partner that follows up its own patients, one user per role.

Centre «Øvre» hosted by Ullensaker, follows Gjerdrum and Nannestad; Nordre Follo follows itself.
Centre «Agder» hosted by Arendal, follows Grimstad.
One patient per municipality; the fastlege `gp` is fastlege for the Gjerdrum and Grimstad patients.
"""

from types import SimpleNamespace

import pytest
from django.test import Client

from tests.factories import (
    AgreementFactory,
    CentreFactory,
    MembershipFactory,
    MunicipalityFactory,
    PatientFactory,
    UserFactory,
)


@pytest.fixture
def world(db):
    m = SimpleNamespace(
        ullensaker=MunicipalityFactory(number="3209", name="Ullensaker", population=42000),
        gjerdrum=MunicipalityFactory(number="3230", name="Gjerdrum", population=7500),
        nannestad=MunicipalityFactory(number="3238", name="Nannestad", population=15000),
        nordrefollo=MunicipalityFactory(number="3207", name="Nordre Follo", population=62000),
        arendal=MunicipalityFactory(number="4203", name="Arendal", population=46000),
        grimstad=MunicipalityFactory(number="4202", name="Grimstad", population=24500),
    )
    ovre = CentreFactory(name="Øvre", slug="ovre", host=m.ullensaker)
    agder = CentreFactory(name="Agder", slug="agder", host=m.arendal)
    AgreementFactory(centre=ovre, municipality=m.gjerdrum)
    AgreementFactory(centre=ovre, municipality=m.nannestad)
    AgreementFactory(centre=ovre, municipality=m.nordrefollo, follow_up_by="municipality")
    AgreementFactory(centre=agder, municipality=m.grimstad)

    def member(username, role, centre=None, municipality=None):
        user = UserFactory(username=username)
        MembershipFactory(user=user, role=role, centre=centre, municipality=municipality)
        return user

    u = SimpleNamespace(
        nurse=member("nurse", "nurse", centre=ovre),
        nurse_nordrefollo=member("nurse_nf", "nurse", municipality=m.nordrefollo),
        nurse_agder=member("nurse_agder", "nurse", centre=agder),
        coordinator=member("coord_gjerdrum", "coordinator", municipality=m.gjerdrum),
        gp=member("gp", "gp", municipality=m.gjerdrum),
        specialist=member("specialist", "specialist", centre=ovre),
        finance=member("finance", "finance", centre=ovre),
        admin=member("admin", "admin", centre=ovre),
    )
    u.admin.is_staff = True
    u.admin.save(update_fields=["is_staff"])
    p = SimpleNamespace(
        ullensaker=PatientFactory(municipality=m.ullensaker, name="Olav Ullensaker"),
        gjerdrum=PatientFactory(municipality=m.gjerdrum, name="Rune Gjerdrum", gp=u.gp),
        nannestad=PatientFactory(municipality=m.nannestad, name="Jens Nannestad"),
        nordrefollo=PatientFactory(municipality=m.nordrefollo, name="Vigdis Nordre Follo"),
        grimstad=PatientFactory(municipality=m.grimstad, name="Tove Grimstad", gp=u.gp),
    )
    # Who sees which patient: the scope table of ARCHITECTURE.md, written out.
    sees = {
        "nurse": {"ullensaker", "gjerdrum", "nannestad"},
        "nurse_nordrefollo": {"nordrefollo"},
        "nurse_agder": {"grimstad"},
        "coordinator": {"gjerdrum"},
        "gp": {"gjerdrum", "grimstad"},
        "specialist": set(),
        "finance": set(),
        "admin": set(),
    }
    return SimpleNamespace(m=m, centres=SimpleNamespace(ovre=ovre, agder=agder), u=u, p=p, sees=sees)


@pytest.fixture
def login():
    """login(user) → a Django test client logged in as that user."""

    def _login(user):
        client = Client()
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def celery_worker(transactional_db, settings):
    """A real Celery worker process on the real broker, reading the test database.

    Its queue is private to this test, so tasks from parallel runs on the same Redis never mix.
    """
    import os
    import subprocess
    import sys
    import uuid as _uuid
    from pathlib import Path

    from django.db import connection

    from dho.celery import app

    queue = f"test-{_uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    host = db["HOST"].replace("/", "%2F")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DHO_CELERY_QUEUE": queue,
        "DHO_TESTING": "1",
    }
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "dho",
            "worker",
            "-l",
            "warning",
            "--concurrency",
            "1",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{queue}@%h",
        ],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
    )
    yield SimpleNamespace(process=proc, queue=queue)
    app.conf.task_default_queue = previous_queue
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
