"""The quarantine is bounded: at most DHO_QUARANTINE_DAILY_LIMIT rejected items per gateway and day.
Past it the gateway is told (429, Retry-After) to keep what was refused and send it again, its valid
items are stored as always (a resend makes them duplicates), and the centre admin gets one notice a
day per gateway, audited. Nothing is dropped without the gateway knowing."""

from measurements.models import QuarantinedItem, QuarantineNotice, Reading
from measurements.services import integration_create
from tenants.models import AuditEvent
from tests.measurements.test_fhir import FHIR, _load, _now
from tests.measurements.test_ingest import _reading

READINGS = "/api/v1/readings"
BAD = {"value": 900}  # SpO2 900 %: rejected


def _bad(world, n) -> dict:
    return {"readings": [_reading(world.p.gjerdrum, n, **BAD)]}


def test_it_caps_the_quarantine_per_gateway_and_day_and_tells_the_gateway(world, gateway, settings):
    settings.DHO_QUARANTINE_DAILY_LIMIT = 10
    answers = [gateway.post(READINGS, _bad(world, n)).status_code for n in range(60)]  # a gateway gone wrong
    assert answers == [200] * 10 + [429] * 50
    assert QuarantinedItem.objects.filter(integration=gateway.integration).count() == 10

    # A batch with a valid reading and a bad one: the reading is stored, the bad one refused, not kept.
    batch = {"readings": [_reading(world.p.gjerdrum, 100), _reading(world.p.gjerdrum, 101, **BAD)]}
    full = gateway.post(READINGS, batch)
    assert full.status_code == 429
    assert 1 <= int(full["Retry-After"]) <= 24 * 3600  # the next day in Norway
    body = full.json()
    assert body["detail"].startswith("Karantenen for denne integrasjonen er full for i dag (høyst 10 ")
    assert "1 avviste elementer er ikke tatt imot: behold dem" in body["detail"]
    assert "1 gyldige elementer er lagret og lagres ikke to ganger" in body["detail"]
    assert [(r["status"], r["index"]) for r in body["results"]] == [("created", 0), ("refused", 1)]
    assert body["results"][1]["errors"][0]["field"] == "value"  # what to fix before sending again
    assert Reading.objects.count() == 1
    assert QuarantinedItem.objects.count() == 10
    # Sent again as told: nothing twice.
    again = gateway.post(READINGS, batch).json()["results"]
    assert [r["status"] for r in again] == ["duplicate", "refused"] and Reading.objects.count() == 1

    # FHIR: an OperationOutcome saying the same.
    bad = _load("minimal-spo2-fnr.json") | {"effectiveDateTime": _now()}  # nobody has this number here
    outcome = gateway.post("/api/v1/fhir/Observation", bad, FHIR)
    assert outcome.status_code == 429 and outcome["Retry-After"]
    assert "Karantenen for denne integrasjonen er full" in outcome.json()["issue"][0]["diagnostics"]
    assert QuarantinedItem.objects.count() == 10

    # Another gateway, of the same centre, has its own day.
    _other, token = integration_create(centre=world.centres.ovre, name="Annen gateway")
    from django.test import Client

    other = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert other.post(READINGS, _bad(world, 1), content_type="application/json").status_code == 200


def test_the_centre_admin_is_told_once_a_day_per_gateway_and_it_is_audited(world, gateway, settings, login):
    settings.DHO_QUARANTINE_DAILY_LIMIT = 1
    for n in range(4):
        gateway.post(READINGS, _bad(world, n))
    [notice] = QuarantineNotice.objects.all()
    assert (notice.integration, notice.centre, notice.refused) == (gateway.integration, world.centres.ovre, 3)
    [event] = AuditEvent.objects.filter(object_type="quarantine_notice")
    assert (event.username, event.action, event.role) == ("integrasjon:Testgateway", "create", "integration")
    assert (event.object_id, event.municipality_id) == (str(notice.pk), world.m.ullensaker.pk)  # the host's log

    admin = login(world.u.admin)
    listed = admin.get("/admin/measurements/quarantineditem/").content.decode()
    assert "Karantenen for «Testgateway» er full" in listed and "3 avviste elementer er ikke tatt imot" in listed
    notices = admin.get("/admin/measurements/quarantinenotice/")
    assert notices.status_code == 200 and "Testgateway" in notices.content.decode()
    assert admin.get(f"/admin/measurements/quarantinenotice/{notice.pk}/change/").status_code == 200
    # The admin of another centre sees neither the notice nor the warning.
    from tests.factories import MembershipFactory, UserFactory

    agder_admin = UserFactory(username="admin_agder", is_staff=True)
    MembershipFactory(user=agder_admin, role="admin", centre=world.centres.agder)
    agder = login(agder_admin)
    assert "Testgateway" not in agder.get("/admin/measurements/quarantineditem/").content.decode()
    assert "Testgateway" not in agder.get("/admin/measurements/quarantinenotice/").content.decode()
    assert agder.get(f"/admin/measurements/quarantinenotice/{notice.pk}/change/").status_code in (302, 404)
