"""Handling an alert as the nurse saw it: the handle page and the API carry the colour the alert had
when it was opened (`seen_colour`), and a red raised meanwhile is not closed on the yellow EBP advice
(triage.services.alert_handle refuses it after the row lock: the page is shown again as it is now,
with what the nurse entered; the API answers 409). A new finding of the same colour is no change."""

import datetime
import re

import pytest
from django.utils import timezone

from measurements.services import integration_create, readings_ingest
from triage import services as triage
from triage.models import Alert, Contact, JournalNote

CHANGED = "Varselet er endret siden du åpnet det (nå rødt): se over og følg opp på nytt."


@pytest.fixture
def spo2(world):
    """A SpO2 reading of Jens Nannestad's (the centre's defaults: yellow under 92, red under 88), scored
    as the pipeline scores it: it opens or raises his alert through triage's services."""
    gateway = integration_create(centre=world.centres.ovre, name="gw")[0]

    def measure(ext, value, minutes_ago=1) -> Alert:
        at = (timezone.localtime() - datetime.timedelta(minutes=minutes_ago)).isoformat()
        item = {"external_id": ext, "patient_id": str(world.p.nannestad.pk), "type": "spo2", "value": value,
                "unit": "%", "measured_at": at}  # fmt: skip
        triage.readings_score([readings_ingest(integration=gateway, items=[item])[0].id])
        return Alert.objects.get(patient=world.p.nannestad, status="open")

    return measure


def _seen_colour(html: str) -> str:
    """The colour the page's form sends back, as the browser would."""
    return re.search(r'<input type="hidden" name="seen_colour" value="(\w+)">', html)[1]


def _page(client, alert):
    response = client.get(f"/worklist/alerts/{alert.pk}/handle/")
    assert response.status_code == 200
    return response.content.decode()


def test_it_refuses_to_close_an_alert_raised_to_red_while_its_page_was_open_and_shows_it_again(world, login, spo2):
    alert = spo2("a", 90, minutes_ago=10)
    nurse = login(world.u.nurse)
    opened = _page(nurse, alert)
    assert alert.colour == "yellow" and "Egenbehandlingsplanen ved gul" in opened
    assert spo2("b", 84).colour == "red"  # raised while the page was open (alerts._alerts_raise)

    path = f"/worklist/alerts/{alert.pk}/handle/"
    body = {"actions": ["advised_ebp"], "note": "Rådet om pusteteknikk.", "seen_colour": _seen_colour(opened)}
    refused = nurse.post(path, body)

    assert refused.status_code == 400
    html = refused.content.decode()
    assert CHANGED in html
    assert "Egenbehandlingsplanen ved rød" in html and "84" in html  # the page as it is now
    assert "Rådet om pusteteknikk." in html  # the note and the tick kept, nothing lost
    assert re.search(r'<input type="checkbox" name="actions" value="advised_ebp"[^>]*checked', html)
    assert _seen_colour(html) == "red"  # sent again, the next step is taken as seen now
    alert.refresh_from_db()
    assert alert.status == "open" and alert.handled_by is None
    assert not Contact.objects.filter(alert=alert).exists() and not JournalNote.objects.exists()

    again = nurse.post(path, {**body, "seen_colour": _seen_colour(html)})
    assert again.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.handled_by) == ("closed", world.u.nurse)
    assert JournalNote.objects.get(alert=alert).document["detected_issue"]["severity"] == "high"


def test_a_new_finding_of_the_same_colour_does_not_refuse_the_handling(world, login, spo2):
    alert = spo2("a", 90, minutes_ago=10)
    nurse = login(world.u.nurse)
    opened = _page(nurse, alert)
    assert spo2("b", 91).colour == "yellow"  # measured again during the call: still yellow
    response = nurse.post(
        f"/worklist/alerts/{alert.pk}/handle/",
        {"actions": ["called_reached", "advised_ebp"], "seen_colour": _seen_colour(opened)},
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "closed" and JournalNote.objects.filter(alert=alert).exists()


def test_an_unchanged_alert_is_handled_from_its_page_as_before(world, login, spo2):
    alert = spo2("a", 85)
    nurse = login(world.u.nurse)
    opened = _page(nurse, alert)
    assert _seen_colour(opened) == "red"
    response = nurse.post(
        f"/worklist/alerts/{alert.pk}/handle/", {"actions": ["called_reached"], "seen_colour": _seen_colour(opened)}
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.closed_reason) == ("closed", "Håndtert")


def test_a_handling_posted_without_the_colour_seen_is_not_the_pages_and_is_refused(world, login, spo2):
    alert = spo2("a", 90)
    response = login(world.u.nurse).post(f"/worklist/alerts/{alert.pk}/handle/", {"actions": ["advised_ebp"]})
    assert response.status_code == 400
    assert "Siden mangler varselets farge. Last siden på nytt og følg opp derfra." in response.content.decode()
    alert.refresh_from_db()
    assert alert.status == "open"


# --- the API ------------------------------------------------------------------------------------------


def test_the_api_answers_409_when_the_colour_seen_is_stale_and_stores_nothing(world, api, spo2):
    alert = spo2("a", 90, minutes_ago=10)
    spo2("b", 84)  # raised to red after the client read it yellow
    response = api(world.u.nurse).post(
        f"/api/v1/alerts/{alert.pk}/handle/", {"actions": ["advised_ebp"], "seen_colour": "yellow"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {"detail": CHANGED}
    alert.refresh_from_db()
    assert alert.status == "open" and not Contact.objects.filter(alert=alert).exists()


@pytest.mark.parametrize("body", [{"seen_colour": "red"}, {}], ids=["fresh", "not sent"])
def test_the_api_handles_a_fresh_colour_seen_and_one_not_sent_as_before(world, api, spo2, body):
    alert = spo2("a", 90, minutes_ago=10)
    spo2("b", 84)
    response = api(world.u.nurse).post(
        f"/api/v1/alerts/{alert.pk}/handle/", {"actions": ["called_reached"], **body}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["alert"]["status"] == "closed"


def test_the_schema_documents_the_colour_seen_and_the_409(world, api):
    schema = api(world.u.nurse).get("/api/schema/?format=json").json()
    handle = schema["paths"]["/api/v1/alerts/{alert_id}/handle/"]["post"]
    assert "409" in handle["responses"]
    ref = handle["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "seen_colour" in body["properties"] and "seen_colour" not in body.get("required", [])
