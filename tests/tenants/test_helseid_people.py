"""Who logs in with HelseID and for which organisation: the centre admin's binding (by fødselsnummer
or HPR number, a keyed hash, audited), «Velg virksomhet» (the session's scope follows the choice,
each switch audited), the password fallback a centre switches off, the login method in the audit log
and «innsyn i logg», and `check --deploy`'s word on the configuration."""

import pytest
from django.core.management import call_command
from django.test import Client

from tenants import persons
from tenants.checks import helseid_login_configured
from tenants.models import AuditEvent, Membership, PersonBinding
from tests.conftest import second_factor_device, totp_code
from tests.factories import MembershipFactory
from tests.tenants.conftest import bind, log_in

SIGRID = {"pid": "14837821089", "hpr": "9144889", "level": "4", "name": "Sigrid Dahl"}
KARI = {"pid": "02916921090", "hpr": "9144890", "level": "4", "name": "Kari Holm"}


# --- the centre admin binds a user ------------------------------------------------------------------


def test_the_admin_binds_a_user_by_fodselsnummer_kept_only_as_a_keyed_hash(world, login):
    admin = login(world.u.admin)
    page = admin.get(f"/admin/auth/user/{world.u.nurse.pk}/change/").content.decode()
    assert "Ikke koblet: kan ikke logge inn med HelseID." in page
    response = admin.post(f"/admin/auth/user/{world.u.nurse.pk}/helseid/", {"fnr": "148378 21089", "hpr_number": ""})
    assert response.status_code == 302
    binding = PersonBinding.objects.get(user=world.u.nurse)
    assert binding.pid_digest == persons.pid_digest("14837821089") and len(binding.pid_digest) == 64
    assert "14837821089" not in str(PersonBinding.objects.filter(pk=binding.pk).values().get())
    assert binding.bound_by == "admin"
    event = AuditEvent.objects.get(object_type="person_binding")
    assert (event.username, event.action, event.object_id) == ("admin", "create", str(world.u.nurse.pk))
    page = admin.get(f"/admin/auth/user/{world.u.nurse.pk}/change/").content.decode()
    assert "Koblet (fødselsnummer registrert) av admin" in page


def test_the_binding_is_refused_saying_why(world, login):
    admin = login(world.u.admin)
    url = f"/admin/auth/user/{world.u.nurse.pk}/helseid/"
    assert "Kontrollsifrene stemmer ikke" in admin.post(url, {"fnr": "14837821088"}).content.decode()
    assert "Skriv fødselsnummeret, HPR-nummeret eller begge" in admin.post(url, {"fnr": ""}).content.decode()
    assert "HPR-nummeret har 6 til 9 sifre" in admin.post(url, {"hpr_number": "12"}).content.decode()
    bind(world.u.coordinator, KARI)
    page = admin.post(url, {"fnr": KARI["pid"]}).content.decode()
    assert "allerede koblet til brukeren coord_gjerdrum" in page
    assert not PersonBinding.objects.filter(user=world.u.nurse).exists()


def test_another_centres_user_cannot_be_bound_by_this_admin(world, login):
    admin = login(world.u.admin)
    assert admin.post(f"/admin/auth/user/{world.u.nurse_agder.pk}/helseid/", {"fnr": SIGRID["pid"]}).status_code == 404
    assert admin.get("/admin/auth/user/abc/helseid/").status_code == 404  # no user either, not a 500
    assert not PersonBinding.objects.exists()


def test_the_admin_removes_a_binding_and_the_person_is_unknown_again(world, login, idp):
    bind(world.u.nurse, SIGRID)
    admin = login(world.u.admin)
    admin.post(f"/admin/auth/user/{world.u.nurse.pk}/helseid/", {"unbind": "1"})
    assert not PersonBinding.objects.exists()
    assert AuditEvent.objects.filter(object_type="person_binding", action="delete").exists()
    assert log_in(Client(), idp, SIGRID).status_code == 403


def test_a_binding_by_hpr_number_lets_that_person_in(world, login, idp):
    login(world.u.admin).post(f"/admin/auth/user/{world.u.nurse.pk}/helseid/", {"hpr_number": "9144889"})
    client = Client()
    assert log_in(client, idp, SIGRID).status_code == 302
    assert int(client.session["_auth_user_id"]) == world.u.nurse.pk
    # Another person with the same HPR claim but a fødselsnummer bound elsewhere is not taken for her.
    assert persons.user_for_person(pid=KARI["pid"], hpr_number="9144889").user == world.u.nurse


# --- «Velg virksomhet» ---------------------------------------------------------------------------------


@pytest.fixture
def two_kommuner(world):
    """The Gjerdrum koordinator is Nannestad's too."""
    MembershipFactory(user=world.u.coordinator, role="coordinator", municipality=world.m.nannestad)
    bind(world.u.coordinator, KARI)
    return world.u.coordinator


def _names(client):
    return {row["name"] for row in client.get("/api/v1/patients/").json()["results"]}


def test_a_user_of_several_organisations_chooses_one_and_sees_only_its_patients(world, idp, two_kommuner):
    client = Client()
    response = log_in(client, idp, KARI)
    assert client.get(response["Location"])["Location"].startswith("/virksomhet/?next=")
    assert client.get("/api/v1/patients/").status_code == 403  # nothing before the choice
    page = client.get("/virksomhet/").content.decode()
    assert "Gjerdrum kommune" in page and "Nannestad kommune" in page
    key = f"municipality:{world.m.gjerdrum.pk}"
    assert client.post("/virksomhet/", {"organisation": key, "next": "/patients/"})["Location"] == "/patients/"
    assert _names(client) == {"Rune Gjerdrum"}
    assert "Jens Nannestad" not in client.get("/patients/").content.decode()
    assert client.get(f"/patients/{world.p.nannestad.pk}/").status_code == 404
    assert "Gjerdrum kommune" in client.get("/patients/").content.decode()  # the header names it
    event = AuditEvent.objects.get(object_type="organisation")
    assert (event.object_id, event.role, event.login_method) == (key, "coordinator", "helseid")

    # Switching needs no new login, and is audited too.
    client.post("/virksomhet/", {"organisation": f"municipality:{world.m.nannestad.pk}"})
    assert _names(client) == {"Jens Nannestad"}
    assert AuditEvent.objects.filter(object_type="organisation").count() == 2


def test_an_organisation_that_is_not_the_users_cannot_be_chosen(world, idp, two_kommuner):
    client = Client()
    log_in(client, idp, KARI)
    response = client.post("/virksomhet/", {"organisation": f"municipality:{world.m.grimstad.pk}"})
    assert response.status_code == 400 and "Velg en av virksomhetene i listen" in response.content.decode()
    assert client.get("/api/v1/patients/").status_code == 403


def test_the_choice_holds_for_the_database_wall_too(world, idp, two_kommuner):
    from dho.scope import municipality_ids_for

    user = two_kommuner
    assert municipality_ids_for(user) == sorted([world.m.gjerdrum.pk, world.m.nannestad.pk])
    user._dho_organisation = ("municipality", world.m.gjerdrum.pk)
    assert municipality_ids_for(user) == [world.m.gjerdrum.pk]


def test_a_password_login_chooses_too(world, two_kommuner):
    user = two_kommuner
    user.set_password("korrekt-hest-batteri")
    user.save()
    client = Client()
    client.post("/login/", {"username": user.username, "password": "korrekt-hest-batteri"})
    client.post("/login/verify/", {"code": totp_code(second_factor_device(user))})
    assert client.get("/patients/")["Location"].startswith("/virksomhet/")
    assert client.session["dho_login_method"] == "password"


def test_a_user_of_one_organisation_is_not_asked(world, idp):
    bind(world.u.nurse, SIGRID)
    client = Client()
    log_in(client, idp, SIGRID)
    assert client.get("/worklist/").status_code == 200


def test_fastlege_roles_are_no_organisations_to_choose_between(world, idp):
    MembershipFactory(user=world.u.gp, role="gp", municipality=world.m.nannestad)
    bind(world.u.gp, KARI)
    client = Client()
    log_in(client, idp, KARI)
    assert client.get("/api/v1/patients/").status_code == 200
    assert _names(client) == {"Rune Gjerdrum", "Tove Grimstad"}


# --- the password fallback, switched off per centre ----------------------------------------------------


def test_a_centre_that_switched_passwords_off_refuses_them_for_its_people(world, login):
    centre = world.centres.ovre
    admin = login(world.u.admin)
    page = admin.get(f"/admin/tenants/centre/{centre.pk}/change/").content.decode()
    assert "innlogging med passord og kode" in page.lower()
    admin.post(f"/admin/tenants/centre/{centre.pk}/change/", {"password_login": ""})
    centre.refresh_from_db()
    assert centre.password_login is False and centre.name == "Øvre"
    assert AuditEvent.objects.filter(object_type="centre", object_id=str(centre.pk)).exists()
    for user in (world.u.nurse, world.u.coordinator):  # the centre's own, and a kommune it serves
        user.set_password("korrekt-hest-batteri")
        user.save()
        response = Client().post("/login/", {"username": user.username, "password": "korrekt-hest-batteri"})
        assert "har slått av innlogging med passord og kode" in response.content.decode()
        assert response.status_code == 200
    token = Client().post("/api/v1/auth/token/", {"username": "nurse", "password": "korrekt-hest-batteri"})
    assert token.status_code == 403 and "Logg inn med HelseID" in token.json()["detail"]
    # Agder's nurse goes on as before.
    world.u.nurse_agder.set_password("korrekt-hest-batteri")
    world.u.nurse_agder.save()
    response = Client().post("/login/", {"username": "nurse_agder", "password": "korrekt-hest-batteri"})
    assert response.status_code == 302


def test_a_centre_admin_opens_only_their_own_centre(world, login):
    admin = login(world.u.admin)
    assert admin.get(f"/admin/tenants/centre/{world.centres.agder.pk}/change/").status_code in (302, 404)


# --- the login method in the log ------------------------------------------------------------------------


def test_innsyn_i_logg_names_how_each_person_was_logged_in(world, idp, login):
    bind(world.u.nurse, SIGRID)
    helseid = Client()
    log_in(helseid, idp, SIGRID)
    helseid.get(f"/patients/{world.p.ullensaker.pk}/")
    password = login(world.u.nurse)
    password.get(f"/patients/{world.p.ullensaker.pk}/")
    page = password.get(f"/patients/{world.p.ullensaker.pk}/innsyn/").content.decode()
    assert "Innlogget med" in page and "HelseID" in page and "passord og kode" in page
    rows = login(world.u.nurse).get(f"/api/v1/patients/{world.p.ullensaker.pk}/access-log/").json()["results"]
    assert {r["login_method"] for r in rows} >= {"helseid", "password"}
    assert {r["login_method_label"] for r in rows} >= {"HelseID", "passord og kode"}


# --- check --deploy ------------------------------------------------------------------------------------------


def test_check_deploy_names_what_the_helseid_login_lacks(settings, tmp_path):
    settings.DHO_HELSEID_ISSUER, settings.DHO_HELSEID_LOGIN, settings.DHO_HELSEID_LOGIN_OFF = "", False, False
    (warning,) = helseid_login_configured()
    assert warning.id == "tenants.W001" and "DHO_HELSEID_ISSUER" in warning.msg
    settings.DHO_HELSEID_LOGIN_OFF = True  # DHO_HELSEID_LOGIN=0: on purpose
    assert helseid_login_configured() == []
    settings.DHO_HELSEID_LOGIN, settings.DHO_HELSEID_ISSUER = True, "https://helseid-sts.nhn.no"
    settings.DHO_HELSEID_LOGIN_CLIENT_ID, settings.DHO_HELSEID_LOGIN_KEY = "", ""
    settings.DHO_HELSEID_LOGIN_KEY_FILE = str(tmp_path / "missing.json")
    settings.DHO_HELSEID_ORGNR = ["12345"]
    settings.DHO_HELSEID_CA_FILE = ""
    found = {m.id: m.msg for m in helseid_login_configured()}
    assert "DHO_HELSEID_CLIENT_ID" in found["tenants.E001"]
    assert "missing.json" in found["tenants.E002"] and "kunne ikke leses" in found["tenants.E002"]
    assert "12345" in found["tenants.E004"]


def test_check_deploy_is_quiet_about_a_complete_configuration(settings, tmp_path):
    from dho.dev.standins import private_jwk_file

    key = tmp_path / "key.json"
    private_jwk_file(key, "EC")
    settings.DHO_HELSEID_LOGIN, settings.DHO_HELSEID_ISSUER = True, "https://helseid-sts.nhn.no"
    settings.DHO_HELSEID_LOGIN_CLIENT_ID, settings.DHO_HELSEID_LOGIN_KEY_FILE = "dho-login", str(key)
    settings.DHO_HELSEID_ORGNR, settings.DHO_HELSEID_CA_FILE = ["312229544"], ""
    assert helseid_login_configured() == []
    call_command("check", "--deploy", "--tag", "security")  # registered with the deploy checks


def test_membership_rows_stay_read_only_to_the_app(world):
    # The choice never writes memberships: a plain UPDATE by the app's role is still refused.
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        Membership.objects.filter(user=world.u.coordinator).update(hpr_number="1")
