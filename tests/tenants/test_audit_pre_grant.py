"""Referrals before the grant have no patient, only a municipality: the board and the referral list
audit them with one INSERT for the whole page (tenants.services.audit_record_list: the list's own
event and one per row), so a page costs the same number of queries whether it shows 2 referrals or 12."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Referral
from patients.services import referral_register
from patients.services.status import NoPatientYet
from tenants.models import AuditEvent
from tenants.services import audit_record_many_objects
from tests.factories import synthetic_national_id


def _referrals(world, count: int, municipality=None) -> list[Referral]:
    return [
        referral_register(
            user=world.u.coordinator if municipality is None else world.u.nurse,
            municipality=municipality or world.m.gjerdrum,
            national_id=synthetic_national_id(),
            name=f"Kandidat {n}",
            referrer="hospital",
            reason="Hyppige innleggelser.",
        )
        for n in range(count)
    ]


def _inserts_into_the_log(captured) -> int:
    return sum(1 for q in captured if q["sql"].startswith("INSERT INTO tenants_auditevent"))


def test_it_logs_objects_without_a_patient_in_one_insert(world):
    subjects = [("ref-1", NoPatientYet(municipality_id=world.m.gjerdrum.pk)),
                ("ref-2", NoPatientYet(municipality_id=world.m.nannestad.pk)),
                ("loan-3", world.p.gjerdrum)]  # fmt: skip
    with CaptureQueriesContext(connection) as captured:
        audit_record_many_objects(action="view", object_type="forlop_board", objects=subjects, user=world.u.nurse)
    assert _inserts_into_the_log(captured) == 1
    logged = {e.object_id: e for e in AuditEvent.objects.filter(object_type="forlop_board")}
    assert set(logged) == {"ref-1", "ref-2", "loan-3"}
    assert (logged["ref-1"].patient_id, logged["ref-1"].municipality_id) == (None, world.m.gjerdrum.pk)
    assert (logged["ref-2"].patient_id, logged["ref-2"].municipality_id) == (None, world.m.nannestad.pk)
    assert (logged["loan-3"].patient_id, logged["loan-3"].municipality_id) == (world.p.gjerdrum.pk, world.m.gjerdrum.pk)
    assert {e.role for e in logged.values()} == {"nurse"}  # the role that reaches each municipality
    assert {(e.username, e.action, e.object_type) for e in logged.values()} == {("nurse", "view", "forlop_board")}


def test_it_logs_nothing_for_nothing(world):
    with CaptureQueriesContext(connection) as captured:
        audit_record_many_objects(action="view", object_type="x", objects=[], user=world.u.nurse)
    assert len(captured) == 0


def _board_queries(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/forlop/").status_code == 200
    return len(captured), _inserts_into_the_log(captured)


def test_the_boards_queries_do_not_grow_with_its_pre_grant_referrals(world, login):
    client = login(world.u.coordinator)
    few = _referrals(world, 2)
    queries_few, inserts_few = _board_queries(client)
    many = few + _referrals(world, 10)
    before = AuditEvent.objects.count()
    queries_many, inserts_many = _board_queries(client)
    assert queries_many == queries_few
    assert inserts_few == inserts_many == 1
    # The board's own event: the list as object, no patient, the koordinator's kommune.
    logged = AuditEvent.objects.order_by("pk")[before:]
    [board] = [e for e in logged if e.object_id == "/forlop/"]
    assert (board.object_type, board.patient_id, board.municipality_id) == ("forlop_board", None, world.m.gjerdrum.pk)
    # Every referral on the board is still in the log, by its own id, with its municipality.
    referral_events = {e.object_id: e for e in logged if e.patient_id is None and e != board}
    assert set(referral_events) == {str(r.pk) for r in many}
    assert {(e.municipality_id, e.role, e.object_type) for e in referral_events.values()} == {
        (world.m.gjerdrum.pk, "coordinator", "forlop_board")
    }
    # …and the patient the koordinator sees on the board, by the patient's id as before.
    assert str(world.p.gjerdrum.pk) in {e.object_id for e in logged if e.patient_id == world.p.gjerdrum.pk}


def test_the_referral_lists_queries_do_not_grow_with_its_referrals(world, api):
    client = api(world.u.nurse)

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/referrals/").status_code == 200
        return len(captured), _inserts_into_the_log(captured)

    _referrals(world, 2, municipality=world.m.nannestad)
    few = queries()
    referrals = _referrals(world, 10, municipality=world.m.nannestad)
    before = AuditEvent.objects.count()
    assert queries() == few and few[1] == 1
    logged = AuditEvent.objects.order_by("pk")[before:]
    assert {e.object_id for e in logged} >= {str(r.pk) for r in referrals}
    assert {(e.object_type, e.municipality_id, e.patient_id, e.role) for e in logged} == {
        ("referral_list", world.m.nannestad.pk, None, "nurse")
    }


def test_a_linked_referral_is_logged_with_its_patient_and_its_own_id(world, api):
    # A person already known in the scope is linked at registration: the log names the patient.
    referral = referral_register(
        user=world.u.nurse, municipality=world.m.nannestad, national_id=world.p.nannestad.national_id,
        name=world.p.nannestad.name, referrer="gp", reason="Ny vurdering.",
    )  # fmt: skip
    assert referral.patient == world.p.nannestad
    before = AuditEvent.objects.count()
    api(world.u.nurse).get("/api/v1/referrals/")
    [event] = [e for e in AuditEvent.objects.order_by("pk")[before:] if e.patient_id]  # and the list's event
    assert (event.object_id, event.patient_id, event.municipality_id) == (
        str(referral.pk),
        world.p.nannestad.pk,
        world.m.nannestad.pk,
    )
