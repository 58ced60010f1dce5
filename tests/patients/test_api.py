from rest_framework.test import APIClient

from tenants.models import AuditEvent
from tests.tenants.test_tokens import second_factor_code


def test_it_issues_a_token_that_authenticates(world):
    world.u.coordinator.set_password("korrekt-hest-batteri")
    world.u.coordinator.save()
    client = APIClient()
    credentials = {"username": "coord_gjerdrum", "password": "korrekt-hest-batteri"}
    credentials["otp"] = second_factor_code(world.u.coordinator)  # outside debug mode, the second factor too
    response = client.post("/api/v1/auth/token/", credentials, format="json")
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    listed = client.get("/api/v1/patients/").json()
    assert [p["name"] for p in listed["results"]] == ["Rune Gjerdrum"]


def test_it_refuses_anonymous_requests(world):
    # Session authentication comes first and sends no WWW-Authenticate challenge: DRF answers 403.
    assert APIClient().get("/api/v1/patients/").status_code == 403
    assert APIClient().get(f"/api/v1/patients/{world.p.gjerdrum.pk}/").status_code == 403


def test_it_lists_patients_in_the_documented_shape(world, api):
    body = api(world.u.nurse).get("/api/v1/patients/").json()
    assert {"count", "next", "previous", "results"} <= set(body)
    assert body["count"] == 3
    olav = next(p for p in body["results"] if p["name"] == "Olav Ullensaker")
    assert olav["id"] == str(world.p.ullensaker.pk)
    assert olav["national_id"] == world.p.ullensaker.national_id[:6] + " *****"
    assert olav["municipality"] == {"number": "3209", "name": "Ullensaker"}
    assert olav["status"] == "active"
    assert "gp" in olav


def test_it_filters_by_search_and_municipality(world, api):
    client = api(world.u.nurse)
    by_name = client.get("/api/v1/patients/", {"search": "jens"}).json()["results"]
    assert [p["name"] for p in by_name] == ["Jens Nannestad"]
    by_number = client.get("/api/v1/patients/", {"municipality": "3230"}).json()["results"]
    assert [p["name"] for p in by_number] == ["Rune Gjerdrum"]
    by_id = client.get("/api/v1/patients/", {"search": world.p.ullensaker.national_id}).json()["results"]
    assert [p["name"] for p in by_id] == ["Olav Ullensaker"]
    # A municipality outside the scope filters to nothing rather than widening it.
    assert client.get("/api/v1/patients/", {"municipality": "4202"}).json()["count"] == 0


def test_it_paginates_the_drf_way(world, api):
    from tests.factories import PatientFactory

    PatientFactory.create_batch(55, municipality=world.m.gjerdrum)
    body = api(world.u.coordinator).get("/api/v1/patients/").json()
    assert body["count"] == 56
    assert len(body["results"]) == 50
    assert body["next"].endswith("page=2")


def test_it_shows_a_patient_and_audits_the_read(world, api):
    before = AuditEvent.objects.count()
    response = api(world.u.coordinator).get(f"/api/v1/patients/{world.p.gjerdrum.pk}/")
    assert response.status_code == 200
    assert response.json()["name"] == "Rune Gjerdrum"
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("at")
    assert (event.username, event.role, event.action) == ("coord_gjerdrum", "coordinator", "view")
    assert event.patient_id == world.p.gjerdrum.pk
    assert event.municipality_id == world.m.gjerdrum.pk


def test_it_hides_other_municipalitys_patient(world, api):
    before = AuditEvent.objects.count()
    response = api(world.u.coordinator).get(f"/api/v1/patients/{world.p.nannestad.pk}/")
    assert response.status_code == 404
    assert AuditEvent.objects.count() == before


def test_it_audits_one_event_per_listed_patient(world, api):
    before = AuditEvent.objects.count()
    api(world.u.nurse).get("/api/v1/patients/")
    events = AuditEvent.objects.order_by("-id")[:4]
    assert AuditEvent.objects.count() == before + 4  # the list's own event and one per patient
    assert {e.patient_id for e in events} == {None, world.p.ullensaker.pk, world.p.gjerdrum.pk, world.p.nannestad.pk}


def test_it_never_puts_the_full_national_id_in_the_api(world, api):
    content = api(world.u.nurse).get("/api/v1/patients/").content.decode()
    assert world.p.ullensaker.national_id not in content


def test_it_publishes_an_openapi_schema(world, api):
    response = api(world.u.nurse).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/patients/{patient_id}/" in response.content
    for path in (b"/api/v1/readings", b"/api/v1/answers", b"/api/v1/fhir/Observation", b"/api/v1/alerts/",
                 b"/api/v1/patients/{patient_id}/plan/approve/"):  # fmt: skip
        assert path in response.content, path
    assert b"integrationToken" in response.content  # the gateways' bearer token is documented
