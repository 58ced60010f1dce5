"""A resent reading or answer whose stored row is still unscored (its scoring task died with a worker
or the broker) is queued for scoring again and still answers "duplicate"; a scored one queues nothing,
and scoring it again scores nothing twice. What is queued is read from a private queue on the real Redis."""

import base64
import datetime
import json
import uuid

import pytest
import redis
from django.utils import timezone

from measurements.models import Answer, Reading
from measurements.services import _urgent_key, urgent_take
from triage import services as triage
from triage.tasks import score_readings


@pytest.fixture
def queued(settings):
    """→ a function returning [(task name, ids)] sent to this test's own queue since the last call."""
    from dho.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    client = redis.Redis.from_url(settings.REDIS_URL)

    def taken() -> list[tuple[str, list[int]]]:
        messages = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
        client.delete(queue)
        return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0][0]) for m in messages]

    yield taken
    client.delete(queue, *(_urgent_key(kind) for kind in ("reading", "answer")))  # while the queue is this test's
    app.conf.task_default_queue = previous


# A resend is the same item again: the same external id and the same measured time (a reused id at
# another time is a new reading, docs/readings-and-fhir.md).
AT = timezone.localtime() - datetime.timedelta(minutes=1)


def _reading(patient, ext, at=AT):
    return {"external_id": ext, "patient_id": str(patient.pk), "type": "spo2", "value": 93, "unit": "%",
            "measured_at": at.isoformat()}  # fmt: skip


def _answer(patient, ext, at=AT):
    return {"external_id": ext, "patient_id": str(patient.pk), "questionnaire": "daily_symptoms",
            "answers": {"more_breathless": "no"}, "answered_at": at.isoformat()}  # fmt: skip


def _post(gateway, capture, path, key, *items):
    with capture(execute=True):  # the queueing runs after the commit, as in production
        response = gateway.post(path, {key: list(items)})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_resent_unscored_reading_is_queued_again_and_a_scored_one_is_not(
    world, gateway, queued, django_capture_on_commit_callbacks
):
    readings = ("/api/v1/readings", "readings")
    first = _post(gateway, django_capture_on_commit_callbacks, *readings, _reading(world.p.gjerdrum, "a"))
    assert queued() == [("triage.score_readings", [first[0]["id"]])]

    # Its task is lost (a worker killed before it scored); the gateway sends it again, with a new one.
    again = _post(gateway, django_capture_on_commit_callbacks, *readings, _reading(world.p.gjerdrum, "a"),
                  _reading(world.p.gjerdrum, "b"))  # fmt: skip
    assert [r["status"] for r in again] == ["duplicate", "created"]
    assert again[0]["id"] == first[0]["id"]
    assert queued() == [("triage.score_readings", [again[1]["id"], first[0]["id"]])]  # one task, the new first

    assert triage.readings_score([first[0]["id"], again[1]["id"]]) == 2
    assert triage.readings_score([first[0]["id"], again[1]["id"]]) == 0, "nothing is scored twice"
    scored_at = Reading.objects.get(pk=first[0]["id"]).scored_at

    once_more = _post(gateway, django_capture_on_commit_callbacks, *readings, _reading(world.p.gjerdrum, "a"))
    assert [r["status"] for r in once_more] == ["duplicate"]
    assert queued() == [], "a scored duplicate queues nothing"
    assert Reading.objects.get(pk=first[0]["id"]).scored_at == scored_at
    assert Reading.objects.filter(external_id="a").count() == 1


def test_a_resent_unscored_answer_is_queued_again(world, gateway, queued, django_capture_on_commit_callbacks):
    answers = ("/api/v1/answers", "answers")
    first = _post(gateway, django_capture_on_commit_callbacks, *answers, _answer(world.p.gjerdrum, "q"))
    assert first[0]["status"] == "created", first
    queued()
    again = _post(gateway, django_capture_on_commit_callbacks, *answers, _answer(world.p.gjerdrum, "q"))
    assert again[0]["status"] == "duplicate"
    assert queued() == [("triage.score_answers", [first[0]["id"]])]
    assert Answer.objects.filter(external_id="q").count() == 1


def test_urgent_readings_wait_in_a_set_that_the_next_task_scores_at_once(
    world, gateway, queued, django_capture_on_commit_callbacks
):
    """Single readings sent one after another are one task's work: the first task to run takes the
    others' ids too (measurements.services.urgent_take); their own tasks then find nothing to do."""
    readings = ("/api/v1/readings", "readings")
    a = _post(gateway, django_capture_on_commit_callbacks, *readings, _reading(world.p.gjerdrum, "a"))[0]["id"]
    b = _post(gateway, django_capture_on_commit_callbacks, *readings, _reading(world.p.gjerdrum, "b"))[0]["id"]
    assert sorted(queued()) == [("triage.score_readings", [a]), ("triage.score_readings", [b])]  # each its own task too

    assert score_readings([a]) == 2, "the first task scores both"
    assert Reading.objects.filter(pk__in=[a, b], scored_at__isnull=True).count() == 0
    assert score_readings([b]) == 0, "nothing is scored twice"
    assert urgent_take("reading") == [], "each id is taken once"

    batch = [_reading(world.p.gjerdrum, f"bulk-{n}") for n in range(21)]  # more than URGENT_AT_MOST
    _post(gateway, django_capture_on_commit_callbacks, *readings, *batch)
    assert urgent_take("reading") == [], "a batch waits for its own tasks, at its priority"


def test_each_task_names_the_time_span_of_its_readings_and_scoring_reads_by_it(
    world, gateway, settings, django_capture_on_commit_callbacks
):
    """The queued task carries its readings' earliest and latest time (measurements.services._between),
    so the claim reads only those months' partitions; the urgent ids other tasks queued are found by
    id, of any time. A row outside the span given is not claimed by it (the span is the task's own rows')."""
    from dho.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    previous, app.conf.task_default_queue = app.conf.task_default_queue, queue
    client = redis.Redis.from_url(settings.REDIS_URL)
    early, late = AT - datetime.timedelta(days=20), AT
    try:
        stored = _post(gateway, django_capture_on_commit_callbacks, "/api/v1/readings", "readings",
                       _reading(world.p.gjerdrum, "x", late), _reading(world.p.gjerdrum, "y", early))  # fmt: skip
        [message] = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    finally:
        client.delete(queue, _urgent_key("reading"))
        app.conf.task_default_queue = previous
    args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    ids = [r["id"] for r in stored]
    assert args == [ids]
    assert [datetime.datetime.fromisoformat(t) for t in kwargs["between"]] == [early, late]
    other = _post(gateway, django_capture_on_commit_callbacks, "/api/v1/readings", "readings",
                  _reading(world.p.nannestad, "z"))[0]["id"]  # fmt: skip
    before_both = (early - datetime.timedelta(days=2), early - datetime.timedelta(days=1))
    assert triage.readings_score(ids, between=before_both) == 0  # outside the span given: not claimed by it
    assert triage.readings_score(ids, between=(early, late), more=[other, ids[0]]) == 3
    assert not Reading.objects.filter(pk__in=[*ids, other], scored_at__isnull=True).exists()
