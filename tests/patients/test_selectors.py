import pytest
from django.http import Http404

from patients.selectors import get_patient_for, visible_patients

ALL = {"ullensaker", "gjerdrum", "nannestad", "nordrefollo", "grimstad"}


@pytest.mark.parametrize(
    "role", ["nurse", "nurse_nordrefollo", "nurse_agder", "coordinator", "gp", "specialist", "finance", "admin"]
)
def test_it_shows_each_role_exactly_its_scope(world, role):
    user = getattr(world.u, role)
    names = {k for k in ALL if visible_patients(user).filter(pk=getattr(world.p, k).pk).exists()}
    assert names == world.sees[role]


def test_it_hides_other_municipalitys_patient_as_404(world):
    with pytest.raises(Http404):
        get_patient_for(world.u.coordinator, world.p.nannestad.pk)
    assert get_patient_for(world.u.coordinator, world.p.gjerdrum.pk) == world.p.gjerdrum


def test_it_answers_404_for_garbage_and_missing_ids(world):
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"]:
        with pytest.raises(Http404):
            get_patient_for(world.u.nurse, bad)


def test_it_moves_gp_access_when_the_gp_changes(world):
    other_gp = world.u.gp.__class__.objects.create(username="gp2")
    world.u.coordinator  # noqa: B018
    from tenants.models import Membership

    Membership.objects.create(user=other_gp, role="gp", municipality=world.m.gjerdrum)
    patient = world.p.gjerdrum
    patient.gp = other_gp
    patient.save()
    assert not visible_patients(world.u.gp).filter(pk=patient.pk).exists()
    assert visible_patients(other_gp).filter(pk=patient.pk).exists()
    patient.gp = None
    patient.save()
    assert not visible_patients(other_gp).filter(pk=patient.pk).exists()


def test_it_follows_agreement_dates(world):
    import datetime

    from tenants.models import Agreement

    for agreement in Agreement.objects.filter(municipality=world.m.nannestad):  # one row at a time: audited
        agreement.valid_to = datetime.date(2024, 12, 31)
        agreement.save()
    world.u.nurse.__dict__.pop("_dho_scope", None)
    assert not visible_patients(world.u.nurse).filter(pk=world.p.nannestad.pk).exists()


def test_specialist_sees_a_shared_patient(world):
    from patients.services import patient_share_with

    patient_share_with(patient=world.p.nannestad, user=world.u.specialist)
    assert list(visible_patients(world.u.specialist)) == [world.p.nannestad]
