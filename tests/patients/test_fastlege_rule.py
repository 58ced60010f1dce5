"""Every patient can get a fastlege who can approve the plan: one rule (patients.services.fastlege) for
the henvisning, the patient page and the API. Offered first: the kommune's fastleger and those already
following its residents; any other fastlege on the platform only as an explicit, audited choice, found
by name or HPR number. Changing the fastlege moves the fastlege's access to the patient."""

import pytest

from patients.models import Patient, PatientUserObjectPermission, Referral
from patients.services import (
    GP_NOT_FOUND,
    GP_NOT_OFFERED,
    FastlegeRefused,
    FastlegeRoleRequired,
    fastlege_search,
    offered_fastleger,
    patient_gp_set,
    referral_register,
)
from tenants.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory, synthetic_national_id


def _gp(username, first, last, municipality, hpr=""):
    user = UserFactory(username=username, first_name=first, last_name=last)
    MembershipFactory(user=user, role="gp", centre=None, municipality=municipality, hpr_number=hpr)
    return user


@pytest.fixture
def coordinator_without_gps(world):
    """A koordinator of Nannestad, where no fastlege has a membership (as Gjerdrum's once had none)."""
    user = UserFactory(username="coord_nannestad")
    MembershipFactory(user=user, role="coordinator", centre=None, municipality=world.m.nannestad)
    return user


def test_the_offered_list_has_the_kommunes_fastleger_and_those_following_its_residents(world, coordinator_without_gps):
    berg = _gp("berg", "Erik", "Berg", world.m.ullensaker, hpr="990000101")
    world.p.nannestad.gp = berg  # Berg practises in Ullensaker but follows a Nannestad resident
    world.p.nannestad.save()
    hansen = _gp("hansen", "Ingrid", "Hansen", world.m.nannestad)
    _gp("langt.unna", "Lise", "Langt", world.m.grimstad)
    offered = list(offered_fastleger([world.m.nannestad.pk]))
    assert offered == [berg, hansen]  # by name; nobody from elsewhere
    assert offered[0].gp_municipalities == [] and offered[1].gp_municipalities == ["Nannestad"]
    assert offered[0].gp_hpr_numbers == ["990000101"]
    body = _login_get(world, coordinator_without_gps, "/forlop/ny/")
    assert "Erik Berg" in body and "Ingrid Hansen (Nannestad)" in body and "Lise Langt" not in body


def _login_get(world, user, path):
    from tests.conftest import verified_client

    return verified_client(user).get(path).content.decode()


def test_the_search_finds_others_by_name_or_hpr_and_leaves_the_offered_out(world):
    far = _gp("langt.unna", "Lise", "Langt", world.m.grimstad, hpr="990000999")
    assert fastlege_search([world.m.gjerdrum.pk], "990000999") == [far]
    assert fastlege_search([world.m.gjerdrum.pk], "lise lan") == [far]
    world.u.gp.last_name = "Pedersen"
    world.u.gp.save()
    assert fastlege_search([world.m.gjerdrum.pk], "pedersen") == []  # offered in Gjerdrum: not «other»
    assert fastlege_search([world.m.arendal.pk], "pedersen") == [world.u.gp]  # but in Arendal it is
    assert fastlege_search([world.m.gjerdrum.pk], world.u.nurse.username) == []  # no fastlege
    with pytest.raises(FastlegeRefused):
        fastlege_search([world.m.gjerdrum.pk], "li")


def _register(world, **extra):
    return referral_register(user=world.u.coordinator, municipality=world.m.gjerdrum,
                             national_id=synthetic_national_id(), name="Kari Nordmann", referrer="hospital",
                             reason="Hyppige innleggelser.", **extra)  # fmt: skip


def test_a_fastlege_outside_the_list_is_an_explicit_audited_choice_on_the_henvisning(world):
    far = _gp("langt.unna", "Lise", "Langt", world.m.grimstad, hpr="990000999")
    with pytest.raises(Exception, match="ikke blant fastlegene"):
        _register(world, gp=far)
    referral = _register(world, gp=far, gp_outside_offered=True)
    assert referral.gp == far
    event = AuditEvent.objects.get(object_type="gp_outside_offered")
    assert (event.username, event.object_id, event.municipality_id) == ("coord_gjerdrum", str(far.pk),
                                                                        world.m.gjerdrum.pk)  # fmt: skip
    # the explicit choice is still only among fastleger
    with pytest.raises(Exception, match="ikke blant fastlegene"):
        _register(world, gp=world.u.nurse, gp_outside_offered=True)


def test_the_form_finds_a_fastlege_by_hpr_number(world, login):
    far = _gp("langt.unna", "Lise", "Langt", world.m.grimstad, hpr="990000999")
    response = login(world.u.coordinator).post("/forlop/ny/", {
        "municipality": world.m.gjerdrum.pk, "national_id": synthetic_national_id(), "name": "Kari Nordmann",
        "referrer": "hospital", "reason": "Hyppige innleggelser.", "gp": "", "gp_other": "990000999",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()
    assert Referral.objects.get().gp == far
    assert AuditEvent.objects.filter(object_type="gp_outside_offered", object_id=str(far.pk)).count() == 1


def test_the_api_refuses_outside_the_list_without_the_flag_and_takes_it_with(world, api):
    far = _gp("langt.unna", "Lise", "Langt", world.m.grimstad, hpr="990000999")
    client = api(world.u.coordinator)
    body = {"national_id": synthetic_national_id(), "name": "Kari Nordmann", "municipality": "3230",
            "referrer": "hospital", "reason": "Hyppige innleggelser.", "gp": "990000999"}  # fmt: skip
    refused = client.post("/api/v1/referrals/", body, format="json")
    assert refused.status_code == 400 and refused.json() == {"gp": [GP_NOT_OFFERED]}
    nobody = client.post("/api/v1/referrals/", {**body, "gp": "finnes.ikke", "gp_outside_offered": True}, format="json")
    assert nobody.status_code == 400 and nobody.json() == {"gp": [GP_NOT_FOUND]}
    taken = client.post("/api/v1/referrals/", {**body, "gp_outside_offered": True}, format="json")
    assert taken.status_code == 201, taken.json()
    assert Referral.objects.get().gp == far
    assert AuditEvent.objects.filter(object_type="gp_outside_offered", object_id=str(far.pk)).exists()


def _holders(patient) -> set[str]:
    rows = PatientUserObjectPermission.objects.filter(content_object=patient, permission__codename="follow_as_gp")
    return set(rows.values_list("user__username", flat=True))


def test_changing_the_fastlege_moves_the_access(world, login, api):
    patient = world.p.gjerdrum
    new = _gp("ny.lege", "Ny", "Lege", world.m.gjerdrum)
    assert login(world.u.gp).get(f"/patients/{patient.pk}/").status_code == 200
    response = login(world.u.nurse).post(f"/patients/{patient.pk}/fastlege/", {"gp": new.pk, "gp_other": ""})
    assert response.status_code == 302, response.content.decode()
    patient.refresh_from_db()
    assert patient.gp == new and _holders(patient) == {"ny.lege"}
    assert AuditEvent.objects.filter(object_type="patient_gp", patient_id=patient.pk, username="nurse").exists()
    # World's gp also follows a Grimstad patient (not Gjerdrum any more): Gjerdrum's is gone, 404.
    assert login(world.u.gp).get(f"/patients/{patient.pk}/").status_code == 404
    assert api(world.u.gp).get(f"/api/v1/patients/{patient.pk}/").status_code == 404
    assert login(new).get(f"/patients/{patient.pk}/").status_code == 200


def test_the_patient_api_sets_the_fastlege_by_the_same_rule(world, api):
    patient = world.p.gjerdrum
    far = _gp("langt.unna", "Lise", "Langt", world.m.grimstad, hpr="990000999")
    client = api(world.u.coordinator)
    listed = client.get(f"/api/v1/patients/{patient.pk}/gp/?search=990000999").json()
    assert [g["username"] for g in listed["offered"]] == ["gp"] and [g["username"] for g in listed["found"]] == [
        "langt.unna"
    ]
    refused = client.post(f"/api/v1/patients/{patient.pk}/gp/", {"gp": "langt.unna"}, format="json")
    assert refused.status_code == 400 and refused.json() == {"gp": [GP_NOT_OFFERED]}
    assert Patient.objects.get(pk=patient.pk).gp == world.u.gp
    done = client.post(f"/api/v1/patients/{patient.pk}/gp/", {"gp": "990000999", "gp_outside_offered": True},
                       format="json")  # fmt: skip
    assert done.status_code == 200, done.json()
    assert Patient.objects.get(pk=patient.pk).gp == far and _holders(patient) == {"langt.unna"}
    assert AuditEvent.objects.filter(object_type="gp_outside_offered", patient_id=patient.pk).count() == 1


def test_only_the_patients_nurses_and_koordinator_set_the_fastlege(world, login):
    with pytest.raises(FastlegeRoleRequired):
        patient_gp_set(patient=world.p.gjerdrum, user=world.u.gp, gp=None)
    assert login(world.u.gp).get(f"/patients/{world.p.gjerdrum.pk}/fastlege/").status_code == 403
    assert login(world.u.coordinator).get(f"/patients/{world.p.nannestad.pk}/fastlege/").status_code == 404
    assert Patient.objects.get(pk=world.p.gjerdrum.pk).gp == world.u.gp


def test_a_patient_without_a_fastlege_is_flagged_on_the_board_with_the_way_to_fix_it(world, login):
    patient = world.p.gjerdrum  # active
    patient.gp = None
    patient.save()
    body = login(world.u.coordinator).get("/forlop/").content.decode()
    assert f'href="/patients/{patient.pk}/fastlege/">Mangler fastlege' in body
    page = login(world.u.coordinator).get(f"/patients/{patient.pk}/").content.decode()
    assert "Ingen fastlege" in page and f'href="/patients/{patient.pk}/fastlege/">Registrer fastlege' in page
