"""Celery tasks: thin wrappers over triage.services, each in a named system scope (tenants/rls.py);
the silence check's service declares one per centre itself.
No countdown/eta on scoring: with Redis as broker a delayed message outlives a
killed worker only until the visibility timeout."""

import datetime
import logging

from celery import shared_task

from measurements.models import Answer, Reading
from measurements.services import BULK_PRIORITY, urgent_take
from tenants.rls import system_scope
from triage import services

log = logging.getLogger(__name__)
CHUNK = 1000


def _period(between: list[str] | None) -> tuple | None:
    return (
        (datetime.datetime.fromisoformat(between[0]), datetime.datetime.fromisoformat(between[1])) if between else None
    )


@shared_task(name="triage.score_readings")
def score_readings(reading_ids: list[int], between: list[str] | None = None) -> int:
    # With the urgent readings queued since (measurements.services.urgent_take): one transaction for
    # what would be many tasks of one reading each. `between`: the earliest and latest time of the
    # task's own readings (measurements.services.enqueue_scoring); none from the sweeper.
    urgent = urgent_take("reading")
    with system_scope("triage.score_readings"):
        return services.readings_score(reading_ids, between=_period(between), more=urgent)


@shared_task(name="triage.score_answers")
def score_answers(answer_ids: list[int], between: list[str] | None = None) -> int:
    urgent = urgent_take("answer")
    with system_scope("triage.score_answers"):
        return services.answers_score(answer_ids, between=_period(between), more=urgent)


@shared_task(name="triage.sweep_unscored")
def sweep_unscored(older_than_seconds: int = int(services.SWEEP_AFTER.total_seconds())) -> int:
    """Re-queue what is still unscored after two minutes: a lost message or a killed worker."""
    with system_scope("triage.sweep_unscored"):
        queued = _sweep(older_than_seconds)
    if queued:
        log.warning("Sweeperen la %s uvurderte målinger/svar i kø på nytt", queued)
    return queued


def _sweep(older_than_seconds: int) -> int:
    queued = 0
    for model, task in ((Reading, score_readings), (Answer, score_answers)):
        ids = services.unscored_ids(model, datetime.timedelta(seconds=older_than_seconds))
        for start in range(0, len(ids), CHUNK):
            # Behind what gateways send now (measurements.services.enqueue_scoring): these have waited
            # two minutes already, a new red reading has not.
            task.apply_async(args=[ids[start : start + CHUNK]], priority=BULK_PRIORITY)
        queued += len(ids)
    return queued


@shared_task(name="triage.silence_check")
def silence_check() -> int:
    """Open yellow alerts for missing measurements, missing answers and inactive patients. No scope
    around it: the service runs each centre in a scope (a transaction) of its own."""
    return services.silence_alerts_open()
