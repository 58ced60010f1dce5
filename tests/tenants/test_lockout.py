"""Lock-out after repeated failures, per username and per client address, on the three login paths:
the login page, the admin's login and the token endpoint; a Norwegian answer, an admin unlock."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from tests.conftest import second_factor_device, totp_code

PASSWORD = "korrekt-hest-batteri"
LIMIT = 5


@pytest.fixture
def nurse(world):
    world.u.nurse.set_password(PASSWORD)
    world.u.nurse.save()
    return world.u.nurse


def _web_login(client, username, password, path="/login/", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def _logged_in(client) -> bool:
    return SESSION_KEY in client.session


def test_it_locks_the_login_page_after_the_limit_and_refuses_the_right_password(nurse):
    client = Client()
    for attempt in range(30):
        response = _web_login(client, "nurse", f"feil-{attempt}")
        if attempt < LIMIT - 1:  # the form's own message until the limit
            assert response.status_code == 200
            assert "Feil brukernavn eller passord" in response.content.decode()
    response = _web_login(client, "nurse", PASSWORD)
    assert response.status_code == 429
    assert not _logged_in(client)
    page = response.content.decode()
    assert "Innloggingen er sperret" in page
    assert "be administratoren ved oppfølgingssenteret" in page
    assert response["Retry-After"] == "1800"


def test_it_locks_a_username_whatever_address_the_guesses_come_from(nurse):
    for n in range(LIMIT):
        _web_login(Client(REMOTE_ADDR=f"10.0.0.{n + 1}"), "nurse", "feil")
    fresh = Client(REMOTE_ADDR="10.9.9.9")
    assert _web_login(fresh, "nurse", PASSWORD).status_code == 429
    assert not _logged_in(fresh)


def test_it_locks_an_address_whatever_usernames_it_tries(world, nurse):
    guesser = Client(REMOTE_ADDR="192.0.2.7")
    for n in range(LIMIT):
        _web_login(guesser, f"gjett{n}", "feil")
    assert _web_login(guesser, "nurse", PASSWORD).status_code == 429  # the address is locked
    elsewhere = Client(REMOTE_ADDR="192.0.2.8")
    response = _web_login(elsewhere, "nurse", PASSWORD)  # the user is not
    assert response.status_code == 302
    assert _logged_in(elsewhere)


def test_a_forged_forwarded_for_header_does_not_escape_the_address_lock(nurse):
    for n in range(LIMIT):
        _web_login(Client(REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"), f"gjett{n}", "feil")
    client = Client(REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert _web_login(client, "nurse", PASSWORD).status_code == 429


def test_it_locks_the_admin_login(world):
    admin = world.u.admin
    admin.set_password(PASSWORD)
    admin.save()
    client = Client()
    for attempt in range(30):
        _web_login(client, "admin", f"feil-{attempt}", path="/admin/login/")
    response = _web_login(client, "admin", PASSWORD, path="/admin/login/")
    assert response.status_code == 429
    assert "Innloggingen er sperret" in response.content.decode()
    assert not _logged_in(client)


def test_it_locks_the_token_endpoint(nurse):
    client = Client()
    device = second_factor_device(nurse)
    for attempt in range(30):
        response = client.post(
            "/api/v1/auth/token/", {"username": "nurse", "password": f"feil-{attempt}"}, content_type="application/json"
        )
        assert response.status_code in (400, 429)
        assert "token" not in response.json()
    body = {"username": "nurse", "password": PASSWORD, "otp": totp_code(device)}
    response = client.post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 429, response.content
    assert "token" not in response.json()
    assert "sperret" in response.json()["detail"]


def test_the_token_endpoint_counts_towards_the_web_login_lock(nurse):
    client = Client()
    for _attempt in range(LIMIT):
        client.post("/api/v1/auth/token/", {"username": "nurse", "password": "feil"}, content_type="application/json")
    assert _web_login(Client(REMOTE_ADDR="10.1.2.3"), "nurse", PASSWORD).status_code == 429


def test_wrong_passwords_below_the_limit_do_not_lock(nurse):
    client = Client()
    for _attempt in range(LIMIT - 1):
        _web_login(client, "nurse", "feil")
    assert _web_login(client, "nurse", PASSWORD).status_code == 302


def _lock(username):
    for _attempt in range(LIMIT):
        _web_login(Client(), username, "feil")


def test_the_centre_admin_unlocks_a_user_of_the_centre(world, nurse, login):
    from axes.models import AccessAttempt

    _lock("nurse")
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


def test_another_centres_admin_neither_sees_nor_unlocks_the_user(world, nurse, login):
    from axes.models import AccessAttempt

    from tests.factories import MembershipFactory, UserFactory

    agder_admin = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=agder_admin, role="admin", centre=world.centres.agder)
    _lock("nurse")
    client = login(agder_admin)
    assert "nurse" not in client.get("/admin/axes/accessattempt/").content.decode().replace("nurse_agder", "")
    ids = list(AccessAttempt.objects.filter(username="nurse").values_list("pk", flat=True))
    client.post("/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": ids, "index": 0})
    assert AccessAttempt.objects.filter(username="nurse").count() == len(ids)
    assert _web_login(Client(), "nurse", PASSWORD).status_code == 429


def test_a_nurse_cannot_open_the_lock_out_list(world, login):
    assert login(world.u.nurse).get("/admin/axes/accessattempt/").status_code == 302  # the admin's login


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_a_username_longer_than_any_is_a_failed_login_not_a_500(db, path):
    response = Client(raise_request_exception=False).post(path, {"username": "x" * 300, "password": "feil"})
    assert response.status_code == 200  # the form again, with its error
