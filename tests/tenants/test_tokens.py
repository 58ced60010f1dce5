"""API tokens: hashed, expiring, listed and revoked by the user and the centre admin;
and the end of a login (item 4): logging out or changing the password ends every session and token."""

import datetime

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from tenants.sessions import LOGIN_AT
from tenants.tokens import token_create, user_session_keys
from tenants.two_factor import backup_codes_create
from tests.conftest import second_factor_device, totp_code
from tests.database_roles import superuser_make

PASSWORD = "korrekt-hest-batteri"  # tests/factories.py gives every user this one


def second_factor_code(user) -> str:
    """A fresh backup code of the user's second factor (single use), the app set up if it is not yet."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(user=user, name="Autentiseringsapp", confirmed=True)
    return backup_codes_create(user=user)[0]


def _issue(username="nurse", password=PASSWORD, **kwargs):
    body = {"username": username, "password": password}
    user = get_user_model().objects.filter(username=username).first()
    if user is not None:
        body["otp"] = second_factor_code(user)
    return APIClient().post("/api/v1/auth/token/", body, **kwargs)


def _with_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def _works(secret: str) -> bool:
    return _with_token(secret).get("/api/v1/patients/").status_code == 200


# --- issuing --------------------------------------------------------------------------------------


def test_it_issues_a_token_that_is_stored_only_as_a_hash(world):
    before = timezone.now()
    response = _issue(format="json")
    assert response.status_code == 200
    body = response.json()
    secret = body["token"]
    [stored] = AuthToken.objects.filter(user=world.u.nurse)
    assert stored.digest == hash_token(secret)  # a SHA-512 digest, never the secret itself
    columns = [str(getattr(stored, f.attname)) for f in AuthToken._meta.concrete_fields]
    assert not [c for c in columns if secret in c], "the secret is stored"
    assert stored.token_key == secret[: len(stored.token_key)] and len(stored.token_key) < len(secret) // 4
    assert _works(secret)
    # It expires: eight hours by default (a session's absolute limit), and the client is told when.
    assert before + datetime.timedelta(hours=8) <= stored.expiry <= timezone.now() + datetime.timedelta(hours=8)
    assert datetime.datetime.fromisoformat(body["expiry"]) == stored.expiry


def test_it_takes_form_data_as_before(world):
    response = _issue()  # multipart, as `curl -d username=… -d password=…` sends
    assert response.status_code == 200 and _works(response.json()["token"])


def test_the_lifetime_is_configurable(world, settings):
    settings.REST_KNOX = {**django_settings.REST_KNOX, "TOKEN_TTL": datetime.timedelta(hours=2)}
    _issue(format="json")
    [stored] = AuthToken.objects.filter(user=world.u.nurse)
    assert stored.expiry - timezone.now() < datetime.timedelta(hours=2, minutes=1)
    assert stored.expiry - timezone.now() > datetime.timedelta(hours=1, minutes=59)


def test_an_expired_token_is_refused_and_deleted(world):
    secret = _issue(format="json").json()["token"]
    AuthToken.objects.filter(user=world.u.nurse).update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    response = _with_token(secret).get("/api/v1/patients/")
    assert response.status_code == 403
    assert response.json()["detail"] == "Ugyldig token."
    assert not AuthToken.objects.filter(user=world.u.nurse).exists()


def test_wrong_credentials_get_a_norwegian_400_and_no_token(world):
    for username, password in (("nurse", "feil-passord"), ("finnes-ikke", PASSWORD)):
        response = _issue(username, password, format="json")
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": ["Feil brukernavn eller passord. Sjekk begge og prøv igjen."]}
    missing = APIClient().post("/api/v1/auth/token/", {"username": "nurse"}, format="json")
    assert missing.status_code == 400
    assert missing.json() == {"password": ["Dette feltet er påkrevd."]}
    assert APIClient().post("/api/v1/auth/token/", [], format="json").status_code == 400
    assert not AuthToken.objects.exists()


def test_the_token_endpoint_asks_for_the_second_factor(world):
    post = APIClient().post
    nurse = {"username": "nurse", "password": PASSWORD}
    no_app = post("/api/v1/auth/token/", nurse, format="json")
    assert no_app.status_code == 400
    assert "Brukeren har ikke satt opp tofaktorinnlogging" in no_app.json()["otp"][0]
    code = second_factor_code(world.u.nurse)
    missing = post("/api/v1/auth/token/", nurse, format="json")
    assert missing.status_code == 400 and "«otp»" in missing.json()["otp"][0]
    wrong = post("/api/v1/auth/token/", {**nurse, "otp": "123456"}, format="json")
    assert wrong.status_code == 400 and "Koden stemmer ikke" in wrong.json()["otp"][0]
    assert not AuthToken.objects.exists()
    assert post("/api/v1/auth/token/", {**nurse, "otp": code}, format="json").status_code == 200
    reused = post("/api/v1/auth/token/", {**nurse, "otp": code}, format="json")  # a backup code works once
    assert reused.status_code == 400
    assert AuthToken.objects.count() == 1


def test_an_inactive_user_gets_no_token_and_their_tokens_stop_working(world):
    secret = _issue(format="json").json()["token"]
    world.u.nurse.is_active = False
    world.u.nurse.save(update_fields=["is_active"])
    assert _issue(format="json").status_code == 400
    assert not _works(secret)


def test_the_number_of_live_tokens_per_user_is_capped(world, settings):
    settings.REST_KNOX = {**django_settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 2}
    assert _issue(format="json").status_code == 200
    assert _issue(format="json").status_code == 200
    refused = _issue(format="json")
    assert refused.status_code == 403
    assert "Du har allerede 2 aktive API-nøkler" in refused.json()["detail"]
    # Expired tokens do not count: they are cleared on the way.
    AuthToken.objects.filter(user=world.u.nurse).update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    assert _issue(format="json").status_code == 200
    assert AuthToken.objects.filter(user=world.u.nurse).count() == 1


@pytest.mark.parametrize(
    "header", ["Token \xff\xfe", "Token \x00abc", "Token", "Token a b", "Token " + "0" * 64, "Token " + "a" * 5000]
)
def test_a_malformed_or_unknown_token_is_refused_not_a_crash(world, header):
    response = APIClient(raise_request_exception=False).get("/api/v1/patients/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 403
    assert "detail" in response.json()


@pytest.mark.parametrize("token_key", ["%00", "x" * 300, "%C3%A6%C3%B8"])
def test_revoking_a_malformed_id_is_a_404_not_a_crash(world, login, token_key):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.u.nurse)
    assert client.delete(f"/api/v1/auth/tokens/{token_key}/").status_code == 404
    page = login(world.u.nurse).post("/api-nokler/", {"revoke": "\x00"}, follow=True)
    assert page.status_code == 200 and "Fant ingen API-nøkkel" in page.content.decode()


def test_logging_in_with_a_rehashed_password_keeps_the_other_tokens(world):
    """Login re-hashes a password stored with outdated parameters (here a too short salt); that is no
    password change and must not sign anyone out (tenants.tokens watches set_password, not the hash)."""
    secret = _issue(format="json").json()["token"]
    old_hash = make_password(PASSWORD, salt="a")
    get_user_model().objects.filter(pk=world.u.nurse.pk).update(password=old_hash)
    assert _issue(format="json").status_code == 200
    assert get_user_model().objects.get(pk=world.u.nurse.pk).password != old_hash  # it was re-hashed
    assert _works(secret)


# --- listing and revoking through the API ---------------------------------------------------------


def test_a_user_lists_their_own_live_tokens_without_secrets(world):
    first = _issue(format="json").json()["token"]
    second = _issue(format="json").json()["token"]
    _other, other_secret = token_create(user=world.u.coordinator)
    expired, _expired_secret = token_create(user=world.u.nurse)
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - datetime.timedelta(minutes=1))

    response = _with_token(second).get("/api/v1/auth/tokens/")
    assert response.status_code == 200
    listed = response.json()["results"]
    assert [(t["id"], t["current"]) for t in listed] == [(second[:15], True), (first[:15], False)]
    assert {"id", "created", "expiry", "current"} == set(listed[0])
    for secret in (first, second, other_secret):
        assert secret not in response.content.decode()
        assert secret[15:30] not in response.content.decode()


def test_a_user_revokes_their_own_token_and_gets_404_for_anyone_elses(world):
    mine = _issue(format="json").json()["token"]
    theirs = _issue("coord_gjerdrum", format="json").json()["token"]
    client = _with_token(mine)

    refused = client.delete(f"/api/v1/auth/tokens/{theirs[:15]}/")
    assert refused.status_code == 404
    assert refused.json()["detail"] == "Du har ingen API-nøkkel med denne id-en."
    assert _works(theirs)

    assert client.delete(f"/api/v1/auth/tokens/{mine[:15]}/").status_code == 204
    assert not _works(mine)
    assert _works(theirs)


def test_the_schema_documents_the_token_endpoints(world):
    client = APIClient()
    client.force_authenticate(world.u.nurse)
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/v1/auth/token/", "/api/v1/auth/tokens/", "/api/v1/auth/tokens/{token_key}/"):
        assert path in schema
    assert "userToken" in schema
    assert "rest_framework.authtoken" not in django_settings.INSTALLED_APPS


# --- the «API-nøkler» page ---------------------------------------------------------------------


def test_the_page_shows_a_new_secret_once(world, login):
    client = login(world.u.nurse)
    assert "Du har ingen aktive API-nøkler." in client.get("/api-nokler/").content.decode()

    created = client.post("/api-nokler/", {"otp": totp_code(second_factor_device(world.u.nurse))})
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    [token] = AuthToken.objects.filter(user=world.u.nurse)
    page = created.content.decode()
    secret = page.split('id="new-secret"')[1].split('value="')[1].split('"')[0]
    assert token.digest == hash_token(secret) and _works(secret)
    assert "Den vises ikke igjen" in page

    again = client.get("/api-nokler/").content.decode()
    assert token.token_key in again
    assert secret not in again and 'id="new-secret"' not in again


def test_it_asks_for_the_second_factor_again_before_a_token_is_made_on_the_page(world, login, settings):
    client = login(world.u.nurse)  # past the second factor at login already
    device = second_factor_device(world.u.nurse)
    for sent, says in (({}, "Skriv inn koden fra autentiseringsappen"), ({"otp": "000000"}, "Koden stemmer ikke")):
        refused = client.post("/api-nokler/", sent)
        assert refused.status_code == 400
        page = refused.content.decode()
        assert says in page and 'aria-invalid="true"' in page and 'id="new-secret"' not in page
    assert not AuthToken.objects.exists()
    backup = backup_codes_create(user=world.u.nurse)[0]
    assert client.post("/api-nokler/", {"otp": backup}).status_code == 200  # a backup code, as at login
    assert client.post("/api-nokler/", {"otp": backup}).status_code == 400  # once
    device.throttle_reset()  # the wrong code above slows the app's next try down by a second
    assert client.post("/api-nokler/", {"otp": totp_code(device)}).status_code == 200
    assert AuthToken.objects.filter(user=world.u.nurse).count() == 2
    # Debug mode (`make run`'s demo) skips the second factor at login, and so here.
    settings.DEBUG = True
    page = client.get("/api-nokler/").content.decode()
    assert 'name="otp"' not in page
    assert client.post("/api-nokler/").status_code == 200
    assert AuthToken.objects.filter(user=world.u.nurse).count() == 3


def test_a_token_made_on_the_page_ends_when_the_session_must_end(world, login):
    client = login(world.u.nurse)
    session = client.session
    logged_in = timezone.now() - datetime.timedelta(hours=7)  # an hour left of the eight
    session[LOGIN_AT] = logged_in.timestamp()
    session.save()
    response = client.post("/api-nokler/", {"otp": totp_code(second_factor_device(world.u.nurse))})
    assert response.status_code == 200
    [token] = AuthToken.objects.filter(user=world.u.nurse)
    assert abs(token.expiry - (logged_in + datetime.timedelta(hours=8))) < datetime.timedelta(seconds=5)


def test_no_token_outlives_a_session_whatever_its_configured_lifetime(world, settings):
    settings.REST_KNOX = {**django_settings.REST_KNOX, "TOKEN_TTL": datetime.timedelta(hours=10)}
    response = _issue(format="json")
    assert response.status_code == 200
    [stored] = AuthToken.objects.filter(user=world.u.nurse)
    assert stored.expiry <= timezone.now() + datetime.timedelta(seconds=django_settings.DHO_SESSION_MAX_SECONDS)
    settings.DHO_SESSION_MAX_SECONDS = 3600
    token, _secret = token_create(user=world.u.coordinator)
    assert token.expiry <= timezone.now() + datetime.timedelta(hours=1)


def test_the_page_revokes_only_the_users_own_tokens(world, login):
    client = login(world.u.nurse)
    mine, mine_secret = token_create(user=world.u.nurse)
    theirs, theirs_secret = token_create(user=world.u.coordinator)

    refused = client.post("/api-nokler/", {"revoke": theirs.token_key}, follow=True)
    assert f"Fant ingen API-nøkkel som begynner med {theirs.token_key}" in refused.content.decode()
    assert _works(theirs_secret)

    done = client.post("/api-nokler/", {"revoke": mine.token_key}, follow=True)
    assert f"API-nøkkelen som begynner med {mine.token_key} er slettet." in done.content.decode()
    assert not _works(mine_secret)


def test_the_page_asks_for_a_login(world):
    response = Client().get("/api-nokler/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- the centre admin -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the superuser is made by the owner, beside the test
def test_the_centre_admin_lists_and_revokes_only_their_centres_users_tokens(world, login):
    from tests.factories import UserFactory

    ovre_nurse, ovre_secret = token_create(user=world.u.nurse)
    coordinator, coordinator_secret = token_create(user=world.u.coordinator)  # Gjerdrum: an Øvre partner
    agder, agder_secret = token_create(user=world.u.nurse_agder)
    root = UserFactory(username="rot")
    superuser_make(root)
    superuser, _root_secret = token_create(user=root)
    client = login(world.u.admin)

    listed = client.get("/admin/knox/authtoken/").content.decode()
    assert ovre_nurse.token_key in listed and coordinator.token_key in listed
    assert agder.token_key not in listed and superuser.token_key not in listed
    for secret in (ovre_secret, coordinator_secret, agder_secret):
        assert secret not in listed and secret[15:30] not in listed

    # Another centre's token is answered as a missing one and survives.
    foreign = client.post(f"/admin/knox/authtoken/{agder.pk}/delete/", {"post": "yes"})
    missing = client.post(f"/admin/knox/authtoken/{'0' * 128}/delete/", {"post": "yes"})
    assert foreign.status_code == missing.status_code == 302
    assert foreign["Location"] == missing["Location"] == "/admin/"
    assert _works(agder_secret)

    assert client.post(f"/admin/knox/authtoken/{ovre_nurse.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not _works(ovre_secret)
    revoked = client.post(
        "/admin/knox/authtoken/", {"action": "delete_selected", "_selected_action": [coordinator.pk], "post": "yes"}
    )
    assert revoked.status_code == 302
    assert not _works(coordinator_secret)
    assert client.get("/admin/knox/authtoken/add/").status_code == 403  # nobody mints a token for someone else


def test_a_user_without_an_admin_role_sees_no_tokens_in_the_admin(world, login):
    world.u.nurse.is_staff = True
    world.u.nurse.save(update_fields=["is_staff"])
    token_create(user=world.u.nurse)
    assert login(world.u.nurse).get("/admin/knox/authtoken/").status_code == 403


# --- the end of a login ---------------------------------------------------------------------------


def _signed_in_everywhere(world, login):
    """Two browsers logged in as the nurse, and an API token."""
    first, second = login(world.u.nurse), login(world.u.nurse)
    secret = _issue(format="json").json()["token"]
    for client in (first, second):
        assert client.get("/patients/").status_code == 200
    assert _works(secret)
    assert len(user_session_keys(world.u.nurse)) == 2
    return first, second, secret


def _signed_out(client) -> bool:
    response = client.get("/patients/")
    return response.status_code == 302 and "/login/" in response["Location"]


def test_logging_out_ends_every_session_and_token_of_the_user(world, login):
    first, second, secret = _signed_in_everywhere(world, login)
    colleague = login(world.u.coordinator)
    _colleague_token, colleague_secret = token_create(user=world.u.coordinator)

    assert first.post("/logout/").status_code == 302
    assert _signed_out(first) and _signed_out(second)
    assert not _works(secret)
    assert user_session_keys(world.u.nurse) == []
    # Nobody else is touched.
    assert colleague.get("/patients/").status_code == 200
    assert _works(colleague_secret)


def test_logging_out_before_the_second_factor_ends_only_that_session(world, login):
    """Someone who knows only the password (not past the code) may end their own half-login, not
    sign the person out everywhere and delete their API tokens, as often as they like."""
    first, second, secret = _signed_in_everywhere(world, login)
    half = Client()
    assert half.post("/login/", {"username": "nurse", "password": PASSWORD}).status_code == 302
    assert len(user_session_keys(world.u.nurse)) == 3
    assert half.post("/logout/").status_code == 302
    assert not _signed_out(first) and not _signed_out(second)
    assert _works(secret)
    assert len(user_session_keys(world.u.nurse)) == 2


def test_an_admin_changing_or_removing_a_helseid_binding_ends_the_users_sessions_and_tokens(world, login):
    """A binding corrected by the admin may have let the wrong person in: nothing of that login stays."""
    from tenants.persons import person_bind, person_unbind

    person_bind(user=world.u.nurse, hpr_number="1234567", by=world.u.admin)  # a first binding: nobody out
    first, second, secret = _signed_in_everywhere(world, login)
    person_bind(user=world.u.nurse, hpr_number="1234567", by=world.u.admin)  # the same again: nobody out
    assert not _signed_out(first) and _works(secret)
    person_bind(user=world.u.nurse, hpr_number="7654321", by=world.u.admin)
    assert _signed_out(first) and _signed_out(second) and not _works(secret)
    first, second, secret = _signed_in_everywhere(world, login)
    assert person_unbind(user=world.u.nurse, by=world.u.admin)
    assert _signed_out(first) and _signed_out(second) and not _works(secret)
    assert user_session_keys(world.u.nurse) == []


def test_a_new_password_ends_every_session_and_token_of_the_user(world, login):
    first, second, secret = _signed_in_everywhere(world, login)
    world.u.nurse.set_password("et-helt-annet-passord")
    world.u.nurse.save()
    assert _signed_out(first) and _signed_out(second)
    assert not _works(secret)
    assert user_session_keys(world.u.nurse) == []


def test_changing_the_password_on_a_page_keeps_only_that_session(world, login):
    """Django's password change form (here the admin's) saves the new password, then moves its own
    session on to the new password: that browser stays in, every other session and token ends."""
    admin = world.u.admin
    changing, other = login(admin), login(admin)
    secret = _issue("admin", format="json").json()["token"]
    response = changing.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": "nytt-og-langt-passord", "new_password2": "nytt-og-langt-passord"},
    )
    assert response.status_code == 302 and response["Location"].endswith("/admin/password_change/done/")
    assert changing.get("/admin/").status_code == 200
    assert other.get("/admin/").status_code == 302
    assert not _works(secret)
    assert len(user_session_keys(admin)) == 1


def test_saving_a_user_without_a_new_password_signs_nobody_out(world, login):
    first, second, secret = _signed_in_everywhere(world, login)
    world.u.nurse.first_name = "Ny"
    world.u.nurse.save()
    assert not _signed_out(first) and not _signed_out(second)
    assert _works(secret)
