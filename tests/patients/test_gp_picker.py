"""The fastlege on the henvisning form: a short list of the fastleger practising in the user's
municipalities, by name and with their kommune, optional; the one chosen is saved on the referral
and shown on its page. (Axe: tests/browser/test_forlop.py picks one.) The API and the service take
the same list (patients.selectors.referral_fastleger), and every refusal says the same words, so no
answer tells whether a username exists or is a fastlege."""

import pytest

from patients.models import Referral
from patients.selectors import fastleger_for
from patients.services import GP_NOT_OFFERED, ReferralRefused, referral_register
from tests.factories import MembershipFactory, UserFactory, synthetic_national_id


def _gp(username, first, last, *municipalities):
    user = UserFactory(username=username, first_name=first, last_name=last)
    for municipality in municipalities:
        MembershipFactory(user=user, role="gp", centre=None, municipality=municipality)
    return user


def _post(**override) -> dict:
    return {
        "national_id": synthetic_national_id(), "name": "Kari Nordmann", "referrer": "hospital",
        "referrer_name": "", "reason": "Hyppige innleggelser.", "phone": "", "next_of_kin": "", "received_on": "",
        "gp": "", **override,
    }  # fmt: skip


def _options(body: str) -> list[str]:
    select = body[body.index('<select name="gp"') : body.index("</select>", body.index('<select name="gp"'))]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in select.split("<option")[1:]]


def test_it_offers_the_fastleger_of_the_users_municipalities_by_name(world, login):
    _gp("aas", "Åse", "Aas", world.m.gjerdrum, world.m.nannestad)
    _gp("berg", "Erik", "Berg", world.m.gjerdrum)
    _gp("langt.unna", "Lise", "Langt", world.m.grimstad)  # elsewhere: not offered
    world.u.gp.first_name, world.u.gp.last_name = "Geir", "Pedersen"
    world.u.gp.save()
    body = login(world.u.coordinator).get("/forlop/ny/").content.decode()
    # The koordinator's kommune only, even for a fastlege who also practises in another.
    assert _options(body) == ["Ikke valgt", "Åse Aas (Gjerdrum)", "Erik Berg (Gjerdrum)", "Geir Pedersen (Gjerdrum)"]
    assert '<label for="id_gp">Fastlege</label>' in body
    nurse = _options(login(world.u.nurse).get("/forlop/ny/").content.decode())
    assert nurse == [
        "Ikke valgt", "Åse Aas (Gjerdrum, Nannestad)", "Erik Berg (Gjerdrum)", "Geir Pedersen (Gjerdrum)",
    ]  # fmt: skip


def test_it_saves_the_chosen_fastlege_and_shows_it(world, login):
    client = login(world.u.coordinator)
    response = client.post("/forlop/ny/", _post(municipality=world.m.gjerdrum.pk, gp=world.u.gp.pk))
    referral = Referral.objects.get()
    assert response.status_code == 302, response.content.decode()
    assert referral.gp == world.u.gp
    page = client.get(f"/forlop/{referral.pk}/").content.decode()
    assert f"<dt>Fastlege</dt><dd>{world.u.gp.get_full_name()}</dd>" in page


def test_the_fastlege_may_be_left_out(world, login):
    client = login(world.u.coordinator)
    assert client.post("/forlop/ny/", _post(municipality=world.m.gjerdrum.pk)).status_code == 302
    referral = Referral.objects.get()
    assert referral.gp is None
    assert "<dt>Fastlege</dt><dd>–</dd>" in client.get(f"/forlop/{referral.pk}/").content.decode()


def test_it_refuses_a_fastlege_not_on_the_list_next_to_the_field(world, login):
    elsewhere = _gp("langt.unna", "Lise", "Langt", world.m.grimstad)
    for given in (elsewhere.pk, world.u.nurse.pk, "x"):  # another kommune's, not a fastlege, not an id
        response = login(world.u.coordinator).post("/forlop/ny/", _post(municipality=world.m.gjerdrum.pk, gp=given))
        assert response.status_code == 200, given
        assert f'id="id_gp_error">{GP_NOT_OFFERED}' in response.content.decode()
    assert not Referral.objects.exists()


def _api_body(**override) -> dict:
    return {
        "national_id": synthetic_national_id(), "name": "Kari Nordmann", "municipality": "3230",
        "referrer": "hospital", "reason": "Hyppige innleggelser.", **override,
    }  # fmt: skip


def test_it_refuses_over_the_api_a_fastlege_the_form_does_not_offer_in_the_same_words(world, api):
    elsewhere = _gp("langt.unna", "Lise", "Langt", world.m.grimstad)  # a fastlege, but in Grimstad
    client = api(world.u.coordinator)
    answers = []
    for given in (elsewhere.username, world.u.nurse.username, "finnes.ikke"):  # elsewhere, no fastlege, no one
        response = client.post("/api/v1/referrals/", _api_body(gp=given), format="json")
        assert response.status_code == 400, given
        assert given not in response.content.decode()
        answers.append(response.json())
    assert answers == [{"gp": [GP_NOT_OFFERED]}] * 3
    assert not Referral.objects.exists()


def test_it_takes_over_the_api_a_fastlege_the_form_offers(world, api):
    response = api(world.u.coordinator).post("/api/v1/referrals/", _api_body(gp=world.u.gp.username), format="json")
    assert response.status_code == 201, response.json()
    assert Referral.objects.get().gp == world.u.gp


def test_it_refuses_in_the_service_a_fastlege_outside_the_users_kommuner(world):
    elsewhere = _gp("langt.unna", "Lise", "Langt", world.m.grimstad)
    for gp in (elsewhere, world.u.nurse):
        with pytest.raises(ReferralRefused, match=GP_NOT_OFFERED):
            referral_register(user=world.u.coordinator, municipality=world.m.gjerdrum,
                              national_id=synthetic_national_id(), name="Kari Nordmann", referrer="hospital",
                              reason="Hyppige innleggelser.", gp=gp)  # fmt: skip
    assert not Referral.objects.exists()


def test_the_list_is_a_fixed_number_of_queries_and_leaves_out_inactive_users(world, django_assert_num_queries):
    gone = _gp("sluttet", "Sluttet", "Lege", world.m.gjerdrum)
    gone.is_active = False
    gone.save()
    for n in range(5):
        _gp(f"lege{n}", "Lege", f"Nummer {n}", world.m.gjerdrum)
    with django_assert_num_queries(1):
        listed = list(fastleger_for([world.m.gjerdrum.pk]))
    assert gone not in listed and world.u.gp in listed and len(listed) == 6
    assert listed[0].gp_municipalities == ["Gjerdrum"]
