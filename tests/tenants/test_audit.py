import pytest

from tenants.models import AuditEvent
from tenants.selectors import PERSON_OBJECT_TYPES
from tenants.services import audit_record


@pytest.fixture
def event(world):
    return audit_record(
        action="view",
        object_type="patient",
        object_id=world.p.gjerdrum.pk,
        patient=world.p.gjerdrum,
        user=world.u.nurse,
    )


def test_it_records_who_what_and_which_patient(world, event):
    assert event.username == "nurse"
    assert event.role == "nurse"
    assert event.municipality_id == world.m.gjerdrum.pk


def test_it_refuses_to_update_an_event(event):
    event.role = "admin"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(role="admin")


def test_it_refuses_to_delete_an_event(event):
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_the_database_refuses_raw_updates_and_deletes_too(event):
    # The app's role has no such right (tests/tenants/test_rls.py); the trigger refuses even the owner.
    from tests.database_roles import owner_psycopg

    with owner_psycopg() as owner, owner.cursor() as cursor:
        cursor.execute("INSERT INTO tenants_auditevent (at, username, role, action, object_type, object_id, request_id)"
                       " VALUES (now(), 'probe', 'nurse', 'view', 'patient', '', '')")  # fmt: skip
        for sql in ("UPDATE tenants_auditevent SET role = 'x'", "DELETE FROM tenants_auditevent"):
            cursor.execute("SAVEPOINT probe")
            with pytest.raises(Exception, match="Logghendelser"):
                cursor.execute(sql)
            cursor.execute("ROLLBACK TO SAVEPOINT probe")
    assert AuditEvent.objects.get(pk=event.pk).role == "nurse"


def test_it_lets_a_centre_admin_read_the_log_of_the_centres_municipalities(world, login, event):
    from tests.factories import PatientFactory

    other = PatientFactory(municipality=world.m.grimstad)
    audit_record(action="view", object_type="patient", object_id=other.pk, patient=other, user=world.u.nurse_agder)
    page = login(world.u.admin).get("/admin/tenants/auditevent/")
    assert page.status_code == 200
    body = page.content.decode()
    assert str(world.p.gjerdrum.pk) in body
    assert str(other.pk) not in body  # Agder's log is not Øvre Romerike's business


def test_it_keeps_the_log_from_nurses(world, login, event):
    world.u.nurse.is_staff = True
    world.u.nurse.save()
    assert login(world.u.nurse).get("/admin/tenants/auditevent/").status_code == 403


# --- a list read: the list as object, and each patient on it ----------------------------------------


def test_it_records_a_list_read_with_the_list_as_object_and_each_patient_on_it(world, login):
    from tenants.selectors import access_log, access_log_period

    before = AuditEvent.objects.count()
    assert login(world.u.nurse).get("/patients/?search=e").status_code == 200
    logged = list(AuditEvent.objects.order_by("pk")[before:])
    [the_list] = [e for e in logged if e.patient_id is None]
    assert (the_list.object_type, the_list.object_id, the_list.username, the_list.role, the_list.action) == (
        "patient_list", "/patients/?search=e", "nurse", "nurse", "view"
    )  # fmt: skip
    assert the_list.municipality_id is None  # three kommuner on it: no one of them, and no patient
    shown = {world.p.ullensaker.pk, world.p.gjerdrum.pk, world.p.nannestad.pk}
    assert {e.patient_id for e in logged if e is not the_list} == shown
    assert {(e.object_type, e.request_id) for e in logged} == {("patient_list", the_list.request_id)}
    # The patient's innsyn i logg still says they were on the nurse's list.
    [seen] = access_log(world.p.gjerdrum.pk, access_log_period())
    assert (seen.username, seen.object_type) == ("nurse", "patient_list")


def test_it_records_a_search_that_found_no_one(world, login):
    before = AuditEvent.objects.count()
    page = login(world.u.coordinator).get("/patients/?search=finnes+ikke")
    assert page.status_code == 200 and not page.context["page"].object_list
    [event] = AuditEvent.objects.order_by("pk")[before:]
    assert (event.object_type, event.object_id, event.patient_id, event.role) == (
        "patient_list", "/patients/?search=finnes+ikke", None, "coordinator"
    )  # fmt: skip


def test_it_gives_a_koordinators_list_their_kommune_and_cuts_a_long_address(world, login):
    before = AuditEvent.objects.count()
    login(world.u.coordinator).get("/patients/?search=" + "r" * 100)
    login(world.u.coordinator).get("/patients/")
    long, gjerdrum = [e for e in AuditEvent.objects.order_by("pk")[before:] if e.patient_id is None]
    assert long.object_id == ("/patients/?search=" + "r" * 100)[:64]
    assert (gjerdrum.object_id, gjerdrum.municipality_id) == ("/patients/", world.m.gjerdrum.pk)


# --- the centre admin's log: the events of the centre's people that name no kommune ----------------


def _log_of(client) -> set[tuple[str, str, str]]:
    """(actor, object type, object id) of every event on the admin's «Logghendelser» list."""
    page = client.get("/admin/tenants/auditevent/")
    assert page.status_code == 200
    return {(e.username, e.object_type, e.object_id) for e in page.context["cl"].result_list}


def _person(event: tuple) -> str | None:
    """The user an event of the log is about, else None: known by its type and id together (the world's
    tables all number from one value, so a row of another table can carry a user's id)."""
    return event[2] if event[1] in PERSON_OBJECT_TYPES else None


def test_a_centre_admin_reads_what_the_centres_people_did_and_what_was_done_to_their_accounts(world, login):
    from tenants.services import user_create, user_deactivate
    from tests.factories import MembershipFactory, UserFactory

    admin_agder = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=admin_agder, role="admin", centre=world.centres.agder)
    operator = UserFactory(username="operator")  # no role at either centre (the platform's operator)
    # By an admin, of no kommune: a user made, a list read across kommuner by each centre's nurse.
    made = user_create(username="ny", role="nurse", centre=world.centres.ovre, by=world.u.admin)
    made_agder = user_create(username="ny_agder", role="nurse", centre=world.centres.agder, by=admin_agder)
    audit_record(action="view", object_type="patient_list", object_id="/patients/?search=e", user=world.u.nurse)
    audit_record(action="view", object_type="patient_list", object_id="/patients/?search=o", user=world.u.nurse_agder)
    # By someone of neither centre: to a centre's account, and to nobody's.
    user_deactivate(user=world.u.finance, by=operator)
    audit_record(action="update", object_type="centre", object_id=world.centres.agder.pk, user=operator)

    ovre = _log_of(login(world.u.admin))
    agder = _log_of(login(admin_agder))

    assert ("admin", "user", str(made.pk)) in ovre
    assert ("nurse", "patient_list", "/patients/?search=e") in ovre
    assert ("operator", "user_access", str(world.u.finance.pk)) in ovre  # Øvre's finance user
    assert ("admin_agder", "user", str(made_agder.pk)) in agder
    assert ("nurse_agder", "patient_list", "/patients/?search=o") in agder
    # Another centre's people are not this centre's business, nor the operator's own work.
    assert not {e for e in ovre if e[0] in {"admin_agder", "nurse_agder"} or _person(e) == str(made_agder.pk)}
    assert not {e for e in agder if e[0] in {"admin", "nurse"} or _person(e) in {str(made.pk), str(world.u.finance.pk)}}
    assert not {e for e in ovre | agder if e[1] == "centre"}


def test_the_log_shows_a_person_event_only_when_it_names_no_patient_and_no_kommune(world, login):
    # The nurse of Øvre reading Grimstad's patient (were it possible) is filed under Grimstad: Agder's
    # log, not Øvre's, even though the reader is Øvre's.
    grimstad = world.p.grimstad
    audit_record(action="view", object_type="patient", object_id=grimstad.pk, patient=grimstad, user=world.u.nurse)
    assert ("nurse", "patient", str(grimstad.pk)) not in _log_of(login(world.u.admin))
