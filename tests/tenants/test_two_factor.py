"""TOTP two-factor login (django-otp), required outside debug mode: the password alone opens
nothing; first login sets the app up with a QR code and backup codes; the admin resets it."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants import two_factor
from tenants.models import AuditEvent
from tests.conftest import second_factor_device, totp_code

PASSWORD = "korrekt-hest-batteri"


@pytest.fixture
def nurse(world):
    world.u.nurse.set_password(PASSWORD)
    world.u.nurse.save()
    return world.u.nurse


def _password_only(user, client=None) -> Client:
    client = client or Client()
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    assert SESSION_KEY in client.session
    return client


def test_the_password_alone_opens_no_page_and_no_api(nurse):
    second_factor_device(nurse)
    client = _password_only(nurse)
    response = client.get("/patients/")
    assert response.status_code == 302
    assert response["Location"] == "/login/verify/?next=%2Fpatients%2F"
    api = client.get("/api/v1/patients/")
    assert api.status_code == 403
    assert "Tofaktorinnlogging kreves" in api.json()["detail"]
    assert client.get("/worklist/", HTTP_HX_REQUEST="true")["HX-Redirect"].startswith("/login/verify/")


def test_the_apps_code_opens_them(nurse):
    device = second_factor_device(nurse)
    client = _password_only(nurse)
    key_before = client.session.session_key
    page = client.get("/login/verify/?next=/patients/")
    assert "sekssifrede koden" in page.content.decode()
    response = client.post("/login/verify/", {"code": totp_code(device), "next": "/patients/"})
    assert response.status_code == 302
    assert response["Location"] == "/patients/"
    assert client.session.session_key != key_before  # a new key for the stronger login
    assert client.get("/patients/").status_code == 200
    assert client.get("/api/v1/patients/").status_code == 200


def test_a_wrong_code_is_refused_in_norwegian_and_guessing_is_slowed_down(nurse, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60  # a minute after the first failure: no race with a slow machine
    device = second_factor_device(nurse)
    client = _password_only(nurse)
    wrong = client.post("/login/verify/", {"code": "000000", "next": "/patients/"})
    assert wrong.status_code == 200
    assert "Koden stemmer ikke" in wrong.content.decode()
    # Right after a failure even the right code waits (django-otp: 1, 2, 4 … × the factor, in seconds).
    throttled = client.post("/login/verify/", {"code": totp_code(device), "next": "/patients/"})
    assert "For mange feil koder på rad" in throttled.content.decode()
    assert client.get("/patients/").status_code == 302
    assert client.post("/login/verify/", {"code": "abc"}).status_code == 200  # never a 500


def test_a_code_is_accepted_once(nurse):
    device = second_factor_device(nurse)
    code = totp_code(device)
    first = _password_only(nurse)
    assert first.post("/login/verify/", {"code": code})["Location"] == "/"
    second = _password_only(nurse)
    response = second.post("/login/verify/", {"code": code})
    assert response.status_code == 200
    assert "Koden stemmer ikke" in response.content.decode()


def test_the_first_login_sets_up_the_app_with_a_qr_code_and_backup_codes(nurse):
    from tenants.activation import activation_code_issue

    issued = activation_code_issue(user=nurse, system="test")
    client = _password_only(nurse)
    response = client.get("/patients/")
    assert response["Location"] == "/login/setup/?next=%2Fpatients%2F"
    asked = client.get(response["Location"]).content.decode()
    assert "Aktiveringskode" in asked and "<svg" not in asked  # the code first, then the QR code
    given = client.post("/login/setup/", {"activation_code": issued.code, "next": "/patients/"})
    assert given["Location"] == "/login/setup/?next=%2Fpatients%2F"
    page = client.get(given["Location"]).content.decode()
    assert '<svg role="img" aria-label="QR-kode for autentiseringsappen"' in page
    assert "style=" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]  # CSP: no inline style
    device = TOTPDevice.objects.get(user=nurse, confirmed=False)
    assert client.get("/login/setup/").content.decode().count(two_factor.secret_text(device)) == 1  # same secret

    wrong = client.post("/login/setup/", {"code": "123", "next": "/patients/"})
    assert "Skriv inn de 6 sifrene appen viser nå." in wrong.content.decode()
    done = client.post("/login/setup/", {"code": totp_code(device), "next": "/patients/"})
    codes = re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4})</li>", done.content.decode())
    assert len(codes) == 10
    assert "vises bare denne ene gangen" in done.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    stored = set(StaticToken.objects.filter(device__user=nurse).values_list("token", flat=True))
    assert len(stored) == 10 and not stored & {c.replace("-", "") for c in codes}  # only digests are kept
    assert client.get("/patients/").status_code == 200
    assert client.get("/login/setup/").status_code == 302  # set up once; a new phone is the admin's reset


def test_a_backup_code_stands_in_for_the_app_once(nurse):
    second_factor_device(nurse)
    [code, *_rest] = two_factor.backup_codes_create(user=nurse)
    client = _password_only(nurse)
    assert client.post("/login/verify/", {"code": code.upper().replace("-", " ")})["Location"] == "/"
    assert client.get("/patients/").status_code == 200
    again = _password_only(nurse)
    assert "Koden stemmer ikke" in again.post("/login/verify/", {"code": code}).content.decode()
    assert two_factor.backup_codes_left(nurse) == 9


def test_new_backup_codes_replace_the_old(world, login):
    client = login(world.u.nurse)
    old = two_factor.backup_codes_create(user=world.u.nurse)
    page = client.get("/account/backup-codes/").content.decode()
    assert "Du har 10 ubrukte reservekoder." in page
    # New codes outlast the session: a fresh proof first (a backup code works as at login), and logged.
    unproven = client.post("/account/backup-codes/")
    assert unproven.status_code == 400 and "backup-codes mono" not in unproven.content.decode()
    assert two_factor.backup_codes_left(world.u.nurse) == 10
    answer = client.post("/account/backup-codes/", {"otp": old[1]}).content.decode()
    fresh = re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4})</li>", answer)
    assert len(fresh) == 10 and not set(fresh) & set(old)
    assert AuditEvent.objects.filter(object_type="backup_codes", user=world.u.nurse, action="create").count() == 1
    world.u.nurse.set_password(PASSWORD)
    world.u.nurse.save()
    refused = _password_only(world.u.nurse).post("/login/verify/", {"code": old[0]})
    assert "Koden stemmer ikke" in refused.content.decode()


def test_the_admins_login_needs_the_second_factor_too(world):
    admin = world.u.admin
    admin.set_password(PASSWORD)
    admin.save()
    device = second_factor_device(admin)
    client = Client()
    client.post("/admin/login/", {"username": "admin", "password": PASSWORD, "next": "/admin/"})
    response = client.get("/admin/")
    assert response["Location"] == "/login/verify/?next=%2Fadmin%2F"
    client.post("/login/verify/", {"code": totp_code(device), "next": "/admin/"})
    assert client.get("/admin/").status_code == 200


def test_in_debug_mode_the_password_is_enough(nurse, settings):
    settings.DEBUG = True  # `make run`'s demo
    client = _password_only(nurse)
    assert client.get("/patients/").status_code == 200


def test_the_centre_admin_resets_a_users_second_factor(world, nurse, login):
    device = second_factor_device(nurse)
    two_factor.backup_codes_create(user=nurse)
    nurse_client = login(nurse)
    assert nurse_client.get("/patients/").status_code == 200
    admin = login(world.u.admin)
    listed = admin.get("/admin/otp_totp/totpdevice/").content.decode()
    assert "nurse" in listed and device.key not in listed
    response = admin.post(
        "/admin/otp_totp/totpdevice/",
        {"action": "reset_two_factor", "_selected_action": [device.pk], "index": 0, "post": "yes"},
        follow=True,
    )
    assert "Tofaktor er nullstilt for: nurse." in response.content.decode()
    assert not TOTPDevice.objects.filter(user=nurse).exists()
    assert two_factor.backup_codes_left(nurse) == 0
    # The nurse's session no longer counts as verified: the next page is the new app's setup.
    assert nurse_client.get("/patients/")["Location"].startswith("/login/setup/")


def test_another_centres_admin_cannot_reset_it(world, nurse, login):
    from tests.factories import MembershipFactory, UserFactory

    device = second_factor_device(nurse)
    agder_admin = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=agder_admin, role="admin", centre=world.centres.agder)
    client = login(agder_admin)
    assert f'value="{device.pk}"' not in client.get("/admin/otp_totp/totpdevice/").content.decode()
    client.post(
        "/admin/otp_totp/totpdevice/",
        {"action": "reset_two_factor", "_selected_action": [device.pk], "index": 0, "post": "yes"},
    )
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_the_token_endpoint_asks_for_the_code(nurse):
    client = Client()
    body = {"username": "nurse", "password": PASSWORD}
    no_app = client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert no_app.status_code == 400
    assert "ikke satt opp tofaktorinnlogging" in str(no_app.json())
    device = second_factor_device(nurse)
    missing = client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert missing.status_code == 400 and "otp" in missing.json()
    wrong = client.post("/api/v1/auth/token/", {**body, "otp": "000000"}, content_type="application/json")
    assert wrong.status_code == 400 and "Koden stemmer ikke" in str(wrong.json())
    device.throttle_reset()
    ok = client.post("/api/v1/auth/token/", {**body, "otp": totp_code(device)}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["token"]


def test_the_login_page_never_redirects_to_itself(world, login):
    response = login(world.u.nurse).get("/login/?next=/login/")
    assert response.status_code == 302 and response["Location"] == "/"


def test_the_sessions_device_is_read_by_its_model_and_id_as_django_otp_reads_it(world):
    """settings.MIDDLEWARE's OTPMiddleware reads the session's device through a compiled query: the
    app's device and a backup-code device by their own model, nothing for an id without a row, a model
    that is no device, an unknown model or an id that is no number (django-otp's own answers)."""
    from django_otp.plugins.otp_static.models import StaticDevice

    middleware = two_factor.OTPMiddleware(lambda request: None)
    app = TOTPDevice.objects.create(user=world.u.nurse, name="app", confirmed=True)
    codes = StaticDevice.objects.create(user=world.u.nurse, name="backup")
    for device in (app, codes, TOTPDevice.objects.create(user=world.u.coordinator, name="app")):
        found = middleware._device_from_persistent_id(device.persistent_id)
        assert (type(found), found.pk, found.user_id) == (type(device), device.pk, device.user_id)
    assert middleware._device_from_persistent_id("django_otp.plugins.otp_totp.models.TOTPDevice/" + str(app.pk)) == app
    missing = ("otp_totp.totpdevice/987654321", f"auth.user/{world.u.nurse.pk}", "nei.ingen/1", "otp_totp.totpdevice/x")
    for persistent_id in missing:
        assert middleware._device_from_persistent_id(persistent_id) is None, persistent_id
