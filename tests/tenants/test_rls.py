"""The second wall: PostgreSQL's row-level security and the audit log's
rights, tested as the app's real role (tests/database_roles.py connects every test as it)."""

import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from dho.scope import ScopeMiddleware, municipality_ids_for
from patients.models import Patient
from tenants import rls
from tenants.models import AuditEvent
from tests.database_roles import owner_psycopg

FOREIGN_PATIENT_SQL = "SELECT name FROM patients_patient WHERE id = %s"


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _inside_request_of(user, sql, params):
    """Runs raw SQL inside a real request's scope (dho.scope.ScopeMiddleware) of this user."""
    found = {}

    def view(request):
        found["rows"] = _rows(sql, params)
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.user = user
    ScopeMiddleware(view)(request)
    return found["rows"]


def test_the_app_connects_as_a_role_that_owns_nothing_and_bypasses_nothing(db):
    ((user, superuser, bypass),) = _rows(
        "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    assert user == settings.DHO_DB_APP_ROLE
    assert (superuser, bypass) == (False, False)
    owned = _rows("SELECT relname FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)", [user])
    assert owned == []


def test_a_raw_query_for_a_foreign_patient_inside_a_nurses_request_returns_nothing(world):
    foreign = _inside_request_of(world.u.nurse, FOREIGN_PATIENT_SQL, [world.p.grimstad.pk])
    own = _inside_request_of(world.u.nurse, FOREIGN_PATIENT_SQL, [world.p.gjerdrum.pk])
    assert foreign == []
    assert own == [("Rune Gjerdrum",)]
    # Readings, alerts, the log: every walled table, by the same policy. An ORM query without the
    # page's own filter is caught the same way.
    every = _inside_request_of(world.u.nurse_agder, "SELECT municipality_id FROM patients_patient", [])
    assert {m for (m,) in every} == {world.m.grimstad.pk}


def test_each_users_database_scope_is_their_organisations_reach(world):
    m = world.m
    for user in vars(world.u).values():  # what a request sets is what municipality_ids_for says
        ((setting,),) = _inside_request_of(user, "SELECT current_setting(%s)", [rls.SCOPE_SETTING])
        assert setting == "{" + ",".join(map(str, municipality_ids_for(user))) + "}", user
    assert set(municipality_ids_for(world.u.coordinator)) == {m.gjerdrum.pk}
    assert set(municipality_ids_for(world.u.nurse_agder)) == {m.arendal.pk, m.grimstad.pk}
    # The fastlege's patients (Gjerdrum, Grimstad) by object permission, and their own kommune.
    assert set(municipality_ids_for(world.u.gp)) == {m.gjerdrum.pk, m.grimstad.pk}
    ovre = {m.ullensaker.pk, m.gjerdrum.pk, m.nannestad.pk, m.nordrefollo.pk}
    assert set(municipality_ids_for(world.u.finance)) == ovre
    assert m.grimstad.pk not in municipality_ids_for(world.u.nurse)


def test_no_scope_set_means_no_rows(world):
    with rls.scoped([]):
        assert _rows("SELECT count(*) FROM patients_patient") == [(0,)]
        assert Patient.objects.count() == 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, '', true)", [rls.SCOPE_SETTING])
        assert _rows("SELECT count(*) FROM patients_patient") == [(0,)]
        assert rls.current_scope() is None
        transaction.set_rollback(True)  # back to the savepoint, and to the scope before it
    assert Patient.objects.count() == 5  # the test's own scope is back


def test_a_row_for_a_municipality_outside_the_scope_cannot_be_written(world):
    with pytest.raises(Exception, match="row-level security"), rls.scoped([world.m.gjerdrum.pk]):
        _rows(
            "UPDATE patients_patient SET municipality_id = %s WHERE id = %s", [world.m.grimstad.pk, world.p.gjerdrum.pk]
        )
    with rls.scoped([world.m.gjerdrum.pk]):
        assert _rows("UPDATE patients_patient SET name = name WHERE id = %s RETURNING id", [world.p.grimstad.pk]) == []
    assert Patient.objects.get(pk=world.p.gjerdrum.pk).municipality_id == world.m.gjerdrum.pk


def test_the_scope_is_set_local_and_ends_with_the_transaction(transactional_db, world):
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, '', false)", [rls.SCOPE_SETTING])  # no test scope here
    with rls.scoped([world.m.gjerdrum.pk]):
        assert rls.current_scope() == [world.m.gjerdrum.pk]
        assert _rows("SELECT count(*) FROM patients_patient") == [(1,)]
    # The same (pooled) connection, the next transaction: nothing carried over.
    assert rls.current_scope() is None
    assert _rows("SELECT count(*) FROM patients_patient") == [(0,)]


def test_a_system_scope_is_named_and_audited(world):
    with rls.scoped([]), rls.system_scope("test.nightly"):
        assert Patient.objects.count() == 5
    event = AuditEvent.objects.get(username="system:test.nightly")
    assert (event.object_type, event.object_id, event.user_id) == ("system_scope", "test.nightly", None)


def test_a_celery_task_runs_in_its_own_named_scope(world):
    from triage.tasks import score_readings

    with rls.scoped([]):  # as a worker starts: no scope
        score_readings([])
    assert AuditEvent.objects.filter(username="system:triage.score_readings").count() == 1


# --- every table with a municipality_id has a forced policy ------------------------------------------


def _unwalled(cursor) -> list[str]:
    """Tables with a municipality_id that lack RLS, FORCE or the dho_scope policy (the pg_class walk)."""
    return [table for table, _not_null, walled, has_policy in rls.walled_tables(cursor) if not (walled and has_policy)]


def test_every_table_with_a_municipality_id_has_a_forced_policy(db):
    with connection.cursor() as cursor:
        tables = rls.walled_tables(cursor)
        assert _unwalled(cursor) == []
    names = {t[0] for t in tables}
    assert {"patients_patient", "measurements_reading", "triage_alert", "tenants_auditevent",
            "billing_lockedline", "patients_deviceloan", "ebp_planversion"} <= names  # fmt: skip
    policies = dict(_rows("SELECT tablename, qual FROM pg_policies WHERE policyname = %s", [rls.POLICY]))
    for table in names - rls.CONFIGURATION_TABLES:
        assert "dho_scope()" in policies[table], table


def test_a_new_table_with_a_municipality_id_fails_the_walk_until_migrate_walls_it(db):
    with owner_psycopg() as owner, owner.cursor() as cursor:
        cursor.execute("CREATE TABLE rls_probe (id int PRIMARY KEY, municipality_id bigint NOT NULL)")
        assert _unwalled(cursor) == ["rls_probe"]
        # What `migrate` does after every run (tenants.rls.walls_ensure), on this connection.
        for statement in rls._wall_sql("rls_probe", True, False, False):
            cursor.execute(statement)
        assert _unwalled(cursor) == []


# --- item 2: the audit log cannot be rewritten by the app ----------------------------------------------


@pytest.fixture
def event(world):
    from tenants.services import audit_record

    return audit_record(action="view", object_type="patient", patient=world.p.gjerdrum, user=world.u.nurse)


def test_the_app_role_may_insert_and_select_the_audit_log_and_nothing_else(event):
    privileges = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
    held = {
        p for p in privileges if _rows("SELECT has_table_privilege(current_user, %s, %s)", [rls.AUDIT_TABLE, p])[0][0]
    }
    assert held == {"SELECT", "INSERT"}


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE tenants_auditevent SET role = 'x'",
        "DELETE FROM tenants_auditevent",
        "TRUNCATE tenants_auditevent",
        "ALTER TABLE tenants_auditevent DISABLE TRIGGER tenants_auditevent_append_only",
        "SET session_replication_role = replica",
        "DROP TRIGGER tenants_auditevent_append_only ON tenants_auditevent",
    ],
)
def test_the_app_role_cannot_rewrite_the_audit_log(event, sql):
    with pytest.raises(Exception, match=r"permission denied|must be owner"), transaction.atomic():
        _rows(sql)
    assert AuditEvent.objects.get(pk=event.pk).role == "nurse"


def test_the_trigger_refuses_truncate_to_any_role_but_the_owner(db):
    with owner_psycopg() as owner, owner.cursor() as cursor:
        cursor.execute("CREATE ROLE rls_probe_truncater")  # rolled back with the rest
        cursor.execute("GRANT TRUNCATE ON tenants_auditevent TO rls_probe_truncater")
        cursor.execute("SET LOCAL ROLE rls_probe_truncater")
        with pytest.raises(psycopg.errors.RaiseException, match="Logghendelser kan ikke slettes"):
            cursor.execute("TRUNCATE tenants_auditevent")
