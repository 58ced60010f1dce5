"""Store, then score, with a real worker and a real broker: alerts open and rise, nothing is stored
or alerted twice, a broker outage and a killed worker lose nothing."""

import datetime
import os
import signal
import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from ebp import services as ebp
from measurements.models import Reading
from measurements.services import integration_create, readings_ingest
from tenants import rls
from triage import services as triage
from triage.models import Alert
from triage.tasks import score_readings, sweep_unscored

PLAN = {"thresholds": {"spo2": {"value": {"red_below": 88, "yellow_below": 92}}}}


def wait_for(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def setup(world):
    patient = world.p.gjerdrum
    draft = ebp.draft_start(patient=patient, user=world.u.nurse, content=PLAN)
    ebp.draft_submit(version=draft, user=world.u.nurse)
    ebp.version_approve(version=draft, user=world.u.gp)
    integration, token = integration_create(centre=world.centres.ovre, name="gw")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(*items):
        response = client.post("/api/v1/readings", {"readings": list(items)}, content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()

    return type("Setup", (), {"patient": patient, "integration": integration, "post": staticmethod(post)})


def spo2(patient, ext, value, minutes_ago=1):
    at = timezone.localtime() - datetime.timedelta(minutes=minutes_ago)
    return {"external_id": ext, "patient_id": str(patient.pk), "type": "spo2", "value": value, "unit": "%",
            "measured_at": at.isoformat()}  # fmt: skip


def scored(*ids):
    return lambda: Reading.objects.filter(pk__in=ids, scored_at__isnull=False).count() == len(ids)


def test_a_red_reading_opens_a_red_alert_and_a_green_one_none(setup, celery_worker, world, login):
    green = setup.post(spo2(setup.patient, "g1", 95))["results"][0]["id"]
    wait_for(scored(green), what="the green reading to be scored")
    assert Reading.objects.get(pk=green).colour == "green"
    assert not Alert.objects.exists()

    red = setup.post(spo2(setup.patient, "r1", 86))["results"][0]["id"]
    wait_for(lambda: Alert.objects.exists(), what="an alert")
    alert = Alert.objects.get()
    assert (alert.colour, alert.kind, alert.reason) == ("red", "out_of_range", "SpO2 86 % – rød under 88")
    reading = Reading.objects.get(pk=red)
    assert (reading.colour, reading.alert_id) == ("red", alert.pk)
    # The alert is visible in the scoped API, and only there.
    listed = login(world.u.nurse).get("/api/v1/alerts/?status=open").json()["results"]
    assert [(a["id"], a["colour"], a["readings"][0]["id"]) for a in listed] == [(str(alert.pk), "red", red)]
    assert login(world.u.nurse_agder).get("/api/v1/alerts/?status=open").json()["results"] == []


def test_a_red_after_a_yellow_raises_the_open_alert(setup, celery_worker):
    yellow = setup.post(spo2(setup.patient, "y1", 90, minutes_ago=3))["results"][0]["id"]
    wait_for(scored(yellow))
    assert Alert.objects.get().colour == "yellow"
    red = setup.post(spo2(setup.patient, "r1", 85))["results"][0]["id"]
    wait_for(scored(red))
    alert = Alert.objects.get()
    assert alert.colour == "red" and alert.raised_at is not None
    assert set(Reading.objects.filter(alert_id=alert.pk).values_list("id", flat=True)) == {yellow, red}


def test_the_same_batch_twice_stores_nothing_new_and_raises_no_second_alert(setup, celery_worker):
    batch = [spo2(setup.patient, "a", 86), spo2(setup.patient, "b", 91)]
    first = setup.post(*batch)
    wait_for(scored(*(r["id"] for r in first["results"])))
    second = setup.post(*batch)
    assert [r["status"] for r in second["results"]] == ["duplicate", "duplicate"]
    time.sleep(1)  # give a (wrongly) queued second task the time to do harm
    assert Reading.objects.count() == 2
    assert Alert.objects.count() == 1


def test_two_concurrent_batches_for_one_patient_leave_one_open_alert(transactional_db, setup):
    for round_ in range(3):
        first = readings_ingest(integration=setup.integration, items=[spo2(setup.patient, f"{round_}-x", 86)])
        second = readings_ingest(integration=setup.integration, items=[spo2(setup.patient, f"{round_}-y", 87)])
        barrier = threading.Barrier(2)

        def score(ids, barrier=barrier):
            try:
                barrier.wait()
                score_readings(ids)  # the task itself, in its system scope (a thread has none)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=score, args=([r.id],)) for r in (first[0], second[0])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert Alert.objects.filter(status="open").count() == 1
        assert Reading.objects.filter(alert_id__isnull=False).count() == 2 * (round_ + 1)


def test_a_reading_scored_while_a_nurse_closes_its_alert_opens_a_new_alert_at_once(transactional_db, setup, world):
    # The interleaving, step by step: the nurse's step locks the open alert, scoring's insert skips
    # it as a conflict and waits for the lock in its raise, the nurse closes it and commits.
    first = readings_ingest(integration=setup.integration, items=[spo2(setup.patient, "first", 90, 5)])
    triage.readings_score([first[0].id])
    handled = Alert.objects.get()
    nurse = connections.create_connection("default")
    nurse.set_autocommit(False)
    with nurse.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [rls.SCOPE_SETTING, f"{{{handled.municipality_id}}}"])
        cursor.execute("SELECT id FROM triage_alert WHERE id = %s FOR UPDATE", [handled.pk])
    red = readings_ingest(integration=setup.integration, items=[spo2(setup.patient, "red", 85)])[0]
    other = readings_ingest(integration=setup.integration, items=[spo2(world.p.nannestad, "other", 86)])[0]
    outcome = {}

    def score():
        try:
            outcome["scored"] = score_readings([red.id, other.id])
        except Exception as error:  # the assertion below shows it
            outcome["error"] = repr(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=score)
    thread.start()
    try:
        wait_for(_waiting_on_lock, what="scoring to wait for the nurse's lock on the alert")
        with nurse.cursor() as cursor:
            cursor.execute(
                "UPDATE triage_alert SET status = 'closed', closed_at = now(), closed_reason = 'Håndtert'"
                " WHERE id = %s",
                [handled.pk],
            )
        nurse.commit()
    finally:
        nurse.close()
        thread.join(timeout=30)
    assert outcome == {"scored": 2}, "the scoring task must not fail (nor take the other patient down with it)"
    new = Alert.objects.get(patient=setup.patient, status="open")
    assert new.pk != handled.pk and new.colour == "red"
    assert Reading.objects.get(pk=red.id).alert_id == new.pk
    assert Reading.objects.get(pk=other.id).alert_id == Alert.objects.get(patient=world.p.nannestad).pk
    assert list(new.events.values_list("kind", flat=True)) == ["opened"]


def test_with_redis_stopped_readings_are_stored_and_the_sweeper_scores_them_later(setup, private_redis, worker_factory):
    private_redis.stop()
    started = time.monotonic()
    body = setup.post(spo2(setup.patient, "while-down", 86))
    assert time.monotonic() - started < 5, "a dead broker must not hold up the gateway"
    reading = Reading.objects.get(pk=body["results"][0]["id"])
    assert reading.scored_at is None and not Alert.objects.exists()

    private_redis.start()
    worker_factory(private_redis.url)
    assert sweep_unscored(older_than_seconds=0) == 1
    wait_for(scored(reading.pk), what="the sweeper's task to score the reading")
    assert Alert.objects.get().colour == "red"


def test_a_worker_killed_during_a_task_leaves_nothing_unscored_and_nothing_scored_twice(setup, worker_factory):
    # Hold a lock the scoring task needs, so the worker is killed in the middle of its transaction.
    existing = readings_ingest(integration=setup.integration, items=[spo2(setup.patient, "first", 90, 5)])
    triage.readings_score([existing[0].id])
    alert = Alert.objects.get()
    locker = connections.create_connection("default")
    locker.set_autocommit(False)
    with locker.cursor() as cursor:
        # A connection of its own has no scope: this transaction's is the alert's municipality.
        cursor.execute("SELECT set_config(%s, %s, true)", [rls.SCOPE_SETTING, f"{{{alert.municipality_id}}}"])
        cursor.execute("SELECT id FROM triage_alert WHERE id = %s FOR UPDATE", [alert.pk])
        assert cursor.fetchone() == (alert.pk,)
    worker = worker_factory()
    body = setup.post(spo2(setup.patient, "during-crash", 85))
    reading_id = body["results"][0]["id"]
    wait_for(lambda: _waiting_on_lock(), what="the worker to block inside its scoring transaction")
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=10)
    locker.rollback()
    locker.close()
    reading = Reading.objects.get(pk=reading_id)
    assert reading.scored_at is None, "the killed task's transaction must roll back"

    worker_factory()
    assert sweep_unscored(older_than_seconds=0) == 1
    wait_for(scored(reading_id), what="the reading to be scored after the crash")
    reading.refresh_from_db()
    assert (reading.colour, reading.alert_id) == ("red", alert.pk)
    assert triage.readings_score([reading_id]) == 0  # scoring again changes nothing
    assert Alert.objects.count() == 1
    assert Alert.objects.get().colour == "red"


def _waiting_on_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0
