"""Lock-out that an attacker cannot turn against the user (tenants/lockout.py): a (username, address)
pair waits longer after each failure, a username or address under attack needs the second factor
with the password (never a hard refusal of the right password and code), a refused try extends
nothing, a kommune's NAT has a higher limit; on the login page, the admin's login and the token
endpoint; the centre admin sees the lock start and may lift it."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.db.models import F
from django.test import Client
from django.utils import timezone

from tenants.models import AuditEvent, LoginLock, LoginWindow
from tests.conftest import second_factor_device, totp_code

PASSWORD = "korrekt-hest-batteri"
FREE = 3  # DHO_LOGIN_PAIR_FREE_FAILURES
STEP_UP = "skriver du koden fra autentiseringsappen"


@pytest.fixture
def nurse(world):
    world.u.nurse.set_password(PASSWORD)
    world.u.nurse.save()
    return world.u.nurse


@pytest.fixture
def low_user_limit(settings):
    settings.DHO_LOGIN_USER_LIMIT = 10
    return 10


def _client(n: int, **extra) -> Client:
    return Client(REMOTE_ADDR=f"127.0.0.{n}", **extra)


def _web_login(client, username, password, path="/login/", **fields):
    return client.post(path, {"username": username, "password": password, **fields})


def _logged_in(client) -> bool:
    return SESSION_KEY in client.session


def _wait_out(*, username, ip, seconds):
    """As if `seconds` had passed for the pair: its failures are that much older."""
    delta = datetime.timedelta(seconds=seconds)
    AccessAttempt.objects.filter(username=username, ip_address=ip).update(attempt_time=F("attempt_time") - delta)


def _just_failed(*, username, ip):
    """As if the pair's last failure were this instant: a slow machine's second between two requests
    must not run out a one-second wait that the test means to meet."""
    AccessAttempt.objects.filter(username=username, ip_address=ip).update(attempt_time=timezone.now())


def _window_passes(minutes=30):
    """As if the window (DHO_LOGIN_WINDOW_MINUTES) had passed for every username and address."""
    delta = datetime.timedelta(minutes=minutes)
    LoginWindow.objects.update(started_at=F("started_at") - delta)
    LoginLock.objects.update(started_at=F("started_at") - delta, ends_at=F("ends_at") - delta)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - delta)


def _attack(username, *, addresses, tries_each=1, first=10):
    """Wrong passwords for the username from `addresses` loopback addresses, `tries_each` from each."""
    answers = []
    for n in range(first, first + addresses):
        client = _client(n)
        answers += [_web_login(client, username, f"feil-{n}-{t}").status_code for t in range(tries_each)]
    return answers


# --- the pair: growing delays ------------------------------------------------------------------


def test_it_makes_a_pair_wait_longer_after_each_failure(nurse):
    guesser = _client(2)
    for attempt in range(FREE):  # the form's own message for the free ones
        response = _web_login(guesser, "nurse", f"feil-{attempt}")
        assert response.status_code == 200
        assert "Feil brukernavn eller passord" in response.content.decode()
    for wait in (1, 2, 4, 8):
        _just_failed(username="nurse", ip="127.0.0.2")
        refused = _web_login(guesser, "nurse", PASSWORD)  # not even checked: the pair must wait
        assert refused.status_code == 429
        assert refused["Retry-After"] == str(wait)
        page = refused.content.decode()
        assert "Vent litt før du prøver igjen" in page
        assert f"Vent {wait} sekund" in page
        assert not _logged_in(guesser)
        _wait_out(username="nurse", ip="127.0.0.2", seconds=wait)
        assert _web_login(guesser, "nurse", "feil-igjen").status_code == 200  # checked, and wrong
    # The user at their own address never noticed.
    assert _web_login(_client(1), "nurse", PASSWORD).status_code == 302


def test_the_wait_is_capped_and_said_in_minutes(nurse, settings):
    settings.DHO_LOGIN_PAIR_MAX_DELAY_SECONDS = 300
    AccessAttempt.objects.create(
        username="nurse", ip_address="127.0.0.2", user_agent="", failures_since_start=40, get_data="", post_data=""
    )
    refused = _web_login(_client(2), "nurse", PASSWORD)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) in (299, 300)
    assert "Vent 5 minutter" in refused.content.decode()


def test_a_refused_try_is_not_counted_and_does_not_extend_the_wait(nurse):
    guesser = _client(2)
    for attempt in range(FREE):
        _web_login(guesser, "nurse", f"feil-{attempt}")
    for _attempt in range(20):
        _just_failed(username="nurse", ip="127.0.0.2")
        response = _web_login(guesser, "nurse", "feil")
        assert response.status_code == 429
        assert response["Retry-After"] == "1"  # never longer: nothing was counted
    [attempt] = AccessAttempt.objects.filter(username="nurse", ip_address="127.0.0.2")
    assert attempt.failures_since_start == FREE
    _wait_out(username="nurse", ip="127.0.0.2", seconds=1)
    response = _web_login(guesser, "nurse", PASSWORD)
    assert response.status_code == 302
    assert _logged_in(guesser)
    assert not AccessAttempt.objects.filter(username="nurse", ip_address="127.0.0.2").exists()  # the pair's success


def test_a_forged_forwarded_for_header_does_not_escape_the_pair_wait(nurse):
    for n in range(FREE):
        _web_login(Client(REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"), "nurse", "feil")
    client = Client(REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert _web_login(client, "nurse", PASSWORD).status_code == 429


def test_wrong_passwords_below_the_free_ones_do_not_slow_the_pair_down(nurse):
    client = Client()
    for _attempt in range(FREE - 1):
        _web_login(client, "nurse", "feil")
    assert _web_login(client, "nurse", PASSWORD).status_code == 302


# --- the username: a step-up, never a lock-out --------------------------------------------------------


def test_an_attacker_failing_1000_times_from_other_addresses_cannot_keep_the_user_out(nurse):
    device = second_factor_device(nurse)
    answers = _attack("nurse", addresses=100, tries_each=10)
    assert len(answers) == 1000
    assert set(answers) == {200, 429}  # wrong passwords, and pairs told to wait
    assert LoginLock.objects.filter(username="nurse", lifted_at__isnull=True).count() == 1

    user = _client(1)
    asked = _web_login(user, "nurse", PASSWORD)  # the password alone: not refused, asked for the code
    assert asked.status_code == 200
    assert STEP_UP in asked.content.decode()
    assert 'name="otp"' in asked.content.decode()
    assert not _logged_in(user)
    wrong = _web_login(user, "nurse", PASSWORD, otp="000000")
    assert "Feil brukernavn, passord eller kode" in wrong.content.decode()
    assert not _logged_in(user)
    device.throttle_reset()

    response = _web_login(user, "nurse", PASSWORD, otp=totp_code(device), next="/patients/")
    assert response.status_code == 302
    assert response["Location"] == "/patients/"
    assert user.get("/patients/").status_code == 200  # verified by the login itself: no second step


def test_the_step_up_asks_before_checking_the_password_and_counts_nothing(nurse, low_user_limit):
    _attack("nurse", addresses=low_user_limit)
    before = LoginWindow.objects.get(kind="user", key="nurse").failures
    for password in ("feil", PASSWORD):  # the same answer: it tells nothing about the password
        response = _web_login(_client(1), "nurse", password)
        assert response.status_code == 200
        assert STEP_UP in response.content.decode()
    assert LoginWindow.objects.get(kind="user", key="nurse").failures == before
    assert not AccessAttempt.objects.filter(ip_address="127.0.0.1").exists()


def test_a_user_without_an_app_gives_the_activation_code_in_the_step_up(nurse, low_user_limit):
    from tenants.activation import activation_code_issue

    issued = activation_code_issue(user=nurse, by=None, system="test")
    _attack("nurse", addresses=low_user_limit)
    user = _client(1)
    response = _web_login(user, "nurse", PASSWORD, otp=issued.code.lower())
    assert response.status_code == 302
    assert user.get("/patients/")["Location"].startswith("/login/setup/")
    page = user.get("/login/setup/").content.decode()
    assert "QR-kode for autentiseringsappen" in page  # the code was given: straight to the app


def test_a_lock_lasts_from_the_first_failure_of_the_window_and_refused_tries_do_not_extend_it(nurse, low_user_limit):
    _attack("nurse", addresses=low_user_limit)
    [lock] = LoginLock.objects.filter(username="nurse")
    first_failure = LoginWindow.objects.get(kind="user", key="nurse").started_at
    assert lock.started_at == first_failure
    assert lock.ends_at == first_failure + datetime.timedelta(minutes=30)
    # More failures, counted and refused, from old and new addresses: the lock's end does not move.
    _attack("nurse", addresses=low_user_limit, tries_each=5, first=100)
    _web_login(_client(1), "nurse", PASSWORD)  # a step-up without a code
    assert list(LoginLock.objects.filter(username="nurse").values_list("ends_at", flat=True)) == [lock.ends_at]
    _window_passes()
    user = _client(1)
    assert _web_login(user, "nurse", PASSWORD).status_code == 302  # the password alone again
    assert _logged_in(user)


# --- the address: a high limit, higher behind a NAT ----------------------------------------------------


def test_many_usernames_failing_from_a_nat_range_do_not_lock_out_another_user_behind_it(nurse, settings):
    settings.DHO_LOGIN_ADDRESS_LIMIT = 20
    settings.DHO_LOGIN_NAT_ADDRESS_LIMIT = 1000
    settings.DHO_LOGIN_NAT_RANGES = ["127.0.0.0/24"]
    kommune = _client(50)
    for n in range(40):
        assert _web_login(kommune, f"ansatt{n}", "feil").status_code == 200
    assert not LoginLock.objects.exists()
    response = _web_login(kommune, "nurse", PASSWORD)
    assert response.status_code == 302
    assert _logged_in(kommune)

    # The control: the same from an address outside the range puts it under the step-up.
    elsewhere = Client(REMOTE_ADDR="10.20.0.1")
    for n in range(40):
        _web_login(elsewhere, f"ansatt{n}", "feil")
    [lock] = LoginLock.objects.all()
    assert (lock.kind, lock.ip, lock.failures) == ("address", "10.20.0.1", 20)
    asked = _web_login(elsewhere, "nurse", PASSWORD)
    assert asked.status_code == 200 and STEP_UP in asked.content.decode()
    device = second_factor_device(nurse)
    assert _web_login(elsewhere, "nurse", PASSWORD, otp=totp_code(device)).status_code == 302


def test_a_wrong_nat_range_stops_the_start():
    import os
    import subprocess
    import sys

    env = {**os.environ, "DHO_LOGIN_NAT_RANGES": "10.0.0.0/8,kommunen", "DHO_TESTING": "1"}
    command = [
        sys.executable,
        "-c",
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='dho.settings'; django.setup()",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DHO_LOGIN_NAT_RANGES: «kommunen» er ikke en IP-adresse eller et nett." in result.stderr


# --- every way in ------------------------------------------------------------------------------------


def test_it_applies_on_the_admin_login(world, low_user_limit):
    admin = world.u.admin
    admin.set_password(PASSWORD)
    admin.save()
    device = second_factor_device(admin)
    guesser = _client(2)
    for attempt in range(FREE):
        _web_login(guesser, "admin", f"feil-{attempt}", path="/admin/login/")
    refused = _web_login(guesser, "admin", PASSWORD, path="/admin/login/")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert not _logged_in(guesser)

    _attack("admin", addresses=low_user_limit)
    client = _client(1)
    asked = _web_login(client, "admin", PASSWORD, path="/admin/login/")
    assert asked.status_code == 200
    assert STEP_UP in asked.content.decode() and 'name="otp"' in asked.content.decode()
    assert not _logged_in(client)
    done = _web_login(client, "admin", PASSWORD, path="/admin/login/", otp=totp_code(device), next="/admin/")
    assert done.status_code == 302
    assert client.get("/admin/").status_code == 200


def _token(client, **body):
    return client.post("/api/v1/auth/token/", {"username": "nurse", **body}, content_type="application/json")


def test_it_applies_on_the_token_endpoint(nurse, low_user_limit):
    device = second_factor_device(nurse)
    guesser = _client(2)
    for attempt in range(FREE):
        assert _token(guesser, password=f"feil-{attempt}").status_code == 400
    refused = _token(guesser, password=PASSWORD, otp=totp_code(device))
    assert refused.status_code == 429, refused.content
    assert refused["Retry-After"] == "1"
    assert "token" not in refused.json()
    assert "Vent 1 sekund" in refused.json()["detail"]

    _attack("nurse", addresses=low_user_limit)
    client = _client(1)
    asked = _token(client, password=PASSWORD)
    assert asked.status_code == 400
    assert STEP_UP in asked.json()["otp"][0]
    ok = _token(client, password=PASSWORD, otp=totp_code(device))
    assert ok.status_code == 200, ok.content
    assert ok.json()["token"]


def test_the_token_endpoint_counts_towards_the_web_logins_pair(nurse):
    api = _client(5)
    for _attempt in range(FREE):
        _token(api, password="feil")
    assert _web_login(_client(5), "nurse", PASSWORD).status_code == 429
    assert _web_login(_client(6), "nurse", PASSWORD).status_code == 302


# --- the centre admin -----------------------------------------------------------------------------


def test_the_centre_admin_sees_when_a_lock_starts_and_lifts_it(world, nurse, login, low_user_limit):
    _attack("nurse", addresses=low_user_limit)
    [lock] = LoginLock.objects.filter(username="nurse")
    assert lock.user == nurse and lock.failures == low_user_limit
    [event] = AuditEvent.objects.filter(pk__gt=0, object_type="login_lock", action="create")
    assert (event.object_id, event.username, event.ip) == (str(lock.pk), "system:lockout", "127.0.0.19")

    admin = login(world.u.admin)
    page = admin.get("/admin/tenants/loginlock/").content.decode()
    assert "nurse" in page and "aktiv: krever kode fra appen ved innlogging" in page
    response = admin.post(
        "/admin/tenants/loginlock/", {"action": "lift", "_selected_action": [lock.pk], "index": 0}, follow=True
    )
    assert "1 sperrer er opphevet." in response.content.decode()
    lock.refresh_from_db()
    assert lock.lifted_at is not None and lock.lifted_by == "admin"
    assert AuditEvent.objects.filter(pk__gt=0, object_type="login_lock", action="update", username="admin").exists()
    assert _web_login(_client(1), "nurse", PASSWORD).status_code == 302


def test_another_centres_admin_does_not_see_the_lock(world, nurse, login, low_user_limit):
    from tests.factories import MembershipFactory, UserFactory

    agder_admin = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=agder_admin, role="admin", centre=world.centres.agder)
    _attack("nurse", addresses=low_user_limit)
    [lock] = LoginLock.objects.filter(username="nurse")
    client = login(agder_admin)
    assert "nurse" not in client.get("/admin/tenants/loginlock/").content.decode().replace("nurse_agder", "")
    client.post("/admin/tenants/loginlock/", {"action": "lift", "_selected_action": [lock.pk], "index": 0})
    lock.refresh_from_db()
    assert lock.lifted_at is None


def test_the_centre_admin_ends_a_pairs_wait(world, nurse, login):
    for _attempt in range(FREE):
        _web_login(Client(), "nurse", "feil")
    assert _web_login(Client(), "nurse", PASSWORD).status_code == 429
    admin = login(world.u.admin)
    listed = admin.get("/admin/axes/accessattempt/")
    assert listed.status_code == 200
    assert "nurse" in listed.content.decode()
    ids = list(AccessAttempt.objects.filter(username="nurse").values_list("pk", flat=True))
    response = admin.post(
        "/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": ids, "index": 0}, follow=True
    )
    assert "Sperren er opphevet for: nurse." in response.content.decode()
    assert _web_login(Client(), "nurse", PASSWORD).status_code == 302


def test_another_centres_admin_neither_sees_nor_ends_the_wait(world, nurse, login):
    from tests.factories import MembershipFactory, UserFactory

    agder_admin = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=agder_admin, role="admin", centre=world.centres.agder)
    for _attempt in range(FREE):
        _web_login(Client(), "nurse", "feil")
    client = login(agder_admin)
    assert "nurse" not in client.get("/admin/axes/accessattempt/").content.decode().replace("nurse_agder", "")
    ids = list(AccessAttempt.objects.filter(username="nurse").values_list("pk", flat=True))
    client.post("/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": ids, "index": 0})
    assert AccessAttempt.objects.filter(username="nurse").count() == len(ids)
    assert _web_login(Client(), "nurse", PASSWORD).status_code == 429


def test_a_nurse_cannot_open_the_lock_lists(world, login):
    client = login(world.u.nurse)
    for path in ("/admin/axes/accessattempt/", "/admin/tenants/loginlock/"):
        assert client.get(path).status_code == 302  # the admin's login


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_a_username_longer_than_any_is_a_failed_login_not_a_500(db, path):
    response = Client(raise_request_exception=False).post(path, {"username": "x" * 300, "password": "feil"})
    assert response.status_code == 200  # the form again, with its error
