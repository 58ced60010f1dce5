"""The API of the journal outbox and of the nurse's steps on an alert: a patient's deliveries, one
delivery with the Bundle exactly as sent, the centre admin's resend (scoped and audited); taking and
handling an alert with the handle page's rules and answers (400 naming what was wrong, 403 for who is
not the patient's nurse, 404 outside the scope), the action codes an enum in the schema."""

import datetime
import hashlib
import json
import uuid

import pytest
from django.utils import timezone

from journaling.models import Delivery
from journaling.validation import document_checked
from tenants.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory
from tests.journaling.conftest import bare_delivery, delivery_in, handled_note, open_alert
from triage.models import Alert, AlertStatus, ContactAction, JournalNote

FIELDS = {"id", "state", "bundle_id", "source", "created_at", "sent_at", "journaled_at", "tries", "next_try_at",
          "error"}  # fmt: skip


# --- the outbox ---------------------------------------------------------------------------------------


def _sent(world) -> Delivery:
    """A handled alert's delivery, sent: its document built and kept as the worker keeps it."""
    from journaling.document import alert_document

    note = handled_note(world)
    delivery = Delivery.objects.get(journal_note=note)
    data = document_checked(alert_document(note))
    return delivery_in(delivery, "journaled", sent_document=data, tries=1)


def test_a_patients_deliveries_are_listed_with_their_state_audited(world, api, gjerdrum_route):
    delivery = _sent(world)
    failed = bare_delivery(world, world.p.gjerdrum, "failed", last_error="Tidsavbrudd.")
    bare_delivery(world, world.p.nannestad, "dead")  # another patient's
    response = api(world.u.nurse).get(f"/api/v1/patients/{world.p.gjerdrum.pk}/journal-deliveries/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["id"] for r in rows] == [failed.pk, delivery.pk]  # newest first
    assert set(rows[0]) == FIELDS
    assert rows[1]["state"] == "journaled" and rows[1]["bundle_id"] == str(delivery.bundle_id)
    assert rows[1]["journaled_at"] and rows[1]["source"] == "journal_note"
    assert rows[0]["error"] == "Tidsavbrudd." and rows[0]["source"] == "contact"
    assert AuditEvent.objects.filter(object_type="journal_deliveries", user=world.u.nurse,
                                     patient_id=world.p.gjerdrum.pk).exists()  # fmt: skip


def test_a_patient_outside_the_scope_is_404(world, api):
    assert (
        api(world.u.nurse_agder).get(f"/api/v1/patients/{world.p.gjerdrum.pk}/journal-deliveries/").status_code == 404
    )


def test_one_delivery_carries_the_bundle_exactly_as_sent(world, api, gjerdrum_route):
    delivery = _sent(world)
    response = api(world.u.nurse).get(f"/api/v1/journal-deliveries/{delivery.pk}/")
    assert response.status_code == 200
    body = response.json()
    kept = bytes(delivery.sent_document)
    assert body["document"] == json.loads(kept)
    assert body["document_sha256"] == hashlib.sha256(kept).hexdigest()
    # The kept bytes are the document's canonical form: the answer's object serialises back to them.
    assert json.dumps(body["document"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == kept
    assert body["document"]["identifier"]["value"] == f"urn:uuid:{delivery.bundle_id}"
    assert set(body) == FIELDS | {"outcome", "document", "document_sha256"}
    assert AuditEvent.objects.filter(object_type="journal_delivery", object_id=str(delivery.pk), action="view",
                                     user=world.u.nurse).exists()  # fmt: skip


def test_the_centre_admin_reads_the_state_and_outcome_but_not_the_document(world, api, gjerdrum_route):
    delivery = _sent(world)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid",
                                                              "diagnostics": "Feil"}]}  # fmt: skip
    Delivery.objects.filter(pk=delivery.pk).update(state="dead", outcome=outcome)
    body = api(world.u.admin).get(f"/api/v1/journal-deliveries/{delivery.pk}/").json()
    assert body["state"] == "dead" and body["outcome"] == outcome
    assert body["document"] is None and body["document_sha256"] is None
    event = AuditEvent.objects.get(object_type="journal_delivery", object_id=str(delivery.pk), user=world.u.admin)
    assert (event.patient_id, event.role) == (world.p.gjerdrum.pk, "admin")


@pytest.mark.parametrize("who", ["nurse_agder", "finance", "specialist"])
def test_a_delivery_neither_by_patient_nor_kommune_is_404(world, api, who):
    delivery = bare_delivery(world, world.p.gjerdrum, "dead")
    client = api(getattr(world.u, who))
    assert client.get(f"/api/v1/journal-deliveries/{delivery.pk}/").status_code == 404
    assert client.post(f"/api/v1/journal-deliveries/{delivery.pk}/resend/").status_code == 404
    assert api(world.u.nurse).get("/api/v1/journal-deliveries/999999/").status_code == 404


def test_resend_is_the_centre_admins_audited(world, api):
    dead = bare_delivery(world, world.p.gjerdrum, "dead", tries=30, last_error="Ga opp.")
    assert api(world.u.nurse).post(f"/api/v1/journal-deliveries/{dead.pk}/resend/").status_code == 403
    assert api(world.u.coordinator).post(f"/api/v1/journal-deliveries/{dead.pk}/resend/").status_code == 403
    response = api(world.u.admin).post(f"/api/v1/journal-deliveries/{dead.pk}/resend/")
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["tries"], response.json()["error"]) == ("pending", 0, "")
    assert AuditEvent.objects.filter(object_type="journal_delivery", object_id=str(dead.pk), action="update",
                                     user=world.u.admin).exists()  # fmt: skip
    # Pending now: another resend is refused, saying why.
    again = api(world.u.admin).post(f"/api/v1/journal-deliveries/{dead.pk}/resend/")
    assert again.status_code == 400 and "Bare stoppede eller feilede" in again.json()["detail"]


def test_resend_while_a_retry_is_being_sent_is_a_400_saying_so(world, api):
    failed = bare_delivery(world, world.p.gjerdrum, "failed", tries=2, claim=uuid.uuid4(), claimed_at=timezone.now())
    response = api(world.u.admin).post(f"/api/v1/journal-deliveries/{failed.pk}/resend/")
    assert response.status_code == 400
    assert response.json()["detail"] == "Forsendelsen sendes akkurat nå; prøv igjen om litt."
    assert Delivery.objects.get(pk=failed.pk).state == "failed"


# --- taking and handling an alert ---------------------------------------------------------------------


def test_take_gives_the_alert_to_the_nurse_and_a_second_nurse_is_told_who(world, api):
    alert = open_alert(world.p.gjerdrum)
    response = api(world.u.nurse).post(f"/api/v1/alerts/{alert.pk}/take/")
    assert response.status_code == 200
    assert response.json()["taken_by"] == world.u.nurse.username and response.json()["status"] == "open"
    other = UserFactory(username="nurse2", first_name="Nina", last_name="Nilsen")
    MembershipFactory(user=other, role="nurse", centre=world.centres.ovre)
    refused = api(other).post(f"/api/v1/alerts/{alert.pk}/take/")
    assert refused.status_code == 400 and "har allerede tatt dette varselet" in refused.json()["detail"]


def test_take_and_handle_are_403_for_who_is_not_the_patients_nurse_and_404_outside_scope(world, api):
    alert = open_alert(world.p.gjerdrum)
    body = {"actions": ["called_reached"], "note": "x"}
    for who in ("coordinator", "gp"):  # they see the patient
        assert api(getattr(world.u, who)).post(f"/api/v1/alerts/{alert.pk}/take/").status_code == 403
        assert (
            api(getattr(world.u, who)).post(f"/api/v1/alerts/{alert.pk}/handle/", body, format="json").status_code
            == 403
        )
    for who in ("nurse_agder", "finance"):
        assert api(getattr(world.u, who)).post(f"/api/v1/alerts/{alert.pk}/take/").status_code == 404
        assert (
            api(getattr(world.u, who)).post(f"/api/v1/alerts/{alert.pk}/handle/", body, format="json").status_code
            == 404
        )
    alert.refresh_from_db()
    assert alert.status == "open" and alert.taken_by is None


def test_handle_closes_the_alert_writes_the_note_and_its_delivery(world, api, gjerdrum_route):
    alert = open_alert(world.p.gjerdrum)
    response = api(world.u.nurse).post(f"/api/v1/alerts/{alert.pk}/handle/",
                                       {"actions": ["called_reached", "advised_ebp"], "note": "Reservekur."},
                                       format="json")  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    note = JournalNote.objects.get(alert=alert)
    assert body["reached"] is True and body["journal_note_id"] == note.pk
    assert body["alert"]["status"] == AlertStatus.CLOSED
    assert Delivery.objects.get(journal_note=note).state == "pending"


def test_handle_not_reached_keeps_the_alert_open_with_the_retry(world, api, gjerdrum_route):
    alert = open_alert(world.p.gjerdrum)
    retry = timezone.now() + datetime.timedelta(hours=2)
    response = api(world.u.nurse).post(f"/api/v1/alerts/{alert.pk}/handle/",
                                       {"actions": ["called_not_reached"], "retry_at": retry.isoformat()},
                                       format="json")  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["reached"] is False and body["journal_note_id"] is None
    assert body["alert"]["status"] == "open" and body["alert"]["taken_by"] == world.u.nurse.username
    alert.refresh_from_db()
    assert abs((alert.retry_at - retry).total_seconds()) < 1
    assert not Delivery.objects.exists()  # «ikke nådd» is not journaled


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"actions": ["ringte"]}, "actions", "«ringte» er ikke et tiltak"),
        ({"actions": []}, "actions", "Velg minst ett tiltak."),
        ({"actions": ["called_reached", "called_not_reached"]}, "actions", "ikke begge"),
        (
            {"actions": ["called_reached"], "retry_at": "2099-01-01T10:00:00+01:00"},
            "retry_at",
            "bare når pasienten ikke ble nådd",
        ),
        ({"actions": ["called_not_reached"], "retry_at": "2001-01-01T10:00:00+01:00"}, "retry_at", "allerede vært"),
        ({"note": "x"}, "actions", ""),
    ],
)
def test_a_wrong_handling_is_400_naming_what_was_wrong(world, api, body, field, says):
    alert = open_alert(world.p.gjerdrum)
    response = api(world.u.nurse).post(f"/api/v1/alerts/{alert.pk}/handle/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json() and says in json.dumps(response.json(), ensure_ascii=False)
    alert.refresh_from_db()
    assert alert.status == "open" and not alert.contacts.exists()


def test_a_handled_alert_cannot_be_handled_again(world, api):
    alert = open_alert(world.p.gjerdrum)
    client = api(world.u.nurse)
    assert (
        client.post(f"/api/v1/alerts/{alert.pk}/handle/", {"actions": ["no_action"]}, format="json").status_code == 201
    )
    again = client.post(f"/api/v1/alerts/{alert.pk}/handle/", {"actions": ["no_action"]}, format="json")
    assert again.status_code == 400 and again.json()["detail"] == "Varselet er allerede håndtert."
    assert Alert.objects.get(pk=alert.pk).contacts.count() == 1


def test_the_schema_lists_the_action_codes_and_the_new_endpoints(world, api):
    schema = api(world.u.nurse).get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["ContactActionEnum"]["enum"] == list(ContactAction.values)
    for path in ("/api/v1/alerts/{alert_id}/take/", "/api/v1/alerts/{alert_id}/handle/",
                 "/api/v1/patients/{patient_id}/journal-deliveries/", "/api/v1/journal-deliveries/{delivery_id}/",
                 "/api/v1/journal-deliveries/{delivery_id}/resend/"):  # fmt: skip
        assert path in schema["paths"], path
