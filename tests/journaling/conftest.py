"""Deliveries for the pages and the API without the stand-ins: a Gjerdrum route that is never called
(nothing is queued in a test that does not commit), a handled alert's note and a routine contact,
each with its delivery row, put in the state a test needs."""

import datetime
import uuid

import pytest
from django.utils import timezone

from journaling.models import Delivery, Route, RouteKind
from triage import services as triage
from triage.models import Alert, Contact, JournalNote

NOTE = "Ringte pasienten. Startet reservekur etter planen."


@pytest.fixture
def gjerdrum_route(world):
    return Route.objects.create(
        municipality=world.m.gjerdrum, kind=RouteKind.JFT, orgnr="312229544", base_url="https://jft.invalid",
        client_id="dho-demo", key_reference="/run/secrets/helseid.json",
    )  # fmt: skip


def open_alert(patient, reason="SpO2 86 % – rød under 88") -> Alert:
    at = timezone.now() - datetime.timedelta(minutes=5)
    return Alert.objects.create(patient=patient, municipality=patient.municipality, kind="out_of_range",
                                colour="red", reason=reason, opened_at=at, updated_at=at)  # fmt: skip


def handled_note(world, patient=None) -> JournalNote:
    alert = open_alert(patient or world.p.gjerdrum)
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_reached", "advised_ebp"], note=NOTE)
    return JournalNote.objects.get(alert=alert)


def routine_contact(world, patient=None) -> Contact:
    return triage.contact_record(patient=patient or world.p.gjerdrum, user=world.u.nurse, kind="routine",
                                 actions=["called_reached"], note="Alt vel.")  # fmt: skip


def delivery_in(delivery: Delivery, state: str, **fields) -> Delivery:
    """The row moved to `state` as the worker would leave it (the times it would have set)."""
    now = timezone.now()
    values = {"state": state, **fields}
    if state in ("sent", "registered", "read", "journaled"):
        values.setdefault("sent_at", now - datetime.timedelta(minutes=4))
    if state in ("registered", "read", "journaled"):
        values.setdefault("registered_at", now - datetime.timedelta(minutes=3))
    if state in ("read", "journaled"):
        values.setdefault("read_at", now - datetime.timedelta(minutes=2))
    if state == "journaled":
        values.setdefault("journaled_at", now - datetime.timedelta(minutes=1))
    Delivery.objects.filter(pk=delivery.pk).update(**values)
    delivery.refresh_from_db()
    return delivery


def bare_delivery(world, patient, state="dead", **fields) -> Delivery:
    """A delivery of a routine contact written straight into the outbox (no route needed)."""
    contact = Contact.objects.create(patient=patient, municipality_id=patient.municipality_id, kind="routine",
                                     actions=["called_reached"], by=world.u.nurse)  # fmt: skip
    return Delivery.objects.create(municipality_id=patient.municipality_id, patient=patient, contact=contact,
                                   bundle_id=uuid.uuid4(), transport=RouteKind.JFT, state=state,
                                   **fields)  # fmt: skip
