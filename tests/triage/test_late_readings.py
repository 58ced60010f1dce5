"""A weight that arrives after weights measured later than it (an offline device, a second device) is
judged against them too: the gain is found whichever of the two readings arrives first, and alerted once."""

import datetime

import pytest
from django.utils import timezone

from ebp import services as ebp
from measurements.models import Reading
from measurements.services import integration_create, readings_ingest
from tenants.norwegian import day_text
from triage import services as triage
from triage.models import Alert, AlertEvent

PLAN = {"trend_rules": [{"kind": "weight_gain", "kg": 2, "days": 3, "colour": "red"}]}


@pytest.fixture
def patient(world):
    patient = world.p.gjerdrum
    draft = ebp.draft_start(patient=patient, user=world.u.nurse, content=PLAN)
    ebp.draft_submit(version=draft, user=world.u.nurse)
    ebp.version_approve(version=draft, user=world.u.gp)
    return patient


@pytest.fixture
def send(world, patient):
    """Ingest and score weights (external id, kg, days ago) as one gateway request and one task."""
    gateway = integration_create(centre=world.centres.ovre, name="gw")[0]
    now = timezone.localtime().replace(microsecond=0)

    def send(*weights):
        items = [
            {
                "external_id": ext,
                "patient_id": str(patient.pk),
                "type": "weight",
                "value": kg,
                "unit": "kg",
                "measured_at": (now - datetime.timedelta(days=days_ago)).isoformat(),
            }
            for ext, kg, days_ago in weights
        ]
        stored = readings_ingest(integration=gateway, items=items)
        triage.readings_score([r.id for r in stored])
        return [Reading.objects.get(pk=r.id) for r in stored]

    return send


def test_it_finds_the_gain_when_the_earlier_weight_arrives_last(patient, send):
    (wednesday,) = send(("wed", 82.5, 1))
    assert wednesday.colour == "green"
    assert not Alert.objects.exists()

    (monday,) = send(("mon", 80.0, 3))  # measured two days before, sent after
    alert = Alert.objects.get(patient=patient)
    assert (alert.colour, alert.kind) == ("red", "out_of_range")
    expected = (
        f"Vekt 80 kg {day_text(monday.measured_at)} til 82,5 kg {day_text(wednesday.measured_at)} – "
        "økning 2,5 kg på 3 dager (rød ved 2 kg)"
    )
    assert alert.reason == expected
    assert (monday.colour, monday.reason) == ("red", expected)
    # Both readings the gain rests on are the alert's, and its history names the one that found it.
    assert set(Reading.objects.filter(alert_id=alert.pk).values_list("id", flat=True)) == {monday.id, wednesday.id}
    assert list(AlertEvent.objects.filter(alert=alert).values_list("kind", "reading_id")) == [("opened", monday.id)]
    assert Reading.objects.get(pk=wednesday.id).colour == "green", "the later reading keeps its own score"


def test_the_same_weights_in_one_batch_alert_once_on_the_later_weight(patient, send):
    monday, wednesday = send(("mon", 80.0, 3), ("wed", 82.5, 1))
    alert = Alert.objects.get(patient=patient)
    assert alert.colour == "red"
    assert (monday.colour, wednesday.colour) == ("green", "red")
    assert wednesday.reason == "Vekt 82,5 kg – økning 2,5 kg på 3 dager (rød ved 2 kg)"
    assert list(Reading.objects.filter(alert_id=alert.pk).values_list("id", flat=True)) == [wednesday.id]
    assert AlertEvent.objects.filter(alert=alert).count() == 1


def test_weights_arriving_in_order_alert_on_the_later_weight_as_before(patient, send):
    (monday,) = send(("mon", 80.0, 3))
    (wednesday,) = send(("wed", 82.5, 1))
    alert = Alert.objects.get(patient=patient)
    assert (monday.colour, wednesday.colour, alert.colour) == ("green", "red", "red")
    assert alert.reason == "Vekt 82,5 kg – økning 2,5 kg på 3 dager (rød ved 2 kg)"
    assert list(Reading.objects.filter(alert_id=alert.pk).values_list("id", flat=True)) == [wednesday.id]


def test_a_late_weight_outside_the_rules_days_or_below_its_gain_stays_green(patient, send):
    send(("wed", 82.5, 1))
    (long_before,) = send(("old", 80.0, 5))  # four days before: outside the 3 days
    (small_gain,) = send(("tue", 81.0, 2))  # 1,5 kg
    assert (long_before.colour, small_gain.colour) == ("green", "green")
    assert not Alert.objects.exists()


def test_a_late_weight_does_not_alert_again_for_a_gain_already_red(patient, send):
    send(("sun", 80.0, 3.5), ("wed", 82.5, 1))  # Wednesday is red against Sunday
    alert = Alert.objects.get(patient=patient)
    (monday,) = send(("mon", 80.0, 3))
    assert monday.colour == "green", "Wednesday's gain has had its alert"
    assert AlertEvent.objects.filter(alert=alert).count() == 1
