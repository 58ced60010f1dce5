"""The API's throttles (dho/throttling.py): per device gateway and per user, counted in the real Redis,
a 429 with Retry-After and a Norwegian message, refused before anything of the request is stored."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from measurements.models import QuarantinedItem, Reading
from measurements.services import integration_create
from tests.conftest import throttle_counters_clear
from tests.dho.conftest import user_token

FHIR = "application/fhir+json"


@pytest.fixture
def rates(settings):
    """rates(user=…, gateway=…) sets this test's rates; the counters of earlier runs (whose users and
    gateways may have had the same ids) are cleared first, and this test's after it."""

    def set_rates(**given):
        throttle_counters_clear(settings)
        settings.DHO_THROTTLE_RATES = {**settings.DHO_THROTTLE_RATES, **given}

    yield set_rates
    throttle_counters_clear(settings)


def _reading(patient, n, **changes) -> dict:
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    item = {"external_id": f"r-{n}", "patient_id": str(patient.pk), "type": "spo2", "value": 93, "unit": "%",
            "measured_at": at}  # fmt: skip
    return item | changes


def _gateway(centre, name="Testgateway") -> Client:
    _integration, token = integration_create(centre=centre, name=name)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _assert_throttled(response, within: int) -> None:
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= within
    assert "no-store" in response["Cache-Control"]


def test_it_refuses_a_gateways_batch_whole_past_its_rate(world, rates, settings):
    rates(gateway="2/hour")
    post = _gateway(world.centres.ovre).post
    for n in (1, 2):
        batch = {"readings": [_reading(world.p.gjerdrum, n)]}
        assert post("/api/v1/readings", batch, content_type="application/json").status_code == 200
    # The third: a valid reading and a bad one. Refused whole: neither stored nor quarantined.
    batch = {"readings": [_reading(world.p.gjerdrum, 3), _reading(world.p.gjerdrum, 4, value=900)]}
    refused = post("/api/v1/readings", batch, content_type="application/json")
    _assert_throttled(refused, within=3600)
    detail = refused.json()["detail"]
    assert detail.startswith("For mange forespørsler. Ingenting i denne forespørselen er tatt imot eller lagret")
    assert f"send den på nytt om {refused['Retry-After']} sekund" in detail
    assert Reading.objects.count() == 2 and not QuarantinedItem.objects.exists()
    # FHIR clients get it as an OperationOutcome, with the same Retry-After.
    outcome = post("/api/v1/fhir/Observation", {"resourceType": "Observation"}, content_type=FHIR)
    _assert_throttled(outcome, within=3600)
    assert outcome.json()["issue"][0]["code"] == "throttled" and not QuarantinedItem.objects.exists()
    # Another gateway has its own count.
    other = _gateway(world.centres.agder)
    assert other.post("/api/v1/readings", {"readings": [_reading(world.p.grimstad, 1)]},
                      content_type="application/json").status_code == 200  # fmt: skip
    # A Redis that does not answer lets the gateway through: ingest goes on without Redis.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    batch = {"readings": [_reading(world.p.gjerdrum, 5)]}
    assert post("/api/v1/readings", batch, content_type="application/json").status_code == 200


def test_it_throttles_each_user_on_their_own(world, rates, login):
    rates(user="3/hour")
    nurse = APIClient()
    nurse.credentials(HTTP_AUTHORIZATION=f"Token {user_token(world.u.nurse)}")
    session = login(world.u.nurse)  # the same user by session counts against the same rate
    assert nurse.get("/api/v1/patients/").status_code == 200
    assert session.get("/api/v1/patients/").status_code == 200
    assert nurse.get(f"/api/v1/patients/{world.p.gjerdrum.pk}/").status_code == 200
    refused = nurse.get("/api/v1/patients/")
    _assert_throttled(refused, within=3600)
    assert refused.json()["detail"].startswith("For mange forespørsler.")
    assert session.get("/api/v1/patients/").status_code == 429
    # The coordinator is not held up by the nurse.
    assert login(world.u.coordinator).get("/api/v1/patients/").status_code == 200


def test_the_default_rates_let_a_realistic_gateway_and_user_through(settings):
    from dho.throttling import parse_rate

    gateway, minute = parse_rate(settings.DHO_THROTTLE_RATES["gateway"])
    assert minute == 60 and gateway >= 600  # a 1,000-reading batch every tenth of a second
    user, minute = parse_rate(settings.DHO_THROTTLE_RATES["user"])
    assert minute == 60 and user >= 600


def test_the_schema_documents_the_429(world, api):
    schema = api(world.u.nurse).get("/api/schema/?format=json").json()
    for path, method in (("/api/v1/readings", "post"), ("/api/v1/patients/", "get"), ("/api/v1/fhir", "post")):
        assert "429" in schema["paths"][path][method]["responses"], path
