"""Kits («sett»): made on the equipment page and through the API by the centre's nurses and admins,
with a Norwegian reason for every refusal; a centre's kits are its own (another centre never sees them)."""

import pytest

from patients.models import Kit
from patients.services import EquipmentRefused, EquipmentRoleRequired, kit_create
from tests.factories import MembershipFactory

KOLS = {"name": "KOLS", "diagnosis": "kols", "device_types": ["pulsoksymeter", "nettbrett"]}


def _kit(world, centre=None, **given):
    centre = centre or world.centres.ovre
    nurse = world.u.nurse_agder if centre == world.centres.agder else world.u.nurse
    return kit_create(centre=centre, user=nurse, **(KOLS | given))


# --- the API ------------------------------------------------------------------------------------------


def test_it_makes_a_kit_through_the_api_and_lists_it(world, api):
    client = api(world.u.nurse)
    response = client.post("/api/v1/kits/", KOLS, format="json")
    assert response.status_code == 201, response.content
    kit = Kit.objects.get()
    assert response.json() == {
        "id": kit.pk, "name": "KOLS", "diagnosis": "kols", "diagnosis_label": "KOLS",
        "device_types": ["pulsoksymeter", "nettbrett"], "device_type_labels": ["Pulsoksymeter", "Nettbrett"],
        "centre": "ovre",
    }  # fmt: skip
    assert (kit.centre, kit.device_types) == (world.centres.ovre, ["pulsoksymeter", "nettbrett"])
    listed = client.get("/api/v1/kits/").json()["results"]
    assert [k["name"] for k in listed] == ["KOLS"]


def test_it_takes_device_types_by_norwegian_label_once_each_and_no_diagnosis(world, api):
    body = {"name": "Hjemmemåling", "device_types": ["Blodtrykksmåler", "VEKT", "vekt"]}
    response = api(world.u.admin).post("/api/v1/kits/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["device_types"] == ["blodtrykk", "vekt"]
    assert (response.json()["diagnosis"], response.json()["diagnosis_label"]) == ("", "")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (KOLS | {"name": "  "}, "Navn på utstyrspakken mangler."),
        (KOLS | {"name": "K" * 101}, "Navnet på utstyrspakken kan ha høyst 100 tegn (fikk 101)."),
        (
            KOLS | {"device_types": []},
            "Velg minst én enhetstype (pulsoksymeter, blodtrykk, vekt, termometer, blodsukker, nettbrett, annet).",
        ),
        (
            KOLS | {"device_types": ["pulsoksymeter", "spirometer", "røntgen"]},
            "Ukjent enhetstype «spirometer», «røntgen»; bruk pulsoksymeter, blodtrykk, vekt, termometer, blodsukker, "
            "nettbrett, annet.",
        ),
        (
            KOLS | {"diagnosis": "astma"},
            "Ukjent diagnose «astma»; bruk kols, hjertesvikt, diabetes, kreft, psykisk eller ingen.",
        ),
        (
            KOLS | {"name": "", "diagnosis": "astma"},
            "Navn på utstyrspakken mangler. Ukjent diagnose «astma»; bruk kols, hjertesvikt, diabetes, kreft, "
            "psykisk eller ingen.",
        ),
    ],
)
def test_it_refuses_a_kit_and_says_why(world, api, body, message):
    response = api(world.u.nurse).post("/api/v1/kits/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": message}
    assert not Kit.objects.exists()


def test_it_refuses_a_name_the_centre_already_has_in_any_case_but_not_another_centres(world, api):
    _kit(world)
    again = api(world.u.nurse).post("/api/v1/kits/", KOLS | {"name": "kols "}, format="json")
    assert again.status_code == 400
    assert again.json() == {"detail": "Utstyrspakken «kols» finnes allerede ved Øvre."}
    elsewhere = api(world.u.nurse_agder).post("/api/v1/kits/", KOLS, format="json")
    assert elsewhere.status_code == 201
    assert Kit.objects.filter(name="KOLS").count() == 2


@pytest.mark.parametrize("role", ["coordinator", "gp", "specialist", "finance", "nurse_nordrefollo"])
def test_only_the_centres_nurses_and_admins_make_kits(world, api, role):
    response = api(getattr(world.u, role)).post("/api/v1/kits/", KOLS, format="json")
    assert response.status_code == 403
    assert not Kit.objects.exists()
    with pytest.raises(EquipmentRoleRequired):
        kit_create(centre=world.centres.ovre, user=getattr(world.u, role), **KOLS)


def test_it_never_lists_another_centres_kit(world, api):
    _kit(world, name="Øvre KOLS")
    _kit(world, centre=world.centres.agder, name="Agder KOLS")
    assert [k["name"] for k in api(world.u.nurse).get("/api/v1/kits/").json()["results"]] == ["Øvre KOLS"]
    assert [k["name"] for k in api(world.u.nurse_agder).get("/api/v1/kits/").json()["results"]] == ["Agder KOLS"]
    # Who keeps no register has no kits to list (as for the devices): an empty list, not another's.
    for role in ("coordinator", "gp", "finance"):
        assert api(getattr(world.u, role)).get("/api/v1/kits/").json()["results"] == [], role


def test_a_user_at_two_centres_names_the_centre(world, api):
    MembershipFactory(user=world.u.nurse, role="nurse", centre=world.centres.agder)
    client = api(world.u.nurse)
    unnamed = client.post("/api/v1/kits/", KOLS, format="json")
    assert unnamed.status_code == 400
    assert unnamed.json() == {"detail": "Du arbeider ved flere sentre; oppgi senteret (centre)."}
    named = client.post("/api/v1/kits/", KOLS | {"centre": "agder"}, format="json")
    assert named.status_code == 201 and named.json()["centre"] == "agder"
    assert [k["centre"] for k in client.get("/api/v1/kits/").json()["results"]] == ["agder"]


def test_the_kits_api_is_in_the_openapi_schema(world, api):
    schema = api(world.u.nurse).get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/kits/" in schema.content
    assert b"KitIn" in schema.content and b"KitOut" in schema.content


def test_a_kit_made_here_lends_whole_at_oppstart(world, api):
    # What the kit is for: kit_for finds it by name for a patient the centre serves.
    from patients.services import kit_for

    api(world.u.nurse).post("/api/v1/kits/", KOLS, format="json")
    assert kit_for(world.p.gjerdrum, "KOLS").device_types == ["pulsoksymeter", "nettbrett"]
    with pytest.raises(EquipmentRefused):
        kit_for(world.p.grimstad, "KOLS")  # Agder serves Grimstad, and Agder has no such kit


# --- the equipment page -----------------------------------------------------------------------------


def _kit_post(**override) -> dict:
    return {"kit-centre": "", "kit-name": "KOLS", "kit-diagnosis": "kols",
            "kit-device_types": ["pulsoksymeter", "nettbrett"], **override}  # fmt: skip


def test_the_equipment_page_lists_the_centres_kits_only(world, login):
    _kit(world, name="Øvre KOLS")
    _kit(world, name="Hjertesvikt", diagnosis="hjertesvikt", device_types=["vekt", "blodtrykk", "nettbrett"])
    _kit(world, centre=world.centres.agder, name="Agder KOLS")
    body = login(world.u.nurse).get("/utstyr/").content.decode()
    assert 'id="kits-title">Sett</h2>' in body
    assert "<td>Hjertesvikt</td><td>Hjertesvikt</td>" in body
    assert "Vekt, Blodtrykksmåler, Nettbrett" in body
    assert "Øvre KOLS" in body and "Agder KOLS" not in body


def test_it_makes_a_kit_from_the_page(world, login):
    client = login(world.u.nurse)
    response = client.post("/utstyr/sett/", _kit_post(**{"kit-centre": world.centres.ovre.pk}))
    assert response.status_code == 302 and response["Location"] == "/utstyr/#kits"
    kit = Kit.objects.get()
    assert (kit.centre, kit.name, kit.diagnosis, kit.device_types) == (
        world.centres.ovre,
        "KOLS",
        "kols",
        ["pulsoksymeter", "nettbrett"],
    )
    assert "Settet «KOLS» er lagret." in client.get("/utstyr/").content.decode()


def test_it_puts_each_kit_error_next_to_its_field(world, login):
    response = login(world.u.nurse).post(
        "/utstyr/sett/", _kit_post(**{"kit-centre": world.centres.ovre.pk, "kit-name": "", "kit-device_types": []})
    )
    assert response.status_code == 200 and not Kit.objects.exists()
    body = response.content.decode()
    assert 'id="id_kit-name_error">Fyll ut et navn på settet, for eksempel «KOLS».' in body
    assert 'id="id_kit-device_types_error">Velg minst én enhetstype.' in body
    assert "Skjemaet ble ikke lagret." in body and 'aria-invalid="true"' in body


def test_it_shows_the_services_refusal_above_the_kit_form(world, login):
    _kit(world)
    response = login(world.u.nurse).post("/utstyr/sett/", _kit_post(**{"kit-centre": world.centres.ovre.pk}))
    assert response.status_code == 200
    assert "<li>Utstyrspakken «KOLS» finnes allerede ved Øvre.</li>" in response.content.decode()
    assert Kit.objects.count() == 1


def test_it_offers_only_the_users_own_centres_for_a_kit(world, login):
    response = login(world.u.nurse).post("/utstyr/sett/", _kit_post(**{"kit-centre": world.centres.agder.pk}))
    assert response.status_code == 200 and not Kit.objects.exists()
    assert 'id="id_kit-centre_error">Velg et senter fra listen.' in response.content.decode()


def test_the_kit_form_is_only_for_those_who_keep_a_register(world, login):
    assert login(world.u.nurse).get("/utstyr/sett/").status_code == 404  # the form lives on /utstyr/
    for role in ("coordinator", "gp", "finance"):
        post = login(getattr(world.u, role)).post("/utstyr/sett/", _kit_post(**{"kit-centre": world.centres.ovre.pk}))
        assert post.status_code == 404, role
    assert not Kit.objects.exists()
