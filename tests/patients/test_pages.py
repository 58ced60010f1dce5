from tenants.models import AuditEvent


def test_it_sends_each_role_to_its_landing_page(world, login):
    assert login(world.u.nurse).get("/")["Location"] == "/worklist/"  # a nurse lands on the worklist
    assert login(world.u.coordinator).get("/")["Location"] == "/forlop/"  # the municipality's forløp board
    assert login(world.u.gp).get("/")["Location"] == "/patients/"
    assert login(world.u.finance).get("/")["Location"] == "/billing/"
    assert login(world.u.admin).get("/")["Location"] == "/admin/"


def test_it_asks_anonymous_users_to_log_in(world, client):
    response = client.get(f"/patients/{world.p.gjerdrum.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_shows_the_login_page_in_norwegian(db, client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert "Logg inn" in response.content.decode()
    assert 'lang="nb"' in response.content.decode()


def test_it_says_what_went_wrong_at_login(db, client):
    response = client.post("/login/", {"username": "ingen", "password": "feil"})
    assert "Feil brukernavn eller passord" in response.content.decode()


def test_it_lists_only_the_coordinators_municipality(world, login):
    page = login(world.u.coordinator).get("/patients/").content.decode()
    assert "Rune Gjerdrum" in page
    assert "Jens Nannestad" not in page
    assert "Olav Ullensaker" not in page


def test_it_searches_the_patient_list(world, login):
    page = login(world.u.nurse).get("/patients/", {"search": "olav"}).content.decode()
    assert "Olav Ullensaker" in page
    assert "Jens Nannestad" not in page


def test_it_masks_the_national_id_except_on_the_patients_own_page(world, login):
    client = login(world.u.nurse)
    patient = world.p.ullensaker
    listing = client.get("/patients/").content.decode()
    assert patient.national_id not in listing
    assert f"{patient.national_id[:6]} *****" in listing
    own_page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert patient.national_id in own_page


def test_it_audits_each_patient_page_view_once(world, login):
    before = AuditEvent.objects.count()
    response = login(world.u.gp).get(f"/patients/{world.p.grimstad.pk}/")
    assert response.status_code == 200
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("at")
    assert event.role == "gp"
    assert event.patient_id == world.p.grimstad.pk
    assert event.request_id == response["X-Request-ID"]
    assert event.ip == "127.0.0.1"


def test_it_answers_404_for_every_patient_page_of_finance(world, login):
    client = login(world.u.finance)
    for patient in vars(world.p).values():
        assert client.get(f"/patients/{patient.pk}/").status_code == 404


def test_it_shows_finance_an_empty_billing_page_and_hides_it_from_nurses(world, login):
    assert login(world.u.finance).get("/billing/").status_code == 200
    assert login(world.u.nurse).get("/billing/").status_code == 404


def test_it_never_writes_the_national_id_to_the_log(world, login, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    client = login(world.u.nurse)
    client.get(f"/patients/{world.p.ullensaker.pk}/")
    client.get("/patients/", {"search": world.p.ullensaker.national_id})
    client.get(f"/patients/{world.p.nordrefollo.pk}/")  # a 404 is logged as a warning
    assert caplog.records, "nothing was logged at all; the check would be empty"
    for patient in vars(world.p).values():
        assert patient.national_id not in caplog.text
