"""The outbox to the kommune's EPJ, against the stand-ins as real HTTPS servers in their own
processes (the `standins` fixture: HelseID and the journaling service, JFT): a handled alert becomes
one delivery in the transaction that handled it and ends journaled; a 503 is retried with the same
identifier and bytes; a refused document or configuration stops the row (and says why, and where);
a row a killed worker left claimed is taken over by the sweep; routine contacts and evaluations go
too, «ikke nådd» and a kommune without a route do not."""

import datetime
import json
import logging
import time
import uuid

import jwskate
import pytest
import requests
from django.db import transaction
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from dho.dev import standins as launcher
from journaling import services, tasks
from journaling.models import Delivery, DeliveryState, Route, RouteKind
from journaling.selectors import deliveries_needing_attention, routes_with_problems
from measurements.services import integration_create, readings_ingest
from patients import national_id
from patients import services as patients
from tenants.errors import NotAllowed
from tenants.models import AuditEvent
from tests.factories import PatientFactory
from tests.journaling.conftest import bare_delivery, routine_contact
from triage import services as triage
from triage.models import Alert, JournalNote

ORGNR = "312229544"
NOTE = "Ringte pasienten. Startet reservekur etter planen."


class Jft:
    """The JFT stand-in's test hooks (dho/dev/jft.py)."""

    def __init__(self, env):
        self.env, self.base = env, env.jft_base_url

    def _call(self, method, path, **kwargs):
        response = requests.request(method, f"{self.base}{path}", verify=str(self.env.ca_file), timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def events(self, identifier=None):
        found = self._call("GET", "/_standin/events")
        return [e for e in found if identifier is None or e["identifier"] == identifier]

    def faults(self, status, count=1):
        self._call("POST", "/_standin/faults", json={"status": status, "count": count})

    def config(self, **values):
        return self._call("POST", "/_standin/config", json=values)


@pytest.fixture
def jft(standins, monkeypatch):
    for name, value in standins.environ().items():
        monkeypatch.setenv(name, value)
    stand_in = Jft(standins)
    stand_in.config(ack_delay=0, epj=True)
    stand_in.faults(0)  # none left over from another test
    yield stand_in
    stand_in.faults(0)


@pytest.fixture
def route(world, jft, standins):
    return Route.objects.create(
        municipality=world.m.gjerdrum, kind=RouteKind.JFT, orgnr=ORGNR, base_url=standins.jft_base_url,
        client_id=standins.client.client_id, key_reference=str(standins.client.key_file),
    )  # fmt: skip


def _alert(world, patient=None) -> Alert:
    """A red SpO2 reading scored into an open alert for the Gjerdrum patient."""
    patient = patient or world.p.gjerdrum
    gateway = integration_create(centre=world.centres.ovre, name=f"gw-{uuid.uuid4().hex[:6]}")[0]
    at = (timezone.localtime() - datetime.timedelta(minutes=5)).isoformat()
    item = {"external_id": uuid.uuid4().hex, "patient_id": str(patient.pk), "type": "spo2", "value": 86, "unit": "%",
            "measured_at": at}  # fmt: skip
    stored = readings_ingest(integration=gateway, items=[item])
    assert not stored[0].errors, stored[0].errors
    triage.readings_score([r.id for r in stored])
    return Alert.objects.get(patient=patient, status="open")


def _handled(world, patient=None) -> JournalNote:
    alert = _alert(world, patient)
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_reached", "advised_ebp"], note=NOTE)
    return JournalNote.objects.get(alert=alert)


def _until(check, seconds=10.0):
    """The stand-in's EPJ acknowledges in its own process: wait for it, bounded."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def _journaled(delivery) -> Delivery:
    def polled():
        row = services.delivery_poll(delivery.pk)
        return row if row is not None and row.state == DeliveryState.JOURNALED else None

    row = _until(polled)
    assert row is not None, Delivery.objects.get(pk=delivery.pk).state
    return row


def _identifier(delivery) -> str:
    return f"urn:uuid:{delivery.bundle_id}"


# --- the way through ------------------------------------------------------------------------------


def test_a_handled_alert_is_one_delivery_ending_journaled(world, route, jft, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        note = _handled(world)
    [delivery] = Delivery.objects.all()
    assert (delivery.journal_note, delivery.contact, delivery.patient) == (note, None, world.p.gjerdrum)
    assert delivery.state == DeliveryState.PENDING and delivery.transport == RouteKind.JFT
    assert callbacks, "the send is queued after the commit"

    assert tasks.send_delivery(delivery.pk) == DeliveryState.SENT
    delivery.refresh_from_db()
    assert delivery.status_url.startswith(f"{jft.base}/v1/Bundle/") and delivery.status_url.endswith("/$status")
    assert delivery.last_http_status == 202 and delivery.tries == 1 and delivery.sent_at is not None
    assert delivery.claim is None

    row = _journaled(delivery)
    assert row.registered_at and row.read_at and row.journaled_at
    [event] = jft.events(_identifier(delivery))
    assert (event["orgnr"], event["status"], event["channel"]) == (ORGNR, "journaled", "jft")
    # The bytes kept are the bytes that arrived.
    import hashlib

    assert event["sha256"] == hashlib.sha256(bytes(row.sent_document)).hexdigest()
    # Audited: created by the nurse, sent (export) and moved by the worker.
    events = AuditEvent.objects.filter(object_type="journal_delivery", object_id=str(delivery.pk))
    assert events.filter(action="create", user=world.u.nurse, patient_id=world.p.gjerdrum.pk).exists()
    assert events.filter(action="export", username="system:journaling.send").count() == 1
    assert events.filter(action="update", username="system:journaling.poll").exists()
    # Sending again is nothing: it is journaled.
    assert services.delivery_send(delivery.pk) is None


def test_the_sent_bundle_parses_and_carries_the_patient_the_alert_code_and_the_nurses_text(world, route, jft):
    _handled(world)
    delivery = Delivery.objects.get()
    services.delivery_send(delivery)
    delivery.refresh_from_db()
    document = json.loads(bytes(delivery.sent_document))
    Bundle.model_validate(document)
    assert document["type"] == "document" and document["identifier"]["value"] == _identifier(delivery)
    resources = {e["resource"]["resourceType"]: e["resource"] for e in document["entry"]}
    assert resources["Patient"]["identifier"][0]["value"] == world.p.gjerdrum.national_id
    assert resources["DetectedIssue"]["code"]["coding"][0]["code"] == "5.2.1"
    assert "Startet reservekur etter planen." in resources["Composition"]["section"][0]["text"]["div"]


def test_a_503_is_retried_with_the_same_identifier_and_bytes_and_journaled_once(world, route, jft):
    _handled(world)
    delivery = Delivery.objects.get()
    jft.faults(503)
    row = services.delivery_send(delivery)
    assert row.state == DeliveryState.FAILED and row.last_http_status == 503 and row.tries == 1
    assert "503" in row.last_error and "Prøver igjen" in row.last_error
    # The next try by the Norwegian clock (the admin reads it beside times the page shows so), not in UTC.
    assert f"Prøver igjen {timezone.localtime(row.next_try_at):%d.%m.%Y %H:%M}." in row.last_error
    assert datetime.timedelta(seconds=50) < row.next_try_at - timezone.now() <= datetime.timedelta(minutes=1)
    first_bytes = bytes(row.sent_document)
    # Not due yet: the sweep leaves it.
    assert tasks.send_due() == 0
    Delivery.objects.filter(pk=delivery.pk).update(next_try_at=timezone.now())
    assert tasks.send_due() == 1
    row = Delivery.objects.get(pk=delivery.pk)
    assert row.state == DeliveryState.SENT and row.tries == 2 and bytes(row.sent_document) == first_bytes
    _journaled(row)
    [event] = jft.events(_identifier(row))  # the 503 was refused before it was registered
    assert event["status"] == "journaled"
    assert event["sha256"] == __import__("hashlib").sha256(first_bytes).hexdigest()


def test_the_backoff_is_one_two_four_eight_sixteen_minutes_then_hourly_for_a_day_then_dead(world, route, jft):
    minutes = [services.retry_delay(n).total_seconds() / 60 for n in range(1, 30)]
    assert minutes == [1, 2, 4, 8, 16] + [60] * 24
    assert services.retry_delay(30) is None
    _handled(world)
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.FAILED, tries=29)
    jft.faults(503)
    row = services.delivery_send(delivery)
    assert row.state == DeliveryState.DEAD and row.tries == 30 and row.last_error.startswith("Ga opp etter 30 forsøk")


def test_a_document_the_service_refuses_goes_dead_at_once_with_its_operation_outcome(world, route, jft):
    real = national_id.synthetic(datetime.date(1950, 1, 1), 123, month_offset=0)  # a fødselsnummer, not a test one
    patient = PatientFactory(municipality=world.m.gjerdrum, national_id=real, name="Ekte Person")
    _handled(world, patient)
    delivery = Delivery.objects.get()
    row = services.delivery_send(delivery)
    assert row.state == DeliveryState.DEAD and row.last_http_status == 400 and row.tries == 1
    assert row.outcome["resourceType"] == "OperationOutcome"
    assert "syntetiske" in row.outcome["issue"][0]["diagnostics"] and "syntetiske" in row.last_error
    assert not jft.events(_identifier(row))
    assert not Route.objects.get(pk=route.pk).problem  # the document's problem, not the route's
    assert list(deliveries_needing_attention([world.m.gjerdrum.pk])) == [row]


def test_a_simulated_400_is_dead_with_the_outcome_kept(world, route, jft):
    _handled(world)
    jft.faults(400)
    row = services.delivery_send(Delivery.objects.get())
    assert row.state == DeliveryState.DEAD and "Simulert feil" in row.outcome["issue"][0]["diagnostics"]


def test_a_wrong_key_is_dead_and_a_problem_of_the_route_for_the_admin(world, route, jft, tmp_path):
    other = tmp_path / "other-key.json"
    launcher.private_jwk_file(other, "EC")  # a key HelseID does not know for this client
    Route.objects.filter(pk=route.pk).update(key_reference=str(other))
    _handled(world)
    row = services.delivery_send(Delivery.objects.get())
    assert row.state == DeliveryState.DEAD and "invalid_client" in row.last_error
    route.refresh_from_db()
    assert "invalid_client" in route.problem and route.problem_at is not None
    assert list(routes_with_problems([world.m.gjerdrum.pk])) == [route]
    assert AuditEvent.objects.filter(object_type="journal_route", object_id=str(route.pk)).exists()
    # The admin fixes the key and resends: the same delivery goes through, the problem is cleared.
    services.route_save(municipality=world.m.gjerdrum, user=world.u.admin, kind="jft", orgnr=ORGNR,
                        base_url=route.base_url, client_id=route.client_id,
                        key_reference=str(jft.env.client.key_file))  # fmt: skip
    assert not Route.objects.get(pk=route.pk).problem
    with pytest.raises(NotAllowed):
        services.delivery_resend(delivery=row, user=world.u.nurse)
    resent = services.delivery_resend(delivery=row, user=world.u.admin)
    assert resent.state == DeliveryState.PENDING and resent.tries == 0
    assert AuditEvent.objects.filter(object_type="journal_delivery", action="update", user=world.u.admin).exists()
    assert services.delivery_send(resent).state == DeliveryState.SENT


def test_a_route_is_refused_with_a_key_in_it_or_a_wrong_organisation_number(world):
    with pytest.raises(services.DeliveryRefused, match="aldri selve nøkkelen"):
        services.route_save(municipality=world.m.gjerdrum, user=world.u.admin, kind="jft", orgnr=ORGNR,
                            base_url="https://jft.example", client_id="x", key_reference='{"kty": "EC"}')  # fmt: skip
    with pytest.raises(services.DeliveryRefused, match="Kontrollsifferet"):
        services.route_save(municipality=world.m.gjerdrum, user=world.u.admin, kind="jft", orgnr="312229545",
                            base_url="https://jft.example", client_id="x", key_reference="DHO_JFT_KEY")  # fmt: skip


def test_a_kommune_without_delegation_to_the_client_is_dead_and_a_problem_of_the_route(world, route, jft):
    route.orgnr = "974760673"  # a valid number HelseID has no delegation from: no token at all
    route.save()
    _handled(world)
    row = services.delivery_send(Delivery.objects.get())
    assert row.state == DeliveryState.DEAD and "invalid_authorization_details" in row.last_error
    assert "invalid_authorization_details" in Route.objects.get(pk=route.pk).problem


@pytest.mark.parametrize("status", [401, 403])
def test_a_401_or_403_from_the_service_is_dead_and_a_problem_of_the_route(world, route, jft, status):
    _handled(world)
    jft.faults(status)
    row = services.delivery_send(Delivery.objects.get())
    assert row.state == DeliveryState.DEAD and row.last_http_status == status
    problem = Route.objects.get(pk=route.pk).problem
    assert f"avviste tilgangen ({status})" in problem and "HelseID-klienten" in problem


def test_a_401_refusing_the_dpop_proof_is_retried_and_the_route_names_the_clock(world, route, jft, monkeypatch):
    """This server's clock ten minutes slow once the token is had: the token is good, but every proof's
    `iat` is outside the service's window and it answers 401 with a DPoP error. A new proof passes once
    the clock is right, so the row waits for its next try instead of stopping, the route says to check
    the clock, and the next try with the clock right is sent and clears the problem."""
    _handled(world)
    first = services.delivery_send(Delivery.objects.get())
    assert first.state == DeliveryState.SENT  # the token is in hand, fetched with the clock right
    routine_contact(world)
    real = jwskate.Jwt.timestamp
    monkeypatch.setattr(jwskate.Jwt, "timestamp", lambda delta_seconds=0: real(delta_seconds - 600))
    row = services.delivery_send(Delivery.objects.exclude(pk=first.pk).get())
    assert (row.state, row.tries, row.last_http_status) == (DeliveryState.FAILED, 1, 401)
    assert row.last_error.startswith("Journalføringstjenesten avviste DPoP-beviset (401 ")
    assert "Prøver igjen" in row.last_error and not jft.events(_identifier(row))
    assert "klokken på serveren" in Route.objects.get(pk=route.pk).problem

    monkeypatch.setattr(jwskate.Jwt, "timestamp", real)
    Delivery.objects.filter(pk=row.pk).update(next_try_at=timezone.now())
    row = services.delivery_send(row.pk)
    assert (row.state, row.tries) == (DeliveryState.SENT, 2) and jft.events(_identifier(row))
    assert Route.objects.get(pk=route.pk).problem == ""


def test_an_unexpected_error_in_the_send_is_a_failed_try_that_ends_dead_after_the_last(
    world, route, jft, monkeypatch, tmp_path, caplog
):
    """A CA file that is not there makes requests raise a plain OSError, neither HelseID's error nor
    requests' own: the try counts, the reason names the kind of error, and the 30th try is dead."""
    monkeypatch.setenv("DHO_JFT_CA_FILE", str(tmp_path / "mangler-ca.pem"))
    _handled(world)
    routine_contact(world)
    assert tasks.send_due() == 2  # neither stops the sweep
    for row in Delivery.objects.all():
        assert (row.state, row.tries, row.claim) == (DeliveryState.FAILED, 1, None)
        assert row.last_error.startswith("Uventet feil under sendingen (OSError); se arbeiderens logg. Prøver igjen")
    assert any(r.exc_info and r.exc_info[0] is OSError for r in caplog.records), "logged with its traceback"
    Delivery.objects.update(tries=29, next_try_at=timezone.now())
    assert tasks.send_due() == 2
    for row in Delivery.objects.all():
        assert row.state == DeliveryState.DEAD and row.tries == 30
        assert row.last_error.startswith("Ga opp etter 30 forsøk. Uventet feil under sendingen (OSError)")
        assert not jft.events(_identifier(row))


def test_an_unexpected_error_in_the_status_look_is_recorded_on_the_row(world, route, jft, monkeypatch, tmp_path):
    jft.config(epj=False)
    row = services.delivery_send(Delivery.objects.get(journal_note=_handled(world)))
    assert row.state == DeliveryState.SENT
    monkeypatch.setenv("DHO_JFT_CA_FILE", str(tmp_path / "mangler-ca.pem"))
    assert tasks.poll_sent() == 1
    row.refresh_from_db()
    assert row.state == DeliveryState.SENT and row.polled_at is not None
    assert (
        row.last_error == "Status kunne ikke hentes. Uventet feil under statusoppslaget (OSError); se arbeiderens logg."
    )


def test_one_rows_error_in_the_sweep_leaves_the_others_sent(world, route, jft, monkeypatch):
    note_row = Delivery.objects.get(journal_note=_handled(world))
    contact_row = Delivery.objects.get(contact=routine_contact(world))
    apply_send = services._apply_send

    def broken_for_the_note(row, *args):
        if row.pk == note_row.pk:
            raise RuntimeError("en feil i koden")
        apply_send(row, *args)

    monkeypatch.setattr(services, "_apply_send", broken_for_the_note)
    assert tasks.send_due() == 1
    assert Delivery.objects.get(pk=contact_row.pk).state == DeliveryState.SENT
    left = Delivery.objects.get(pk=note_row.pk)
    assert left.state == DeliveryState.PENDING and left.claim is not None  # the sweep's again after the lease


# --- concurrency and the sweep --------------------------------------------------------------------


def test_a_claimed_row_is_not_sent_by_a_second_worker(world, route, jft):
    _handled(world)
    [claimed] = services.deliveries_due()
    assert claimed.claim is not None
    assert services.deliveries_due() == []  # claimed: the other worker gets nothing
    assert services.delivery_send(claimed.pk) is None  # and cannot send it without the claim
    assert services.delivery_send(claimed, claim=claimed.claim).state == DeliveryState.SENT
    assert len(jft.events(_identifier(claimed))) == 1


def test_a_row_left_claimed_by_a_killed_worker_is_picked_up_by_the_sweep(world, route, jft):
    _handled(world)
    delivery = Delivery.objects.get()
    # A worker claimed it and died before it answered (its claim is older than the lease).
    stale = timezone.now() - services.CLAIM_LEASE - datetime.timedelta(seconds=1)
    Delivery.objects.filter(pk=delivery.pk).update(claim=uuid.uuid4(), claimed_at=stale, tries=1)
    assert tasks.send_due() == 1
    row = Delivery.objects.get(pk=delivery.pk)
    assert row.state == DeliveryState.SENT and row.tries == 2
    _journaled(row)


def test_a_fresh_claim_is_left_alone_by_the_sweep(world, route, jft):
    _handled(world)
    Delivery.objects.update(claim=uuid.uuid4(), claimed_at=timezone.now())
    assert tasks.send_due() == 0
    assert Delivery.objects.get().state == DeliveryState.PENDING


def test_a_sweep_run_takes_no_new_row_after_its_time_and_the_next_run_goes_on(world, route, jft):
    """The sweeps share the worker pool with scoring: a run stops taking rows after its time (what it
    had claimed and not sent is due again at once, not after the lease), and the next run goes on."""
    _handled(world)
    routine_contact(world)
    assert services.deliveries_send_due(budget=0) == 1
    left = Delivery.objects.exclude(state=DeliveryState.SENT).get()
    assert (left.state, left.tries, left.claim, left.claimed_at) == (DeliveryState.PENDING, 0, None, None)
    assert tasks.send_due() == 1
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.SENT}

    assert services.deliveries_poll_due(budget=0) == 1
    assert Delivery.objects.filter(polled_at__isnull=True).count() == 1
    assert tasks.poll_sent() == 1 and not Delivery.objects.filter(polled_at__isnull=True).exists()


def test_a_sweep_run_started_beside_one_still_going_returns_at_once(world, route, jft, monkeypatch):
    """Beat starts a sweep every 30 s (polls every 45 s) whether the last run is done or not: a run
    that finds one going leaves the worker process to others (scoring) at once."""
    from journaling import transport

    beside = []
    post, status = transport.document_post, transport.status_get

    def post_with_a_second_run(route, data):
        beside.append(services.deliveries_send_due())
        return post(route, data)

    def status_with_a_second_run(route, url):
        beside.append(services.deliveries_poll_due())
        return status(route, url)

    monkeypatch.setattr(transport, "document_post", post_with_a_second_run)
    monkeypatch.setattr(transport, "status_get", status_with_a_second_run)
    jft.config(epj=False)
    _handled(world)
    routine_contact(world)
    assert services.deliveries_send_due(limit=1) == 1 and beside == [0]
    assert Delivery.objects.filter(state=DeliveryState.PENDING, claim__isnull=True).count() == 1
    assert tasks.send_due() == 1 and beside == [0, 0]  # the first run's guard is gone with it
    assert services.deliveries_poll_due(limit=1) == 1 and beside == [0, 0, 0]
    assert tasks.poll_sent() == 1 and beside == [0, 0, 0, 0]


# --- which steps write a row ----------------------------------------------------------------------


class Boom(Exception):
    pass


def test_the_row_is_written_in_the_handling_transaction(world, route, jft):
    alert = _alert(world)
    with pytest.raises(Boom), transaction.atomic():
        triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_reached"], note=NOTE)
        assert Delivery.objects.count() == 1
        raise Boom
    assert not Delivery.objects.exists() and not JournalNote.objects.exists()


def test_not_reached_writes_no_row(world, route, jft):
    alert = _alert(world)
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_not_reached"])
    triage.contact_record(patient=world.p.gjerdrum, user=world.u.nurse, kind="routine",
                          actions=["called_not_reached"])  # fmt: skip
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("kind", [None, RouteKind.NONE])
def test_a_kommune_without_a_route_to_its_epj_gets_no_row(world, jft, kind):
    if kind is not None:
        Route.objects.create(municipality=world.m.gjerdrum, kind=kind)
    _handled(world)
    triage.contact_record(patient=world.p.gjerdrum, user=world.u.nurse, kind="routine", actions=["called_reached"])
    assert not Delivery.objects.exists()
    assert JournalNote.objects.exists()  # «Kopier til journal» as before


def test_a_routine_contact_and_an_evaluation_are_delivered_too(world, route, jft):
    contact = triage.contact_record(patient=world.p.gjerdrum, user=world.u.nurse, kind="routine",
                                    actions=["called_reached"], note="Alt vel.")  # fmt: skip
    evaluation = patients.evaluation_record(patient=world.p.gjerdrum, user=world.u.nurse, outcome="continue",
                                          next_date=timezone.localdate() + datetime.timedelta(days=30))  # fmt: skip
    routine_row = Delivery.objects.get(contact=contact)
    evaluation_row = Delivery.objects.get(contact=evaluation.contact)
    assert tasks.send_due() == 2
    for row, title in ((routine_row, "rutinekontakt"), (evaluation_row, "evaluering")):
        row = _journaled(row)
        document = json.loads(bytes(row.sent_document))
        assert document["entry"][0]["resource"]["title"] == f"Digital hjemmeoppfølging – {title}"
        assert jft.events(_identifier(row))[0]["status"] == "journaled"


def test_a_vkp_route_posts_to_the_kommunes_fhir_endpoint(world, route, jft):
    Route.objects.filter(pk=route.pk).update(kind=RouteKind.VKP)
    _handled(world)
    row = services.delivery_send(Delivery.objects.get())
    assert row.transport == RouteKind.VKP and row.state == DeliveryState.REGISTERED and row.last_http_status == 201
    [event] = jft.events(_identifier(row))
    assert (event["channel"], event["orgnr"]) == ("vkp", ORGNR)
    assert services.delivery_poll(row) is None  # a stored VKP create has no receipt to follow


def test_a_row_written_for_jft_goes_as_vkp_once_the_route_is_switched_and_its_201_is_success(world, route, jft,
                                                                                             caplog):  # fmt: skip
    """The answers are read as the receiver's the row is posted to (the route's kind now), not the
    one it was written for: VKP's 201 is stored, not a JFT answer that is not 202."""
    caplog.set_level(logging.INFO, logger="journaling.services")
    delivery = Delivery.objects.get(journal_note=_handled(world))
    assert delivery.transport == RouteKind.JFT
    Route.objects.filter(pk=route.pk).update(kind=RouteKind.VKP)
    row = services.delivery_send(delivery)
    assert (row.transport, row.state, row.last_http_status, row.last_error) == (
        RouteKind.VKP, DeliveryState.REGISTERED, 201, "")  # fmt: skip
    assert Delivery.objects.get(pk=delivery.pk).transport == RouteKind.VKP
    assert f"Journalsending {row.pk}: ruten er endret fra jft til vkp; sendes til VKP" in caplog.text
    [event] = jft.events(_identifier(row))
    assert event["channel"] == "vkp"


# --- not journaled in time ------------------------------------------------------------------------


def test_what_is_not_journaled_in_time_is_flagged_for_the_centre(world, route, jft, settings):
    jft.config(epj=False)  # the kommune's EPJ does not fetch
    _handled(world)
    delivery = Delivery.objects.get()
    services.delivery_send(delivery)
    assert tasks.overdue_check() == 0
    Delivery.objects.update(created_at=timezone.now() - datetime.timedelta(hours=25))
    assert tasks.overdue_check() == 1
    assert tasks.overdue_check() == 0  # flagged once
    row = Delivery.objects.get()
    assert row.overdue_at is not None and row.state == DeliveryState.SENT
    assert list(deliveries_needing_attention([world.m.gjerdrum.pk])) == [row]
    settings.DHO_JOURNALING_OVERDUE_HOURS = 48
    Delivery.objects.update(overdue_at=None)
    assert tasks.overdue_check() == 0


# --- a real worker --------------------------------------------------------------------------------


def test_a_real_worker_sends_what_the_handling_committed(world, route, jft, celery_worker):
    """The nurse's commit queues `journaling.send_delivery` by name; a Celery worker process (the app's
    database role, its own system scopes) sends it; the poll follows it to journaled."""
    alert = _alert(world)
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_reached"], note=NOTE)  # commits
    delivery = Delivery.objects.get()
    assert _until(lambda: Delivery.objects.get(pk=delivery.pk).state != DeliveryState.PENDING, seconds=30)
    row = Delivery.objects.get(pk=delivery.pk)
    assert row.state == DeliveryState.SENT and row.tries == 1, row.last_error
    _journaled(row)
    assert len(jft.events(_identifier(row))) == 1


def test_a_sent_delivery_is_looked_at_again_within_seconds_until_journaled(world, route, jft, monkeypatch):
    """After the send, quick looks at the receipt at 2, 3, 5, 10 and 20 s intervals (so a quick EPJ's
    «Journalført» shows within seconds), none after the last or once journaled: the beat's poll
    sweep follows the row after that."""
    from types import SimpleNamespace

    queued = []
    monkeypatch.setattr(services, "current_app", SimpleNamespace(
        send_task=lambda name, args, countdown, retry: queued.append((name, args, countdown))))  # fmt: skip
    jft.config(epj=False)  # the EPJ has not read it yet: the row stays registered
    delivery = Delivery.objects.get(journal_note=_handled(world))
    assert tasks.send_delivery(delivery.pk) == DeliveryState.SENT
    assert services.quick_polls() == (2, 3, 5, 10, 20), "the default of DHO_JOURNAL_QUICK_POLLS"
    for step in range(1, len(services.quick_polls()) + 1):
        assert queued[-1] == ("journaling.poll_delivery", [delivery.pk, step], services.quick_polls()[step - 1])
        assert tasks.poll_delivery(delivery.pk, step) == DeliveryState.REGISTERED
    assert len(queued) == len(services.quick_polls()) == 5, "none after the last look"

    jft.config(epj=True, ack_delay=0)
    queued.clear()
    assert _until(lambda: tasks.poll_delivery(delivery.pk, 1) == DeliveryState.JOURNALED)
    assert queued[:-1] == [("journaling.poll_delivery", [delivery.pk, 2], 3)] * (len(queued) - 1)
    assert tasks.poll_delivery(delivery.pk, 1) == "" and len(queued) <= 1, "nothing once journaled"


def test_the_quick_looks_follow_the_setting(world, route, jft, monkeypatch, settings):
    """DHO_JOURNAL_QUICK_POLLS sets the waits between the looks; with none, the send queues no look
    and the beat's sweep alone follows the row."""
    from types import SimpleNamespace

    queued = []
    monkeypatch.setattr(services, "current_app", SimpleNamespace(
        send_task=lambda name, args, countdown, retry: queued.append((args[1], countdown))))  # fmt: skip
    jft.config(epj=False)
    settings.DHO_JOURNAL_QUICK_POLLS = (1.5, 7.0)
    delivery = Delivery.objects.get(journal_note=_handled(world))
    assert tasks.send_delivery(delivery.pk) == DeliveryState.SENT
    for step in (1, 2):
        tasks.poll_delivery(delivery.pk, step)
    assert queued == [(1, 1.5), (2, 7.0)], "a look after each wait, none after the last"

    queued.clear()
    settings.DHO_JOURNAL_QUICK_POLLS = ()
    other = Delivery.objects.get(journal_note=_handled(world))
    assert tasks.send_delivery(other.pk) == DeliveryState.SENT and queued == []


def test_a_row_the_sweep_sends_gets_the_quick_looks_too(world, route, jft, monkeypatch):
    """Not only the first send's task: a row sent by the sweep (its task lost, or a retry) is looked
    at again within seconds, not left to the poll sweep."""
    from types import SimpleNamespace

    queued = []
    monkeypatch.setattr(services, "current_app", SimpleNamespace(
        send_task=lambda name, args, countdown=None, retry=True: queued.append((name, args, countdown))))  # fmt: skip
    jft.config(epj=False)
    delivery = Delivery.objects.get(journal_note=_handled(world))
    assert tasks.send_due() == 1
    assert queued == [("journaling.poll_delivery", [delivery.pk, 1], services.quick_polls()[0])]


def test_the_poll_sweep_looks_first_at_the_rows_never_looked_at(world):
    """PostgreSQL sorts NULLs last: with a batch's worth of rows polled once, a row never polled
    would wait behind them for ever."""
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    for n in range(3):
        bare_delivery(world, world.p.gjerdrum, "sent", status_url=f"https://jft.invalid/v1/Bundle/{n}/$status",
                      polled_at=long_ago + datetime.timedelta(minutes=n))  # fmt: skip
    never = bare_delivery(world, world.p.gjerdrum, "sent", status_url="https://jft.invalid/v1/Bundle/x/$status")
    assert services.deliveries_to_poll(limit=1) == [never.pk]
    assert services.deliveries_to_poll()[0] == never.pk and len(services.deliveries_to_poll()) == 4


@pytest.mark.parametrize(("value", "waits"), [
    (None, (2, 3, 5, 10, 20)), ("", (2, 3, 5, 10, 20)), ("1, 2.5,30", (1, 2.5, 30)), ("none", ()), ("0", ()),
])  # fmt: skip
def test_the_quick_looks_setting_is_read_from_the_environment(monkeypatch, value, waits):
    from dho.settings import env_seconds

    if value is None:
        monkeypatch.delenv("DHO_JOURNAL_QUICK_POLLS", raising=False)
    else:
        monkeypatch.setenv("DHO_JOURNAL_QUICK_POLLS", value)
    assert env_seconds("DHO_JOURNAL_QUICK_POLLS", "2,3,5,10,20") == waits


def test_a_malformed_quick_looks_setting_stops_the_start():
    import os
    import subprocess
    import sys

    env = {**os.environ, "DHO_JOURNAL_QUICK_POLLS": "2,fem,10", "DHO_TESTING": "1"}
    command = [sys.executable, "-c",
               "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='dho.settings'; django.setup()"]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DHO_JOURNAL_QUICK_POLLS: «fem» er ikke et antall sekunder" in result.stderr


def test_a_real_worker_shows_journaled_within_seconds_without_the_poll_sweep(world, route, jft, celery_worker):
    """The demo's way: the nurse's commit queues the send, the worker sends and looks at the receipt
    again by itself; with no beat running, the EPJ's acknowledgement (1 s here) shows within seconds."""
    jft.config(ack_delay=1.0, epj=True)
    alert = _alert(world)
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_reached"], note=NOTE)  # commits
    delivery = Delivery.objects.get()
    # The worker's own start (seconds on a busy machine) is not what is timed: from the send on.
    assert _until(lambda: Delivery.objects.get(pk=delivery.pk).state == DeliveryState.JOURNALED, seconds=40), (
        Delivery.objects.get(pk=delivery.pk).state
    )
    row = Delivery.objects.get(pk=delivery.pk)
    assert (row.journaled_at - row.sent_at).total_seconds() < 8, "the first looks come at 2 and 5 s"


def test_moving_a_routes_address_moves_only_the_receipts_on_their_way_under_the_old_one(world):
    """status_urls_move (the demo's restarted stand-in): a sent, registered or read delivery of the
    kommune whose status URL is under the old address gets the new one, the same path; a journaled
    one, another address (also one the old is a prefix of), another kommune's are left."""
    from tests.journaling.conftest import bare_delivery

    old, new = "https://127.0.0.1:4000", "https://127.0.0.1:5000"
    urls = {
        "sent": (world.p.gjerdrum, "sent", f"{old}/v1/Bundle/a/$status"),
        "read": (world.p.gjerdrum, "read", f"{old}/v1/Bundle/b/$status"),
        "journaled": (world.p.gjerdrum, "journaled", f"{old}/v1/Bundle/c/$status"),
        "longer port": (world.p.gjerdrum, "sent", f"{old}1/v1/Bundle/d/$status"),
        "elsewhere": (world.p.gjerdrum, "sent", "https://jft.example/v1/Bundle/e/$status"),
        "nannestad": (world.p.nannestad, "sent", f"{old}/v1/Bundle/f/$status"),
    }
    rows = {key: bare_delivery(world, patient, state, status_url=url) for key, (patient, state, url) in urls.items()}
    moved = services.status_urls_move(municipality_id=world.m.gjerdrum.pk, old_base=f"{old}/", new_base=new)
    assert moved == 2
    after = {key: Delivery.objects.get(pk=row.pk).status_url for key, row in rows.items()}
    assert after == {key: url for key, (_p, _s, url) in urls.items()} | {
        "sent": f"{new}/v1/Bundle/a/$status",
        "read": f"{new}/v1/Bundle/b/$status",
    }
