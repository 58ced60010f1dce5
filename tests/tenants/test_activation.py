"""The authenticator app is set up only with an activation code from the centre admin (or ops'
management command): shown once, stored hashed, expiring, single use; a wrong one counts as a failed
login; setups and resets are audited and told to the user at their next login."""

import datetime
import io
import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants import two_factor
from tenants.activation import activation_code_issue
from tenants.models import ActivationCode, AuditEvent
from tests.conftest import second_factor_device, totp_code

PASSWORD = "korrekt-hest-batteri"
CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")


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


def _set_up(client, code: str) -> list[str]:
    """Through the setup pages: the activation code, the QR code's secret, the first code → the backup codes."""
    given = client.post("/login/setup/", {"activation_code": code})
    assert given.status_code == 302, given.content.decode()
    client.get("/login/setup/")
    device = TOTPDevice.objects.get(user_id=client.session[SESSION_KEY], confirmed=False)
    done = client.post("/login/setup/", {"code": totp_code(device)})
    return re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4})</li>", done.content.decode())


def test_it_refuses_to_set_up_the_app_without_an_activation_code(nurse):
    client = _password_only(nurse)
    page = client.get("/login/setup/").content.decode()
    assert "aktiveringskoden du har fått av administratoren" in page
    assert "<svg" not in page and "totp-secret" not in page  # no QR code, no secret
    assert not TOTPDevice.objects.filter(user=nurse).exists()
    # A six-digit code straight to the confirmation is the activation step again, not a setup.
    response = client.post("/login/setup/", {"code": "123456"})
    assert "Skriv inn aktiveringskoden" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=nurse).exists()
    assert client.get("/patients/")["Location"].startswith("/login/setup/")


def test_it_refuses_a_wrong_an_expired_and_a_used_code(nurse):
    client = _password_only(nurse)
    wrong = client.post("/login/setup/", {"activation_code": "AAAA-BBBB-CCCC"})
    assert "Aktiveringskoden stemmer ikke" in wrong.content.decode()

    expired = activation_code_issue(user=nurse, system="test")
    ActivationCode.objects.filter(user=nurse).update(expires_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
    response = client.post("/login/setup/", {"activation_code": expired.code})
    assert "Aktiveringskoden er utløpt" in response.content.decode()

    used = activation_code_issue(user=nurse, system="test")
    _set_up(client, used.code)
    two_factor.two_factor_reset(user=nurse, system="test")  # a reset without a new code
    again = _password_only(nurse)
    response = again.post("/login/setup/", {"activation_code": used.code})
    assert "Aktiveringskoden er allerede brukt" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=nurse).exists()


def test_the_right_code_sets_up_the_app_once(nurse):
    issued = activation_code_issue(user=nurse, system="test")
    first, second = _password_only(nurse), _password_only(nurse)
    # Both sessions give the code; only the first to confirm an app uses it.
    assert second.post("/login/setup/", {"activation_code": issued.code.lower().replace("-", " ")}).status_code == 302
    codes = _set_up(first, issued.code)
    assert len(codes) == 10
    assert first.get("/patients/").status_code == 200
    assert ActivationCode.objects.get(user=nurse).used_at is not None
    assert second.get("/login/setup/")["Location"].startswith("/login/verify/")  # the app is set up: no second one
    event = AuditEvent.objects.get(pk__gt=0, object_type="second_factor", action="create")
    assert (event.username, event.object_id) == ("nurse", str(nurse.pk))


def test_the_code_is_used_up_only_by_the_confirmed_app(nurse):
    issued = activation_code_issue(user=nurse, system="test")
    client = _password_only(nurse)
    client.post("/login/setup/", {"activation_code": issued.code})
    client.get("/login/setup/")
    wrong = client.post("/login/setup/", {"code": "000000"})
    assert "Koden stemmer ikke" in wrong.content.decode()
    assert ActivationCode.objects.get(user=nurse).used_at is None  # a wrong app code spends nothing
    # A newer code replaces it: the session's code is not valid any more.
    activation_code_issue(user=nurse, system="test")
    assert "Aktiveringskode" in client.get("/login/setup/").content.decode()
    assert ActivationCode.objects.filter(user=nurse).count() == 1


def test_a_wrong_activation_code_counts_as_a_failed_login(nurse):
    client = _password_only(nurse)
    for attempt in range(3):  # DHO_LOGIN_PAIR_FREE_FAILURES
        response = client.post("/login/setup/", {"activation_code": f"AAAA-BBBB-CCC{attempt}"})
        assert response.status_code == 200
    [attempt] = AccessAttempt.objects.filter(username="nurse", ip_address="127.0.0.1")
    assert attempt.failures_since_start == 3
    issued = activation_code_issue(user=nurse, system="test")
    refused = client.post("/login/setup/", {"activation_code": issued.code})  # even the right one waits
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert not client.session.get(two_factor.ACTIVATION_KEY)


def test_the_admin_issues_a_code_shown_once_and_stored_hashed(world, nurse, login):
    admin = login(world.u.admin)
    form = admin.get("/admin/tenants/activationcode/add/").content.decode()
    assert f'<option value="{nurse.pk}">nurse</option>' in form
    assert "Lag aktiveringskode" in form
    response = admin.post("/admin/tenants/activationcode/add/", {"user": nurse.pk})
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "vises bare denne ene gangen" in page
    [code] = CODE.findall(page)
    stored = ActivationCode.objects.get(user=nurse)
    assert code.replace("-", "") not in stored.digest and len(stored.digest) == 64
    assert stored.issued_by == "admin"
    listed = admin.get("/admin/tenants/activationcode/").content.decode()
    assert "nurse" in listed and code not in listed  # listed, never shown again
    event = AuditEvent.objects.get(pk__gt=0, object_type="activation_code")
    assert (event.username, event.role, event.object_id) == ("admin", "admin", str(nurse.pk))
    client = _password_only(nurse)
    assert client.post("/login/setup/", {"activation_code": code}).status_code == 302


def test_a_user_with_an_app_gets_no_code_until_it_is_reset(world, nurse, login):
    second_factor_device(nurse)
    admin = login(world.u.admin)
    assert f'value="{nurse.pk}"' not in admin.get("/admin/tenants/activationcode/add/").content.decode()
    response = admin.post("/admin/tenants/activationcode/add/", {"user": nurse.pk})
    assert "Velg et gyldig valg" in response.content.decode()
    assert not ActivationCode.objects.exists()


def test_another_centres_admin_cannot_issue_a_code_for_the_user(world, nurse, login):
    from tests.factories import MembershipFactory, UserFactory

    agder_admin = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=agder_admin, role="admin", centre=world.centres.agder)
    client = login(agder_admin)
    assert f'value="{nurse.pk}"' not in client.get("/admin/tenants/activationcode/add/").content.decode()
    client.post("/admin/tenants/activationcode/add/", {"user": nurse.pk})
    assert not ActivationCode.objects.exists()
    activation_code_issue(user=nurse, system="test")
    assert "nurse" not in client.get("/admin/tenants/activationcode/").content.decode().replace("nurse_agder", "")


def test_the_reset_shows_a_new_code_once_and_the_user_is_told_at_the_next_login(world, nurse, login):
    device = second_factor_device(nurse)
    admin = login(world.u.admin)
    response = admin.post(
        "/admin/otp_totp/totpdevice/",
        {"action": "reset_two_factor", "_selected_action": [device.pk], "index": 0, "post": "yes"},
    )
    page = response.content.decode()
    assert "Tofaktor er nullstilt for: nurse." in page
    [code] = CODE.findall(page)
    events = {(e.action, e.object_type, e.username) for e in AuditEvent.objects.filter(pk__gt=0)}
    assert {("delete", "second_factor", "admin"), ("create", "activation_code", "admin")} <= events

    client = _password_only(nurse)
    assert client.post("/login/setup/", {"activation_code": code}).status_code == 302
    client.get("/login/setup/")
    new_device = TOTPDevice.objects.get(user=nurse, confirmed=False)
    backup_page = client.post("/login/setup/", {"code": totp_code(new_device)}).content.decode()
    assert "Tofaktorinnloggingen din ble nullstilt av admin" in backup_page  # the page after this login
    assert "ble satt opp" not in backup_page  # that is this login's own doing: told at the next one
    assert "ble nullstilt" not in client.get("/patients/").content.decode()  # once

    client.post("/logout/")
    client = _password_only(nurse)
    verified = client.post("/login/verify/", {"code": totp_code(new_device), "next": "/patients/"})
    assert verified["Location"] == "/patients/"
    shown = client.get("/patients/").content.decode()
    assert re.search(r"Tofaktorinnloggingen din ble satt opp \d\d\.\d\d\.\d{4} kl\. \d\d:\d\d\.", shown)
    assert "ble satt opp" not in client.get("/patients/").content.decode()


def test_the_management_command_issues_a_code(nurse):
    out = io.StringIO()
    call_command("dho_activation_code", "nurse", stdout=out)
    [code] = CODE.findall(out.getvalue())
    assert "gyldig til" in out.getvalue()
    event = AuditEvent.objects.get(pk__gt=0, object_type="activation_code")
    assert event.username == "system:dho_activation_code" and event.user_id is None
    client = _password_only(nurse)
    assert client.post("/login/setup/", {"activation_code": code}).status_code == 302

    second_factor_device(nurse)
    with pytest.raises(CommandError, match="har allerede satt opp autentiseringsappen"):
        call_command("dho_activation_code", "nurse", stdout=io.StringIO())
    call_command("dho_activation_code", "nurse", "--reset", stdout=io.StringIO())
    assert not TOTPDevice.objects.filter(user=nurse).exists()
    with pytest.raises(CommandError, match="Ingen bruker heter «ingen»"):
        call_command("dho_activation_code", "ingen")
