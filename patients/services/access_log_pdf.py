"""Innsyn i logg as a letter to the patient (PDF), made in the background: weasyprint takes some
12–35 ms a row, so a long period (up to ACCESS_LOG_PDF_ROWS rows) takes minutes, which a request
must not hold. `access_log_pdf_start` (the page's «Lag PDF til pasienten») records the job in the
cache and queues `patients.make_access_log_pdf`; the task calls `access_log_pdf_make`, which keeps the
PDF in the cache for ACCESS_LOG_PDF_TTL only (it holds patient data), under a random job id bound to
the user who asked and the patient. `access_log_pdf_job` gives the job back to that user only.
The export is audited when the PDF is downloaded (the view), not here: that is when it leaves."""

from __future__ import annotations

import datetime
import logging
import secrets
from dataclasses import asdict, dataclass

from celery import current_app
from django.core.cache import cache
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from patients.models import Patient
from patients.pdf import norwegian_date
from tenants.pdf import pdf_from_html
from tenants.selectors import AccessLogPeriod, access_log, access_rows

log = logging.getLogger(__name__)

ACCESS_LOG_PDF_ROWS = 5000  # a letter stays printable; a longer log asks for a shorter period
ACCESS_LOG_PDF_TTL = 15 * 60  # seconds the job and its PDF are kept (patient data)
ACCESS_LOG_PDF_STALE = 10 * 60  # a job not done after this is taken as lost (a worker died)
MAKING_LOCK = "patients:access-log-pdf:making"  # the job being made now (one at a time)
WAIT_SECONDS = 5  # a job behind another is queued again after this
# weasyprint reports no progress of its own, so the page estimates it from the rows: a row took 12–35
# ms to lay out (the upper end here, so the bar rather lags than waits at its end).
ROW_SECONDS = 0.035
PROGRESS_MOST = 95  # per cent the estimate shows at most before the letter is ready


class JobState:
    WAITING = "waiting"  # queued, no worker has taken it yet
    MAKING = "making"
    READY = "ready"
    FAILED = "failed"


@dataclass
class AccessLogPdfJob:
    id: str
    user_id: int
    patient_id: str
    start: str  # the period, ISO dates
    end: str
    rows: int  # how many rows the letter will have (at most ACCESS_LOG_PDF_ROWS)
    truncated: bool
    state: str
    asked_at: str  # ISO datetime
    started_at: str = ""  # ISO datetime a worker began making it (empty while it waits)

    @property
    def period(self) -> AccessLogPeriod:
        return AccessLogPeriod(datetime.date.fromisoformat(self.start), datetime.date.fromisoformat(self.end))

    @property
    def stale(self) -> bool:
        """Not done long after it was asked for: the worker that had it is gone."""
        asked = datetime.datetime.fromisoformat(self.asked_at)
        waited = (timezone.now() - asked).total_seconds()
        return self.state in (JobState.WAITING, JobState.MAKING) and waited > ACCESS_LOG_PDF_STALE

    @property
    def failed(self) -> bool:
        return self.state == JobState.FAILED or self.stale

    @property
    def ready(self) -> bool:
        return self.state == JobState.READY

    @property
    def expected_seconds(self) -> float:
        return max(2.0, self.rows * ROW_SECONDS)

    def _elapsed(self) -> float:
        return (timezone.now() - datetime.datetime.fromisoformat(self.started_at)).total_seconds()

    @property
    def progress_percent(self) -> int | None:
        """How far the letter has come, estimated from the time since a worker began and its rows (at
        most PROGRESS_MOST until it is ready); None while it waits for a worker."""
        if self.state != JobState.MAKING or not self.started_at:
            return None
        return max(0, min(PROGRESS_MOST, int(100 * self._elapsed() / self.expected_seconds)))

    @property
    def minutes_left(self) -> int:
        """The estimate's minutes left, rounded (0: less than a minute)."""
        if self.progress_percent is None:
            return 0
        left = self.expected_seconds - self._elapsed()
        return round(left / 60) if left >= 60 else 0

    @property
    def filename(self) -> str:
        return f"innsyn-i-logg-{self.end}.pdf"


def _key(job_id: str) -> str:
    return f"access-log-pdf:{job_id}"


def _file_key(job_id: str) -> str:
    return f"access-log-pdf:{job_id}:file"


def _save(job: AccessLogPdfJob) -> None:
    cache.set(_key(job.id), asdict(job), ACCESS_LOG_PDF_TTL)


def _load(job_id: str) -> AccessLogPdfJob | None:
    data = cache.get(_key(job_id)) if job_id else None
    return AccessLogPdfJob(**data) if data else None


def access_log_pdf_start(*, patient: Patient, user, period: AccessLogPeriod) -> AccessLogPdfJob:
    """Record the job and queue it after the request's commit. The caller (the view) has checked that
    the user may see the patient's access log."""
    count = access_log(patient.pk, period)[: ACCESS_LOG_PDF_ROWS + 1].count()
    job = AccessLogPdfJob(
        id=secrets.token_urlsafe(24), user_id=user.pk, patient_id=str(patient.pk),
        start=period.start.isoformat(), end=period.end.isoformat(), rows=min(count, ACCESS_LOG_PDF_ROWS),
        truncated=count > ACCESS_LOG_PDF_ROWS, state=JobState.WAITING, asked_at=timezone.now().isoformat(),
    )  # fmt: skip
    _save(job)
    transaction.on_commit(lambda: _queue(job))
    return job


def _queue(job: AccessLogPdfJob, countdown: int | None = None) -> None:
    """By the task's registered name (the task module imports this one). A broker that cannot be
    reached fails the job, which the status page says, rather than the request."""
    try:
        current_app.send_task("patients.make_access_log_pdf", args=[job.id], retry=False, countdown=countdown)
    except Exception:
        log.exception("access log PDF %s could not be queued", job.id)
        job.state = JobState.FAILED
        _save(job)


def access_log_pdf_job(job_id: str, *, user, patient: Patient) -> AccessLogPdfJob | None:
    """The job, for the user who asked for it about this patient; None for anyone else, for an unknown
    id and for one whose time is up (the same answer: nothing says that a job exists)."""
    job = _load(job_id)
    if job is None or job.user_id != user.pk or job.patient_id != str(patient.pk):
        return None
    return job


def access_log_pdf_file(job: AccessLogPdfJob) -> bytes | None:
    return cache.get(_file_key(job.id)) if job.ready else None


def access_log_pdf_make(job_id: str) -> str:
    """The task's work, in a system scope the task declares: read the period's rows, render the
    letter, keep it. A failure is recorded on the job (the status page says so) and raised."""
    job = _load(job_id)
    if job is None or job.state != JobState.WAITING:
        return job.state if job else "gone"  # expired, or a redelivered message for a job taken
    # One letter at a time in the whole platform: the worker's processes score the readings too, and
    # a reading that should reach a nurse must never wait behind letters. A job that finds another
    # being made goes back in the queue, holding no process meanwhile (its page says «Venter»).
    if not cache.add(MAKING_LOCK, job.id, ACCESS_LOG_PDF_STALE):
        _queue(job, countdown=WAIT_SECONDS)
        return JobState.WAITING
    try:
        return _make(job)
    finally:
        if cache.get(MAKING_LOCK) == job.id:
            cache.delete(MAKING_LOCK)


def _make(job: AccessLogPdfJob) -> str:
    job_id = job.id
    job.state, job.started_at = JobState.MAKING, timezone.now().isoformat()
    _save(job)
    try:
        patient = Patient.objects.get(pk=job.patient_id)
        period = job.period
        events = list(access_log(patient.pk, period)[: ACCESS_LOG_PDF_ROWS + 1])
        context = {
            "patient": patient, "rows": access_rows(events[:ACCESS_LOG_PDF_ROWS]),
            "truncated": len(events) > ACCESS_LOG_PDF_ROWS, "limit": ACCESS_LOG_PDF_ROWS,
            "start": norwegian_date(period.start), "end": norwegian_date(period.end),
            "made": norwegian_date(timezone.localdate()),
        }  # fmt: skip
        pdf = pdf_from_html(render_to_string("patients/access_log_pdf.html", context))
    except Exception:
        log.exception("access log PDF %s failed", job_id)
        job.state = JobState.FAILED
        _save(job)
        raise
    cache.set(_file_key(job.id), pdf, ACCESS_LOG_PDF_TTL)
    job.state = JobState.READY
    _save(job)
    return job.state
