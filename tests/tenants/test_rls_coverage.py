"""The wall covers every row with patient data: rows that belong to a walled row (assessments,
decisions, appeals, object permissions, the quarantine), the rows the scope is computed from are
read-only to the app's role, the audit log dates itself, security-definer functions are the app's
alone, and a session-wide scope never outlives a transaction's scope setting."""

import datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from measurements.models import QuarantinedItem
from measurements.services import integration_create
from patients.models import (
    ASSESSMENT_CRITERIA,
    Appeal,
    Assessment,
    Decision,
    PatientUserObjectPermission,
)
from patients.services import appeal_register, assessment_record, decision_record, referral_register
from tenants import rls
from tenants.models import AuditEvent, Membership
from tests.database_roles import owner_psycopg
from tests.factories import synthetic_national_id

# Every table with patient data must show no row to the app's role when no scope is set.
PATIENT_DATA_TABLES = [
    "patients_patient", "patients_referral", "patients_assessment", "patients_decision", "patients_appeal",
    "patients_consent", "patients_start", "patients_statuschange", "patients_deviceloan", "patients_movenotice",
    "patients_patientuserobjectpermission", "patients_patientgroupobjectpermission", "measurements_reading",
    "measurements_answer", "measurements_quarantineditem", "triage_alert", "triage_alertevent", "triage_contact",
    "triage_journalnote", "ebp_plan", "ebp_planversion", "billing_lockedline", "journaling_delivery",
    "insight_serviceuse", "insight_surveyanswer", "insight_comparisonserviceuse",
]  # fmt: skip


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.fixture
def forlop(world):
    """A referral in Gjerdrum with a vurdering, a refused vedtak and a klage; a quarantined item."""
    user = world.u.coordinator
    referral = referral_register(user=user, municipality=world.m.gjerdrum, national_id=synthetic_national_id(),
                                 name="Kari", referrer="hospital", reason="KOLS")  # fmt: skip
    criteria = {code: {"answer": "yes"} for code in ASSESSMENT_CRITERIA}
    assessment_record(referral=referral, user=user, criteria=criteria, what_matters="Å gå tur")
    decision_record(referral=referral, user=user, outcome="refused", reason="Ikke dekning")
    appeal_register(referral=referral, user=user, received_on=timezone.localdate())
    integration, _token = integration_create(centre=world.centres.ovre, name="Gateway")
    QuarantinedItem.objects.create(integration=integration, centre=world.centres.ovre, kind="reading",
                                   payload={"national_id": world.p.gjerdrum.national_id}, errors=[])  # fmt: skip
    return referral


def test_it_shows_no_row_of_any_table_with_patient_data_without_a_scope(world, forlop):
    everything = {table: _rows(f"SELECT count(*) FROM {table}")[0][0] for table in PATIENT_DATA_TABLES}  # noqa: S608
    assert everything["patients_assessment"] and everything["patients_appeal"]
    assert everything["measurements_quarantineditem"] and everything["patients_patientuserobjectpermission"]
    with rls.scoped([]):
        for table in PATIENT_DATA_TABLES:
            assert _rows(f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608


def test_it_hides_the_rows_of_a_walled_parent_outside_the_scope(world, forlop):
    with rls.scoped([world.m.grimstad.pk, world.m.arendal.pk]):  # Agder's reach
        assert not Assessment.objects.exists() and not Decision.objects.exists() and not Appeal.objects.exists()
        assert not QuarantinedItem.objects.exists()  # Øvre's gateway: another centre's host
        assert not PatientUserObjectPermission.objects.filter(content_object=world.p.gjerdrum).exists()
    with rls.scoped([world.m.gjerdrum.pk]):
        assert Assessment.objects.get(referral=forlop).what_matters == "Å gå tur"
    with rls.scoped([world.m.ullensaker.pk]):  # the Øvre centre's host: its admins' quarantine
        assert QuarantinedItem.objects.count() == 1


def test_every_table_that_references_a_walled_table_has_a_policy(db):
    """The pg_class walk along foreign keys: a table whose rows belong to a walled row is walled."""
    with connection.cursor() as cursor:
        cursor.execute(rls.CHILD_TABLES_SQL, [rls.POLICY, rls.POLICY])
        unwalled = sorted({row[0] for row in cursor.fetchall() if not (row[4] and row[5])})
    assert unwalled == []
    referencing = dict(_rows(
        """SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
            WHERE k.contype = 'f' AND EXISTS (SELECT 1 FROM pg_policy pp WHERE pp.polrelid = p.oid
                                              AND pp.polname = %s AND pp.polqual::text <> 'true')""",
        [rls.POLICY],
    ))  # fmt: skip
    walled = {name for (name,) in _rows("SELECT tablename FROM pg_policies WHERE policyname = %s", [rls.POLICY])}
    # Tables that point at a walled table only for a bookkeeping column (who, which device) are not
    # patient data; every other one is walled.
    assert {"patients_assessment", "patients_decision", "patients_appeal",
            "patients_patientuserobjectpermission"} <= walled  # fmt: skip
    assert [t for t, forced in referencing.items() if t not in walled and t.startswith("patients_")] == []


def test_a_new_table_under_a_walled_one_fails_the_walk_until_migrate_walls_it(db):
    with owner_psycopg() as owner, owner.cursor() as cursor:
        cursor.execute("CREATE TABLE rls_child (id int PRIMARY KEY, "
                       "referral_id uuid NOT NULL REFERENCES patients_referral(id))")  # fmt: skip
        cursor.execute(rls.CHILD_TABLES_SQL, [rls.POLICY, rls.POLICY])
        assert [r[0] for r in cursor.fetchall() if not (r[4] and r[5])] == ["rls_child"]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO tenants_membership (user_id, role, municipality_id) VALUES (%(user)s, 'nurse', %(m)s)",
        "UPDATE tenants_membership SET role = 'admin' WHERE user_id = %(user)s",
        "DELETE FROM tenants_agreement",
        "UPDATE tenants_agreement SET valid_to = NULL",
        "DELETE FROM patients_patientuserobjectpermission",
        "UPDATE auth_user SET is_superuser = true WHERE id = %(user)s",
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
        " is_active, date_joined) VALUES ('x', true, 'root2', '', '', '', true, true, now())",
    ],
)
def test_the_app_role_cannot_write_what_the_scope_is_computed_from(world, sql):
    with pytest.raises(DatabaseError), transaction.atomic():
        _rows(sql, {"user": world.u.coordinator.pk, "m": world.m.grimstad.pk})


def test_a_membership_is_written_through_the_owners_function_and_logged(world):
    before = AuditEvent.objects.filter(object_type="tenants_membership").count()
    membership = Membership.objects.create(user=world.u.coordinator, role="coordinator", municipality=world.m.nannestad)
    membership.delete()
    logged = AuditEvent.objects.filter(object_type="tenants_membership").order_by("pk")
    assert [e.action for e in logged[before:]] == ["create", "delete"]
    assert not Membership.objects.filter(user=world.u.coordinator, municipality=world.m.nannestad).exists()


def test_a_permission_is_refused_for_a_patient_outside_the_scope(world):
    from patients.services import patient_share_with

    with rls.scoped([world.m.gjerdrum.pk]), pytest.raises(DatabaseError), transaction.atomic():
        patient_share_with(patient=world.p.grimstad, user=world.u.specialist)


def test_the_database_dates_the_apps_audit_events_and_names_the_patients_kommune(world):
    event = AuditEvent.objects.create(
        at=timezone.now() - datetime.timedelta(days=400), username="løgn", action="view", object_type="patient",
        patient_id=world.p.grimstad.pk, municipality_id=None,
    )  # fmt: skip
    event = AuditEvent.objects.get(pk=event.pk)
    assert abs(event.at - timezone.now()) < datetime.timedelta(minutes=1)
    assert event.municipality_id == world.p.grimstad.municipality_id


def test_only_the_app_role_may_execute_the_security_definer_functions(db):
    functions = _rows(
        "SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE'), has_function_privilege(current_user,"
        " p.oid, 'EXECUTE') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = current_schema() AND p.prosecdef"
    )
    names = {name for name, _public, _app in functions}
    assert {"dho_permitted_municipalities", "dho_configuration_write", "dho_patient_permission_write"} <= names
    assert [(name, public) for name, public, _app in functions if public] == []
    assert all(app for _name, _public, app in functions)


def _session_wide(municipality_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, false)", [rls.SCOPE_SETTING, f"{{{municipality_id}}}"])


def test_a_session_wide_scope_is_cleared_when_a_request_or_a_task_starts(transactional_db, world):
    from celery.signals import task_prerun
    from django.http import HttpResponse
    from django.test import RequestFactory

    import dho.worker  # noqa: F401  the task_prerun receiver
    from dho.scope import ScopeMiddleware

    _session_wide(world.m.grimstad.pk)
    assert rls.current_scope() == [world.m.grimstad.pk]  # it outlived its statement's transaction
    seen = {}

    def view(request):
        seen["scope"] = rls.current_scope()
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.user = world.u.coordinator
    ScopeMiddleware(view)(request)
    assert seen["scope"] == [world.m.gjerdrum.pk]  # the request's own scope, nothing carried in
    assert rls.current_scope() is None  # and nothing carried out to the next user of the connection
    _session_wide(world.m.grimstad.pk)
    task_prerun.send(sender=None, task_id="t", task=None, args=(), kwargs={})
    assert rls.current_scope() is None
