"""POST /api/v1/readings: every rejection rule with its index, field and message; duplicates;
neighbours of a bad item stored; the quarantine keeps every reject; malformed bodies are 400."""

import datetime
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from measurements.models import Integration, QuarantinedItem, Reading
from tenants.models import AuditEvent
from tests.clock import earlier_today


def _reading(patient, n=1, **overrides):
    item = {
        "external_id": f"gw-{n}",
        "patient_id": str(patient.pk),
        "type": "spo2",
        "value": 93,
        "unit": "%",
        "measured_at": earlier_today(datetime.timedelta(minutes=1)).isoformat(),
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def _post(gateway, *items):
    response = gateway.post("/api/v1/readings", {"readings": list(items)})
    assert response.status_code == 200, response.content
    return response.json()


# Hours ahead, not minutes: computed at import, it must still be «fram i tid» when the test runs late in the suite.
FUTURE = (timezone.now() + datetime.timedelta(hours=3)).isoformat()
OLD = (timezone.now() - datetime.timedelta(days=31)).isoformat()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"type": "blodsukker"}, "type", "ukjent type"),
        ({"unit": "mmHg"}, "unit", "enheten «mmHg» passer ikke til spo2; bruk %"),
        ({"type": "weight", "value": 80, "unit": "lbs"}, "unit", "bruk kg eller g eller [lb_av]"),
        ({"value": 101}, "value", "101 % er ikke en mulig verdi for spo2"),
        ({"type": "pulse", "value": 0, "unit": "/min"}, "value", "0 slag/min er ikke en mulig verdi for pulse"),
        ({"type": "weight", "value": 0, "unit": "kg"}, "value", "0 kg er ikke en mulig verdi for weight"),
        ({"value": "høy"}, "value", "må være et tall"),
        ({"value": None}, "value", "mangler"),
        ({"measured_at": "2026-11-23T08:01:00"}, "measured_at", "mangler tidssone"),
        ({"measured_at": "i morges"}, "measured_at", "ISO 8601"),
        ({"measured_at": FUTURE}, "measured_at", "mer enn 5 minutter fram i tid"),
        ({"measured_at": OLD}, "measured_at", "mer enn 30 dager gammelt"),
        ({"external_id": ""}, "external_id", "kan ikke være tom"),
        ({"external_id": None}, "external_id", "mangler"),
        ({"patient_id": None}, "patient_id", "mangler"),
        ({"patient_id": "ikke-en-uuid"}, "patient_id", "må være en UUID"),
        ({"patient_id": None, "device_serial": "BP-0042"}, "device_serial", "ukjent enhet «BP-0042»"),
        ({"type": "blood_pressure", "unit": "mm[Hg]", "value": None, "systolic": 150}, "diastolic", "mangler"),
        ({"type": "blood_pressure", "unit": "mm[Hg]", "value": None, "systolic": 80, "diastolic": 95}, "diastolic",
         "lavere enn systolisk"),
    ],
)  # fmt: skip
def test_each_rejection_names_index_field_and_message_and_spares_the_neighbours(
    world, gateway, overrides, field, message
):
    patient = world.p.gjerdrum
    body = _post(gateway, _reading(patient, 1), _reading(patient, 2, **overrides), _reading(patient, 3))
    assert [r["status"] for r in body["results"]] == ["created", "rejected", "created"]
    rejected = body["results"][1]
    assert rejected["index"] == 1
    assert any(e["field"] == field and message in e["message"] for e in rejected["errors"]), rejected["errors"]
    assert Reading.objects.filter(patient=patient).count() == 2
    kept = QuarantinedItem.objects.get()
    assert kept.index == 1 and kept.integration == gateway.integration
    assert kept.payload == _reading(patient, 2, **overrides) or kept.payload.get("external_id") == overrides.get(
        "external_id", "gw-2"
    )
    assert any(e["field"] == field for e in kept.errors)


def test_a_patient_outside_the_gateways_centre_is_rejected_as_unknown(world, gateway):
    body = _post(gateway, _reading(world.p.grimstad, 1), _reading(world.p.nordrefollo, 2))
    assert body["results"][0] == {
        "index": 0,
        "status": "rejected",
        "errors": [{"field": "patient_id", "message": "ukjent pasient for denne integrasjonen"}],
    }
    # Nordre Follo follows up its own patients, but its devices post through the centre's platform.
    assert body["results"][1]["status"] == "created"


def test_duplicates_are_acknowledged_and_never_stored_twice(world, gateway):
    one, two = _reading(world.p.gjerdrum, 1), _reading(world.p.gjerdrum, 2)
    first = _post(gateway, one, two)
    again = _post(gateway, one, two, two)  # a resend: the same items, measured at the same times
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate", "duplicate"]
    assert [r["id"] for r in again["results"][:2]] == [r["id"] for r in first["results"]]
    assert Reading.objects.count() == 2
    # Another gateway may use the same external id: it is a different reading.
    from measurements.services import integration_create

    _other, token = integration_create(centre=world.centres.ovre, name="Annen")
    from django.test import Client

    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        "/api/v1/readings", {"readings": [one]}, content_type="application/json"
    )
    assert response.json()["results"][0]["status"] == "created"


def test_the_same_external_id_measured_at_another_time_is_another_reading(world, gateway):
    """The idempotency key holds the measured time (readings are partitioned by it): a resend carries
    the time again and is a duplicate, an id a gateway reuses for a new measurement is stored."""
    one = _reading(world.p.gjerdrum, 1, measured_at=(timezone.now() - datetime.timedelta(hours=2)).isoformat())
    later = {**one, "measured_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(), "value": 95}
    first, resend, reused = (_post(gateway, item)["results"][0] for item in (one, one, later))
    assert (first["status"], resend["status"], reused["status"]) == ("created", "duplicate", "created")
    assert resend["id"] == first["id"] != reused["id"]
    assert sorted(Reading.objects.values_list("value", flat=True)) == [93, 95]


def test_one_batch_with_an_id_reused_at_another_time_stores_both_readings(world, gateway):
    """The same rule inside one batch: a gateway sending its backlog may carry an id it reused (its
    counter wrapped, a device replaced) beside the earlier reading; neither is dropped, and the item
    sent twice at the same time is still one reading."""
    two_hours_ago = (timezone.localtime() - datetime.timedelta(hours=2)).isoformat()
    one = _reading(world.p.gjerdrum, 1, measured_at=two_hours_ago)
    later = {**one, "measured_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(), "value": 85}
    results = _post(gateway, one, later, one)["results"]
    assert [r["status"] for r in results] == ["created", "created", "duplicate"]
    assert results[0]["id"] != results[1]["id"] and results[2]["id"] == results[0]["id"]
    assert sorted(Reading.objects.values_list("value", flat=True)) == [85, 93]
    again = _post(gateway, later, one)["results"]  # the whole backlog resent: both met as duplicates
    assert [(r["status"], r["id"]) for r in again] == [("duplicate", results[1]["id"]), ("duplicate", results[0]["id"])]
    logged = AuditEvent.objects.get(object_type="reading", patient_id=world.p.gjerdrum.pk)
    assert logged.object_id == "2"  # two readings written for the patient, the item sent twice counted once


def test_an_items_time_is_kept_as_the_same_instant_in_utc(world):
    """Parsed once to UTC (what the database gives back), whatever offset the gateway wrote: the
    batch's bookkeeping compares items by their time many times, and pydantic's own offset class
    made each comparison slow; the instant is the same."""
    from measurements.ingest import parse_answer, parse_reading

    at = timezone.localtime() - datetime.timedelta(minutes=3)
    reading, errors = parse_reading(_reading(world.p.gjerdrum, measured_at=at.isoformat()), timezone.now())
    assert errors == [] and reading.measured_at == at and reading.measured_at.tzinfo is datetime.UTC
    answer, errors = parse_answer({"external_id": "a-1", "patient_id": str(world.p.gjerdrum.pk),
                                   "questionnaire": "daily_symptoms", "answers": {"more_breathless": "no"},
                                   "answered_at": at.isoformat()}, timezone.now())  # fmt: skip
    assert errors == [] and answer.answered_at == at and answer.answered_at.tzinfo is datetime.UTC


def test_units_are_converted_to_the_one_stored_unit(world, gateway):
    body = _post(
        gateway,
        _reading(world.p.gjerdrum, 1, type="weight", value=180, unit="[lb_av]"),
        _reading(world.p.gjerdrum, 2, type="temperature", value=100.4, unit="[degF]"),
        _reading(world.p.gjerdrum, 3, type="glucose", value=90.08, unit="mg/dL"),
        _reading(world.p.gjerdrum, 4, type="blood_pressure", value=None, systolic=150, diastolic=95, unit="mm[Hg]"),
    )
    ids = [r["id"] for r in body["results"]]
    weight, temperature, glucose, bp = (Reading.objects.get(pk=i) for i in ids)
    assert weight.value == pytest.approx(81.647, abs=0.001) and weight.original == "180 [lb_av]"
    assert temperature.value == pytest.approx(38.0)
    assert glucose.value == pytest.approx(5.0)
    assert (bp.value, bp.systolic, bp.diastolic) == (None, 150, 95)
    assert all(r.scored_at is None for r in (weight, temperature, glucose, bp))  # stored first, scored later


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("ikke json", "application/json", "ikke gyldig JSON"),
        ({"målinger": []}, "application/json", "med listen «readings»"),
        ({"readings": {}}, "application/json", "må være en liste"),
        ({"readings": []}, "application/json", "er tom"),
        ({"readings": [{}] * 1001}, "application/json", "For mange elementer: 1001; høyst 1000"),
    ],
)
def test_a_malformed_body_is_a_400_that_says_what_is_wrong(world, gateway, body, content_type, message):
    response = gateway.post("/api/v1/readings", body, content_type=content_type)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Reading.objects.exists()


def test_only_a_valid_gateway_token_may_post(world, gateway, login):
    anonymous = login(world.u.nurse)  # a logged-in user is not a gateway
    refused = anonymous.post("/api/v1/readings", {"readings": []}, content_type="application/json")
    assert refused.status_code == 401
    from django.test import Client

    wrong = Client(HTTP_AUTHORIZATION="Bearer dho_feil").post(
        "/api/v1/readings", {"readings": [{}]}, content_type="application/json"
    )
    assert wrong.status_code == 401
    gateway.integration.active = False
    gateway.integration.save()
    assert gateway.post("/api/v1/readings", {"readings": [_reading(world.p.gjerdrum)]}).status_code == 401


def test_the_token_is_stored_only_as_a_hash_and_printed_once(world, capsys):
    call_command("create_integration", "ovre", "Dignio-gateway")
    token = capsys.readouterr().out.strip()
    integration = Integration.objects.get(name="Dignio-gateway")
    assert token.startswith("dho_") and len(token) > 30
    assert token not in integration.token_hash and integration.token_prefix == token[:8]
    from measurements.services import integration_for_token

    assert integration_for_token(token) == integration


def test_writes_are_audited_per_patient_with_the_integration_as_actor(world, gateway):
    _post(gateway, _reading(world.p.gjerdrum, 1), _reading(world.p.gjerdrum, 2), _reading(world.p.nannestad, 3))
    events = AuditEvent.objects.filter(object_type="reading", action="create")
    assert {(e.patient_id, e.object_id) for e in events} == {(world.p.gjerdrum.pk, "2"), (world.p.nannestad.pk, "1")}
    assert {e.username for e in events} == {"integrasjon:Testgateway"}


def test_a_centre_admin_resubmits_a_quarantined_item_with_the_right_patient(world, gateway, login):
    body = _post(gateway, _reading(world.p.grimstad, 7))  # wrong patient: outside the centre
    assert body["results"][0]["status"] == "rejected"
    item = QuarantinedItem.objects.get()
    admin = login(world.u.admin)
    assert item.integration.name in admin.get("/admin/measurements/quarantineditem/").content.decode()
    page = admin.get(f"/admin/measurements/quarantineditem/{item.pk}/resubmit/")
    assert page.status_code == 200 and "ukjent pasient" in page.content.decode()
    # A patient outside the centre cannot even be found (tests/measurements/test_quarantine_admin.py).
    resubmit = f"/admin/measurements/quarantineditem/{item.pk}/resubmit/"
    refused = admin.post(resubmit, {"national_id": world.p.grimstad.national_id})
    assert refused.status_code == 200 and not Reading.objects.exists()
    done = admin.post(resubmit, {"national_id": world.p.gjerdrum.national_id})
    assert done.status_code == 302
    item.refresh_from_db()
    reading = Reading.objects.get()
    assert (item.status, item.resolved_by, reading.patient) == ("resubmitted", world.u.admin, world.p.gjerdrum)
    assert QuarantinedItem.objects.count() == 1  # the resubmission did not quarantine anything again


def test_another_centres_admin_does_not_see_the_quarantine(world, gateway, login):
    from tests.factories import MembershipFactory, UserFactory

    _post(gateway, _reading(world.p.grimstad, 7))
    agder_admin = UserFactory(username="agder_admin", is_staff=True)
    MembershipFactory(user=agder_admin, role="admin", centre=world.centres.agder)
    listing = login(agder_admin).get("/admin/measurements/quarantineditem/")
    assert listing.status_code == 200  # the page opens, with Agder's items only
    assert "Testgateway" not in listing.content.decode()


def test_the_statement_that_finds_the_gateway_sets_the_same_scope_as_integration_scope_set(world, gateway):
    from django.db import transaction

    from measurements.services import integration_authenticate, integration_scope_set
    from tenants import rls

    with transaction.atomic():
        integration_scope_set(gateway.integration)
        expected = rls.current_scope()
    with transaction.atomic():
        rls.scope_set([])
        assert integration_authenticate("dho_feil") is None
        assert rls.current_scope() == []  # an unknown token sets nothing: the request's empty scope stays
        assert integration_authenticate(gateway.token) == gateway.integration
        assert sorted(rls.current_scope()) == sorted(expected)
    assert world.m.gjerdrum.pk in expected and world.m.grimstad.pk not in expected


def test_a_single_reading_is_stored_in_a_few_statements(world, gateway):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _post(gateway, _reading(world.p.gjerdrum, 0))  # the first request's one-off lookups out of the way
    with CaptureQueriesContext(connection) as captured:
        [result] = _post(gateway, _reading(world.p.gjerdrum, 1))["results"]
    assert result["status"] == "created"
    # The test's own savepoint, and the scope read and set back around the request's (rls._scoped inside
    # the test's transaction), are not the request's.
    statements = [q["sql"] for q in captured.captured_queries
                  if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "SELECT current_setting"))][:-1]  # fmt: skip
    # The request's scope; the gateway with its scope; the patients; the reading; the audit.
    assert len(statements) == 5, statements
    # and none of them sorts by a name (the models' default ordering joined centres and kommuner for it)
    assert not [sql for sql in statements if re.search(r'ORDER BY[^;]*"name"', sql)], statements
