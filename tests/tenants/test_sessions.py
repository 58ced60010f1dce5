"""Sessions that end: 30 minutes without a user action (the worklist's live refresh is none), 8 hours
at most, and a warning a minute before. Time passes by moving the session's stored timestamps."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants.sessions import FORM_LOST, LAST_ACTION, LOGIN_AT
from tests.triage.test_worklist import _alert
from triage.models import Contact

MINUTE = 60


def _shift(client, **seconds_ago) -> None:
    """Moves the session's stamps into the past: LOGIN_AT=…, LAST_ACTION=… seconds ago."""
    session = client.session
    now = time.time()
    for key, ago in seconds_ago.items():
        session[{"login_at": LOGIN_AT, "last_action": LAST_ACTION}[key]] = now - ago
    session.save()


def _next_of(location: str) -> str:
    assert urlsplit(location).path == "/login/"
    return parse_qs(urlsplit(location).query)["next"][0]


def _session_writes(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "django_session" in q["sql"] and "SELECT" not in q["sql"]]


@pytest.fixture
def nurse(world, login):
    _alert(world.p.gjerdrum)  # a row on the worklist
    return login(world.u.nurse)


def test_the_live_refresh_neither_extends_nor_writes_the_session(nurse):
    assert nurse.get("/worklist/").status_code == 200
    _shift(nurse, last_action=29 * MINUTE)
    stamped = nurse.session[LAST_ACTION]
    for _refresh in range(3):
        with CaptureQueriesContext(connection) as queries:
            response = nurse.get("/worklist/", HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and "Rune Gjerdrum" in response.content.decode()
        assert _session_writes(queries) == []
    assert nurse.session[LAST_ACTION] == stamped

    _shift(nurse, last_action=30 * MINUTE + 1)
    response = nurse.get("/worklist/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/login/?next=/worklist/"
    assert SESSION_KEY not in nurse.session
    page = nurse.get("/login/?next=/worklist/").content.decode()
    assert "Du ble logget ut fordi du ikke hadde gjort noe på 30 minutter." in page


def test_a_user_action_moves_the_idle_limit(nurse):
    _shift(nurse, last_action=29 * MINUTE)
    assert nurse.get("/patients/").status_code == 200
    assert time.time() - nurse.session[LAST_ACTION] < 5
    _shift(nurse, last_action=20 * MINUTE)
    assert nurse.post("/session/keepalive/", HTTP_ACCEPT="application/json").json()["authenticated"] is True
    assert time.time() - nurse.session[LAST_ACTION] < 5


def test_the_api_by_session_ends_with_it(nurse):
    _shift(nurse, last_action=31 * MINUTE)
    assert nurse.get("/api/v1/patients/").status_code == 403
    assert nurse.get("/patients/")["Location"].startswith("/login/")


def test_the_absolute_limit_ends_even_a_busy_session(nurse):
    _shift(nurse, login_at=8 * 3600 + 1, last_action=10)
    response = nurse.get("/patients/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    page = nurse.get(response["Location"]).content.decode()
    assert "økten hadde vart i 8 timer" in page


def test_the_stored_session_and_its_cookie_end_at_the_absolute_limit(nurse):
    login_at = nurse.session[LOGIN_AT]
    expected = login_at + 8 * 3600
    assert abs(nurse.session.get_expiry_date().timestamp() - expected) < 5
    nurse.get("/patients/")
    nurse.post("/session/keepalive/")
    assert abs(nurse.session.get_expiry_date().timestamp() - expected) < 5  # not renewed by activity


def test_a_session_without_the_login_stamps_is_not_honoured(nurse):
    session = nurse.session
    del session[LOGIN_AT]
    session.save()
    assert nurse.get("/patients/")["Location"].startswith("/login/")


def test_an_idle_end_ends_only_that_session(world, login, nurse):
    other = login(world.u.nurse)
    _shift(nurse, last_action=31 * MINUTE)
    assert nurse.get("/patients/").status_code == 302
    assert other.get("/patients/").status_code == 200  # a logout would end both; an idle screen only its own


def test_the_status_is_not_a_user_action(nurse):
    _shift(nurse, last_action=29 * MINUTE)
    stamped = nurse.session[LAST_ACTION]
    status = nurse.get("/session/status/").json()
    assert status["authenticated"] is True
    assert status["idle_deadline"] == pytest.approx(stamped + 30 * MINUTE, abs=0.01)
    assert status["absolute_deadline"] == pytest.approx(nurse.session[LOGIN_AT] + 8 * 3600, abs=0.01)
    assert nurse.session[LAST_ACTION] == stamped
    _shift(nurse, last_action=30 * MINUTE + 1)
    assert nurse.get("/session/status/").json() == {"authenticated": False, "login_url": "/login/"}


def test_a_page_request_sent_with_the_ended_sessions_cookie_keeps_the_new_one(nurse, settings):
    """At the end the live refresh and the warning's status check may be under way together: the
    first ends the session and sets the new one's cookie (which knows why); the other, sent with the
    old cookie, must not delete it, or the login page could not say why."""
    old = nurse.cookies[settings.SESSION_COOKIE_NAME].value
    _shift(nurse, last_action=30 * MINUTE + 1)
    assert nurse.get("/worklist/", HTTP_HX_REQUEST="true")["HX-Redirect"] == "/login/?next=/worklist/"
    new = nurse.cookies[settings.SESSION_COOKIE_NAME].value
    assert new and new != old

    for passive in ({"path": "/session/status/"}, {"path": "/worklist/", "HTTP_HX_REQUEST": "true"}):
        nurse.cookies[settings.SESSION_COOKIE_NAME] = old  # sent before the new cookie came back
        response = nurse.get(**passive)
        assert settings.SESSION_COOKIE_NAME not in response.cookies, passive  # neither deleted nor replaced
        assert "Cookie" in response["Vary"]
    nurse.cookies[settings.SESSION_COOKIE_NAME] = new
    page = nurse.get("/login/?next=/worklist/").content.decode()
    assert "Du ble logget ut fordi du ikke hadde gjort noe på 30 minutter." in page

    nurse.cookies[settings.SESSION_COOKIE_NAME] = old  # a page the user opens: the old cookie goes
    response = nurse.get("/patients/")
    assert response.status_code == 302 and response.cookies[settings.SESSION_COOKIE_NAME].value == ""


def test_the_pages_carry_the_warning_with_the_sessions_deadlines(nurse):
    page = nurse.get("/worklist/").content.decode()
    session = nurse.session
    assert '<dialog id="session-warning"' in page
    assert f'data-idle-deadline="{int((session[LAST_ACTION] + 30 * MINUTE) * 1000)}"' in page
    assert f'data-absolute-deadline="{int((session[LOGIN_AT] + 8 * 3600) * 1000)}"' in page
    assert 'data-warning-seconds="60"' in page
    assert "Fortsett innlogget" in page
    assert 'src="/static/js/session-timeout.js"' in page
    assert "session-warning" not in nurse.get("/worklist/", HTTP_HX_REQUEST="true").content.decode()


def test_staying_from_the_warning_without_javascript_returns_to_the_page(nurse):
    _shift(nurse, last_action=29 * MINUTE)
    response = nurse.post("/session/keepalive/", {"next": "/worklist/"})
    assert response.status_code == 302 and response["Location"] == "/worklist/"
    assert time.time() - nurse.session[LAST_ACTION] < 5
    assert nurse.post("/session/keepalive/", {"next": "https://evil.example/"})["Location"] == "/"


def test_the_password_posted_again_does_not_prolong_the_session(world, login):
    """Django's admin shows its login form to a logged-in user too; posting the password there is a
    login of the same user in the same session, which must not start the 8 hours again (nor keep a
    second factor verified for another 8 hours on a password alone)."""
    admin = world.u.admin
    admin.set_password("korrekt-hest-batteri")
    admin.save()
    client = login(admin)
    _shift(client, login_at=7 * 3600, last_action=10)
    started, ends = client.session[LOGIN_AT], client.session.get_expiry_date()
    time.sleep(1)
    response = client.post(
        "/admin/login/", {"username": "admin", "password": "korrekt-hest-batteri", "next": "/admin/"}
    )
    assert response.status_code == 302
    assert client.session[LOGIN_AT] == started
    assert client.session.get_expiry_date() == ends  # the stored row and the cookie end as before


def test_a_form_sent_after_the_end_leads_back_to_its_page_and_says_it_was_not_saved(world, nurse):
    patient_page = reverse("patients:detail", args=[world.p.gjerdrum.pk])
    form_address = reverse("triage:contact-create", args=[world.p.gjerdrum.pk])
    _shift(nurse, last_action=31 * MINUTE)
    response = nurse.post(
        form_address,
        {"kind": "routine", "actions": ["called_reached"], "note": "Ringte, alt vel"},
        HTTP_REFERER=f"http://testserver{patient_page}?days=14",
    )
    assert response.status_code == 302
    assert _next_of(response["Location"]) == f"{patient_page}?days=14"
    assert not Contact.objects.filter(patient=world.p.gjerdrum).exists()
    page = nurse.get(response["Location"]).content.decode()
    assert "Skjemaet du sendte ble ikke lagret" in page
    assert "Du ble logget ut fordi du ikke hadde gjort noe på 30 minutter." in page

    nurse.force_login(world.u.nurse)  # logging in again forgets it
    assert FORM_LOST not in nurse.session


def test_a_form_sent_after_the_end_from_elsewhere_leads_home(world, nurse):
    form_address = reverse("triage:contact-create", args=[world.p.gjerdrum.pk])
    _shift(nurse, last_action=31 * MINUTE)
    response = nurse.post(form_address, {"kind": "routine"}, HTTP_REFERER="https://angriper.example/side/")
    assert _next_of(response["Location"]) == "/"
    response = nurse.post(form_address, {"kind": "routine"})  # no Referer at all
    assert _next_of(response["Location"]) == "/"


def test_a_page_opened_after_the_end_still_comes_back_to_itself(nurse):
    _shift(nurse, last_action=31 * MINUTE)
    assert _next_of(nurse.get("/patients/?search=Rune")["Location"]) == "/patients/?search=Rune"
    assert FORM_LOST not in nurse.session
