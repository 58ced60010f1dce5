"""Questionnaire answers are scored by the plan's rules; silence opens yellow alerts that close
themselves when data arrives; paused patients get none."""

import datetime
import itertools

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from ebp import services as ebp
from measurements.models import Answer
from measurements.services import answers_ingest, integration_create, readings_ingest
from patients.models import Patient
from tenants import rls
from tenants.models import Municipality
from triage import services as triage
from triage.models import Alert
from triage.services import silence
from triage.tasks import silence_check

PLAN = {
    "schedule": {"spo2": {"frequency": "daily"}, "temperature": {"frequency": "on_symptoms"}},
    "thresholds": {"spo2": {"value": {"red_below": 88, "yellow_below": 92}}},
    "questionnaires": {
        "daily_symptoms": [
            {"code": "more_breathless", "text": "Er du mer tungpustet enn vanlig?", "yellow_if": "yes"},
            {"code": "breathless_at_rest", "text": "Er du tungpustet i hvile?", "red_if": "yes"},
        ],
        "cat": {"yellow_at": 10, "red_at": 21},
    },
}


@pytest.fixture
def planned(world):
    patient = world.p.gjerdrum
    draft = ebp.draft_start(patient=patient, user=world.u.nurse, content=PLAN)
    ebp.draft_submit(version=draft, user=world.u.nurse)
    approved = ebp.version_approve(version=draft, user=world.u.gp)
    integration, token = integration_create(centre=world.centres.ovre, name="gw")
    return type("Planned", (), {"patient": patient, "integration": integration, "token": token, "version": approved})


def _answer(patient, ext, questionnaire="daily_symptoms", minutes_ago=1, **fields):
    at = timezone.localtime() - datetime.timedelta(minutes=minutes_ago)
    return {"external_id": ext, "patient_id": str(patient.pk), "questionnaire": questionnaire,
            "answered_at": at.isoformat(), **fields}  # fmt: skip


def test_answers_are_posted_validated_and_scored_by_the_plans_rules(planned):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {planned.token}")
    body = client.post(
        "/api/v1/answers",
        {
            "answers": [
                _answer(planned.patient, "a1", answers={"more_breathless": "yes", "breathless_at_rest": "no"}),
                _answer(planned.patient, "a2", questionnaire="cat", items=[3, 3, 3, 3, 3, 3, 3, 2]),
                _answer(planned.patient, "a3", questionnaire="cat", items=[1, 2]),
                _answer(planned.patient, "a4", answers={"more_breathless": "kanskje"}),
            ]
        },
        content_type="application/json",
    ).json()
    assert [r["status"] for r in body["results"]] == ["created", "created", "rejected", "rejected"]
    assert body["results"][2]["errors"] == [{"field": "items", "message": "CAT har 8 spørsmål; fikk 2 svar"}]
    assert body["results"][3]["errors"][0]["field"] == "answers.more_breathless"
    assert triage.answers_score([r["id"] for r in body["results"][:2]]) == 2
    daily, cat = Answer.objects.get(external_id="a1"), Answer.objects.get(external_id="a2")
    assert (daily.colour, daily.reason) == ("yellow", "«Er du mer tungpustet enn vanlig?» – ja")
    assert (cat.total, cat.colour, cat.reason) == (23, "red", "CAT 23 poeng – rød fra 21")
    alert = Alert.objects.get()
    assert (alert.kind, alert.colour) == ("deviating_answer", "red")
    assert set(Answer.objects.filter(alert_id=alert.pk).values_list("external_id", flat=True)) == {"a1", "a2"}


def test_without_an_approved_plan_the_centre_defaults_apply_and_say_so(world):
    integration, _ = integration_create(centre=world.centres.ovre, name="gw")
    tove_like = world.p.nannestad  # no plan
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    result = readings_ingest(
        integration=integration,
        items=[
            {
                "external_id": "x",
                "patient_id": str(tove_like.pk),
                "type": "spo2",
                "value": 89,
                "unit": "%",
                "measured_at": at,
            }
        ],
    )
    triage.readings_score([result[0].id])
    alert = Alert.objects.get()
    assert alert.colour == "red" and alert.without_plan  # default: red under 90
    assert alert.reason == "SpO2 89 % – rød under 90 (ingen godkjent plan)"


def test_silence_opens_yellow_alerts_and_data_closes_them(planned, world):
    approved = planned.version.decided_at
    later = approved + datetime.timedelta(days=2)
    opened = triage.silence_alerts_open(now=later)
    kinds = set(Alert.objects.filter(patient=planned.patient).values_list("kind", "subject"))
    assert kinds == {
        ("missing_measurement", "spo2"),  # daily; temperature is only on symptoms
        ("missing_answer", "daily_symptoms"),
        # CAT is weekly: not missing after two days; inactivity (3 days by default) not yet either
    }
    assert opened == 2
    assert all(a.colour == "yellow" for a in Alert.objects.all())
    # Running the check again opens nothing new.
    triage.silence_alerts_open(now=later)
    assert Alert.objects.filter(status="open").count() == 2

    # A reading arrives: the missing-measurement alert closes itself, the missing answer stays.
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    stored = readings_ingest(
        integration=planned.integration,
        items=[
            {
                "external_id": "s",
                "patient_id": str(planned.patient.pk),
                "type": "spo2",
                "value": 95,
                "unit": "%",
                "measured_at": at,
            }
        ],
    )
    triage.readings_score([stored[0].id])
    still_open = set(Alert.objects.filter(status="open").values_list("kind", flat=True))
    assert still_open == {"missing_answer"}


def test_an_inactive_patient_gets_an_alert_and_a_paused_one_none(planned, world):
    world.p.nannestad.status = "paused"
    world.p.nannestad.save()
    in_five_days = timezone.now() + datetime.timedelta(days=5)
    triage.silence_alerts_open(now=in_five_days)
    inactive = Alert.objects.filter(kind="inactive_patient")
    assert world.p.nannestad.pk not in set(inactive.values_list("patient_id", flat=True))
    assert world.p.gjerdrum.pk in set(inactive.values_list("patient_id", flat=True))
    assert not Alert.objects.filter(patient=world.p.nannestad).exists()
    # Any data at all makes the patient active again.
    answers_ingest(
        integration=planned.integration, items=[_answer(planned.patient, "z", answers={"more_breathless": "no"})]
    )
    triage.answers_score(Answer.objects.values_list("id", flat=True))
    assert not Alert.objects.filter(patient=planned.patient, kind="inactive_patient", status="open").exists()


def test_a_pause_that_ran_out_without_a_resume_is_checked_for_silence_from_the_day_after(planned, world):
    patient = planned.patient  # spo2 daily, daily symptoms and CAT in the plan
    now = planned.version.decided_at + datetime.timedelta(days=20)
    today = timezone.localdate(now)

    def alerts_after_pause_until(until, at):
        patient.status, patient.status_until = "paused", until
        patient.save()
        triage.silence_alerts_open(now=at)
        return dict(Alert.objects.filter(patient=patient, status="open").values_list("kind", "reason"))

    # «Pause til» today: the pause still runs, nothing is missed
    assert alerts_after_pause_until(today, now) == {}
    # ran out yesterday: the patient is expected again from midnight, and one hour on nothing is late yet
    one_in_the_night = timezone.make_aware(datetime.datetime.combine(today, datetime.time(1)))
    assert alerts_after_pause_until(today - datetime.timedelta(days=1), one_in_the_night) == {}
    # ran out ten days ago and nobody resumed the patient: missed like an active patient, counted
    # from the day after the pause, and the reason says why a paused patient is on the list
    until = today - datetime.timedelta(days=10)
    missed = alerts_after_pause_until(until, now)
    note = f"(pausen til {until:%d.%m.%Y} er utløpt)"
    assert set(missed) == {"missing_measurement", "missing_answer", "inactive_patient"}
    assert all(reason.endswith(note) for reason in missed.values())
    assert missed["inactive_patient"] == f"Ingen målinger eller svar på 9 dager {note}"


def _open_alerts_seen_by_another_connection() -> int:
    """What a nurse's request or a scoring task sees now: only what has been committed."""
    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            everywhere = rls._literal(Municipality.objects.values_list("pk", flat=True))
            cursor.execute("SELECT set_config(%s, %s, true)", [rls.SCOPE_SETTING, everywhere])
            cursor.execute("SELECT count(*) FROM triage_alert WHERE status = 'open'")
            return cursor.fetchone()[0]
    finally:
        other.rollback()
        other.close()


def test_the_silence_check_commits_each_centre_before_it_checks_the_next(transactional_db, world, monkeypatch):
    # Everyone silent for five days: each centre's check opens «Inaktiv pasient» alerts.
    Patient.objects.update(created_at=timezone.now() - datetime.timedelta(days=5))
    seen_before, found = [], []
    check = silence._check_municipalities

    def spied(municipality_ids, rules, now):
        seen_before.append(_open_alerts_seen_by_another_connection())
        found.append(check(municipality_ids, rules, now))
        return found[-1]

    monkeypatch.setattr(silence, "_check_municipalities", spied)
    assert silence_check() == sum(found)  # the Celery task itself, as beat runs it
    assert len(found) >= 2 and sum(found[:-1]) > 0, "the world has centres with silent patients before the last"
    # each centre's alerts are committed (and their locks let go) before the next centre's check starts
    assert seen_before == list(itertools.accumulate([0, *found[:-1]]))
    assert _open_alerts_seen_by_another_connection() == sum(found)
