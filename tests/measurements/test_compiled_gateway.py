"""The gateways' two queries, compiled once a day (tenants.compiled): the gateway and its centre come
back whole, and an agreement's end counts from the next request."""

import datetime

from django.db import transaction
from django.test import Client
from django.utils import timezone

from tenants.models import Agreement
from tenants.services import agreement_save


def test_the_gateway_and_its_centre_come_back_whole(world, gateway):
    from measurements.services import integration_authenticate

    with transaction.atomic():
        found = integration_authenticate(gateway.token)
    centre = world.centres.ovre
    centre.refresh_from_db()
    assert found == gateway.integration and found.name == "Testgateway" and found.active
    assert found.centre == centre and found.centre.host_id == centre.host_id
    assert found.centre.open_weekdays == centre.open_weekdays and found.centre.opens_at == centre.opens_at
    assert found.created_at == gateway.integration.created_at


def test_an_agreement_ended_after_the_queries_were_compiled_stops_counting_at_once(world, gateway, now_iso):
    """The SQL is kept, the agreements are read by every request: a partner whose agreement is ended
    (here back-dated to yesterday) is not served by the next request."""
    item = {"external_id": "a", "patient_id": str(world.p.gjerdrum.pk), "type": "spo2", "value": 95, "unit": "%",
            "measured_at": now_iso()}  # fmt: skip
    first = gateway.post("/api/v1/readings", {"readings": [item]}).json()
    assert first["created"] == 1  # compiled today, with the agreement in force
    ended = Agreement.objects.get(municipality=world.m.gjerdrum)
    ended.valid_from = timezone.localdate() - datetime.timedelta(days=30)
    ended.valid_to = timezone.localdate() - datetime.timedelta(days=1)
    agreement_save(agreement=ended)
    again = gateway.post("/api/v1/readings", {"readings": [{**item, "external_id": "b"}]}).json()
    assert again["rejected"] == 1 and again["results"][0]["errors"][0]["field"] == "patient_id"
    stranger = Client(HTTP_AUTHORIZATION="Bearer dho_not-a-token")
    assert stranger.post("/api/v1/readings", {"readings": [item]}, content_type="application/json").status_code == 401
